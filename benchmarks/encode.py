"""OTLP trace encoding throughput: spancast native and pure-Python vs opentelemetry-proto, the OTel SDK path and orjson."""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import sys
import time
from functools import partial
from pathlib import Path
from typing import Any, Callable, NamedTuple

if __package__ in (None, ""):  # run as `python benchmarks/encode.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

from spancast.codec import implementation

from benchmarks import baselines
from benchmarks.environment import environment, loadavg, native_build, print_environment
from benchmarks.workloads import WORKLOADS, make_records

BATCHES = (1, 64, 512, 4096)
FORMATS = ("protobuf", "json")
POOL = max(BATCHES)
NATIVE = implementation("native")
PYTHON = implementation("python")


class Contender(NamedTuple):
    key: str
    formats: tuple[str, ...]
    labels: dict[str, str]  # per format, as shown in the table
    includes: str  # what one timed call does
    make: Callable[[str, list, list], Callable[[], bytes]]  # (format, records, sdk spans) -> timed call


def _spancast(module: Any) -> Callable[[str, list, list], Callable[[], bytes]]:
    return lambda fmt, records, spans: partial(module.encode_traces, records, format=fmt)


def _reused(fmt: str, records: list, spans: list) -> Callable[[], bytes]:
    encoder = NATIVE.TraceEncoder(format=fmt)  # built once, outside the timing, as a batcher keeps it

    def run() -> bytes:
        encoder.extend(records)
        return encoder.finish()

    return run


CONTENDERS = (
    Contender(
        "native", FORMATS, {"protobuf": "spancast native", "json": "spancast native"},
        "encode_traces(Generation records): evaluates the gen_ai plan, writes prompt/completion JSON, ids, bytes",
        _spancast(NATIVE),
    ),
    Contender(
        "reuse", FORMATS, {"protobuf": "spancast native, reused enc", "json": "spancast native, reused enc"},
        "(extra) the same native encoding through one TraceEncoder kept across calls: extend(batch) + finish()",
        _reused,
    ),
    Contender(
        "python", FORMATS, {"protobuf": "spancast python twin", "json": "spancast python twin"},
        "the pure-Python twin of the same call (identical bytes); fewer repeats, it is slow",
        _spancast(PYTHON),
    ),
    Contender(
        "proto", FORMATS, {"protobuf": "otel-proto in place", "json": "otel-proto+MessageToJson*"},
        "from Generation records: same attributes (hand-written mirror of the plan), prompt/completion via orjson,"
        " blake2b span id, ExportTraceServiceRequest filled with .add()/setattr, SerializeToString"
        " (json: MessageToJson instead)",
        lambda fmt, records, spans: partial(
            baselines.proto_encode if fmt == "protobuf" else baselines.proto_to_json, records
        ),
    ),
    Contender(
        "sdk", FORMATS, {"protobuf": "otel SDK encode_spans", "json": "otel SDK+MessageToJson*"},
        "PRE-BUILT ReadableSpans (attributes and JSON content strings made outside the timing);"
        " times encode_spans(spans).SerializeToString(), what OTLPSpanExporter does per batch (json: MessageToJson)",
        lambda fmt, records, spans: partial(
            baselines.sdk_encode if fmt == "protobuf" else baselines.sdk_to_json, spans
        ),
    ),
    Contender(
        "orjson", ("json",), {"json": "orjson OTLP dicts"},
        "from Generation records: same attributes, prompt/completion via orjson, OTLP JSON built as dicts"
        " (hex ids, int64 as strings) then orjson.dumps",
        lambda fmt, records, spans: partial(baselines.orjson_encode, records),
    ),
)
BY_KEY = {c.key: c for c in CONTENDERS}


# ---------------------------------------------------------------- sanity checks (not timed)


def _spans_of(data: bytes) -> list:
    request = ExportTraceServiceRequest.FromString(data)
    return [s for rs in request.resource_spans for ss in rs.scope_spans for s in ss.spans]


def _same_spans(ours: list, theirs: list) -> bool:
    """Same attributes, name, trace id, kind, times and status (span ids differ: each derives its own)."""
    fields = ("trace_id", "name", "kind", "start_time_unix_nano", "end_time_unix_nano", "status")
    return len(ours) == len(theirs) and all(
        list(a.attributes) == list(b.attributes) and all(getattr(a, f) == getattr(b, f) for f in fields)
        for a, b in zip(ours, theirs)
    )


def _json_spans(data: bytes) -> list[dict]:
    spans = json.loads(data)["resourceSpans"][0]["scopeSpans"][0]["spans"]
    return [{k: v for k, v in s.items() if k != "spanId"} for s in spans]


def sanity_checks(pools: dict[str, list], sdk: dict[str, list], batches: list[int]) -> dict[str, dict[str, float]]:
    """Assert the encoders agree; return the average encoded bytes/span per workload and format."""
    sizes: dict[str, dict[str, float]] = {}
    for workload, records in pools.items():
        for batch in batches:
            count = len(_spans_of(NATIVE.encode_traces(records[:batch])))
            assert count == batch, f"{workload}: native protobuf of {batch} records parsed to {count} spans"
        sample = records[:64]
        for fmt in FORMATS:
            native, python = NATIVE.encode_traces(sample, format=fmt), PYTHON.encode_traces(sample, format=fmt)
            assert native == python, f"{workload}/{fmt}: native and python twin bytes differ"
        ours = _spans_of(NATIVE.encode_traces(sample))
        assert _same_spans(ours, _spans_of(baselines.proto_encode(sample))), f"{workload}: proto path differs"
        assert _same_spans(ours, _spans_of(baselines.sdk_encode(sdk[workload][:64]))), f"{workload}: SDK differs"
        native_json = _json_spans(NATIVE.encode_traces(sample, format="json"))
        assert native_json == _json_spans(baselines.orjson_encode(sample)), f"{workload}: orjson dicts differ"
        sizes[workload] = {fmt: len(NATIVE.encode_traces(records, format=fmt)) / len(records) for fmt in FORMATS}
    return sizes


# ---------------------------------------------------------------- timing


def _timed(fn: Callable[[], Any], n: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return time.perf_counter_ns() - start


def _iterations(fn: Callable[[], Any], target_ns: int, first_ns: int) -> int:
    """Calls per repeat so that one repeat takes about target_ns; the warm-up call is the first sample."""
    n, elapsed = 1, max(first_ns, 1)
    while elapsed < target_ns // 10 and n < 1 << 24:  # grow n until a tenth of the target is measured
        n = max(n * 2, int(n * (target_ns / 8) / elapsed))
        elapsed = max(_timed(fn, n), 1)
    return max(1, round(n * target_ns / elapsed))


def measure(fn: Callable[[], bytes], batch: int, repeats: int, target_s: float) -> dict[str, Any]:
    start = time.perf_counter_ns()
    out = fn()  # warm-up, and the size of one request
    n = _iterations(fn, int(target_s * 1e9), time.perf_counter_ns() - start)
    per_call: list[float] = []
    for _ in range(repeats):
        gc.collect()  # every contender starts each repeat with the same clean heap; gc stays enabled
        per_call.append(_timed(fn, n) / n)
    rates = [batch * 1e9 / t for t in per_call]
    median = statistics.median(rates)
    return {
        "median_spans_per_s": median,
        "min_spans_per_s": min(rates),
        "max_spans_per_s": max(rates),
        "bytes_per_span": len(out) / batch,
        "mb_per_s": median * len(out) / batch / 1e6,
        "iterations": n,
        "repeats": repeats,
        "per_call_ns": per_call,
    }


# ---------------------------------------------------------------- table


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _ratio(x: float | None) -> str:
    if x is None:
        return "-"
    return f"{x:,.1f}x" if x >= 1 else f"{x:.3f}x"


def print_table(rows: list[dict], workload: str, fmt: str, sizes: dict) -> None:
    cells = [r for r in rows if r["workload"] == workload and r["format"] == fmt]
    if not cells:
        return
    title = f"workload {workload!r}, {fmt}"
    if workload in sizes:
        title += f"  (spancast: {sizes[workload][fmt]:,.0f} B/span)"
    head = ("batch", "contender", "spans/s (median)", "min .. max", "MB/s", "B/span", "vs SDK")
    if fmt == "json":
        head += ("vs orjson",)
    table = [head]
    for r in cells:
        line = (
            str(r["batch"]), r["label"], _n(r["median_spans_per_s"]),
            f"{_n(r['min_spans_per_s'])} .. {_n(r['max_spans_per_s'])}",
            f"{r['mb_per_s']:,.1f}", f"{r['bytes_per_span']:,.0f}", _ratio(r.get("vs_sdk")),
        )
        if fmt == "json":
            line += (_ratio(r.get("vs_orjson")),)
        table.append(line)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    left = {1}  # the contender column reads better left-aligned
    print(f"\n{title}")
    for i, row in enumerate(table):
        print("  " + "  ".join(c.ljust(w) if j in left else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def add_ratios(rows: list[dict]) -> None:
    index = {(r["workload"], r["format"], r["batch"], r["contender"]): r["median_spans_per_s"] for r in rows}
    for r in rows:
        cell = (r["workload"], r["format"], r["batch"])
        sdk, ref = index.get(cell + ("sdk",)), index.get(cell + ("orjson",))
        r["vs_sdk"] = r["median_spans_per_s"] / sdk if sdk else None
        r["vs_orjson"] = r["median_spans_per_s"] / ref if ref and r["format"] == "json" else None


def print_verdict(rows: list[dict]) -> None:
    """The issue's targets are on workload 'full' at batch 512; 'small' is shown for context."""
    cell = {(r["workload"], r["format"], r["batch"], r["contender"]): r for r in rows}
    print("\nissue targets at batch 512 (they are stated for workload 'full'):")
    for workload in ("full", "small"):
        pb, js = cell.get((workload, "protobuf", 512, "native")), cell.get((workload, "json", 512, "native"))
        if pb and pb["vs_sdk"] is not None:
            ok = "met" if pb["vs_sdk"] >= 100 else "NOT met" + (", FAILURE (< 50x)" if pb["vs_sdk"] < 50 else "")
            print(f"  {workload:5}  native protobuf = {pb['vs_sdk']:,.1f}x the SDK path"
                  f" ({_n(pb['median_spans_per_s'])} spans/s)  [target >= 100x: {ok}]")
        if js and js["vs_orjson"] is not None:
            ok = "met" if js["vs_orjson"] >= 10 else "NOT met"
            print(f"  {workload:5}  native JSON = {js['vs_orjson']:,.1f}x orjson on hand-built OTLP dicts"
                  f" ({_n(js['median_spans_per_s'])} spans/s)  [target >= 10x: {ok}]")


# ---------------------------------------------------------------- main


def _list(kind: Callable[[str], Any]) -> Callable[[str], list]:
    return lambda text: [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 short repeats; python twin skips batch 4096 (< ~60 s)")
    p.add_argument("--json", metavar="PATH", help="also write the results (and the environment) as JSON here")
    p.add_argument("--batch", type=_list(int), action="extend", help=f"batch sizes, comma-separated (default {BATCHES})")
    p.add_argument("--workload", type=_list(str), action="extend", help=f"workloads (default {tuple(WORKLOADS)})")
    p.add_argument("--format", type=_list(str), action="extend", help=f"formats (default {FORMATS})")
    p.add_argument("--contender", type=_list(str), action="extend", help=f"contenders (default {tuple(BY_KEY)})")
    p.add_argument("--repeats", type=int, help="timed repeats per cell (default 5, --quick 3)")
    p.add_argument("--seconds", type=float, help="target duration of one repeat (default 0.2, --quick 0.08)")
    args = p.parse_args(argv)
    args.batch = args.batch or list(BATCHES)
    args.workload = args.workload or list(WORKLOADS)
    args.format = args.format or list(FORMATS)
    args.contender = args.contender or list(BY_KEY)
    for name, given, known in (("workload", args.workload, WORKLOADS), ("format", args.format, FORMATS),
                               ("contender", args.contender, BY_KEY)):
        unknown = [x for x in given if x not in known]
        if unknown:
            p.error(f"unknown {name} {unknown}; known: {', '.join(known)}")
    if any(b < 1 or b > POOL for b in args.batch):
        p.error(f"batch sizes must be in 1..{POOL}")
    args.repeats = args.repeats or (3 if args.quick else 5)
    args.seconds = args.seconds or (0.08 if args.quick else 0.2)
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    env = environment(NATIVE)
    print_environment(env, "spancast OTLP trace encoding benchmark")
    began = time.perf_counter()

    pools = {w: make_records(w, POOL) for w in args.workload}
    sdk = {w: baselines.sdk_spans(records) for w, records in pools.items()}
    sizes = sanity_checks(pools, sdk, args.batch)
    print("  checks    ok: native protobuf parses to one span per record; native == python twin bytes;"
          " proto, SDK and orjson contenders carry the same attributes as spancast")
    for w, by_fmt in sizes.items():
        print(f"  workload  {w}: {by_fmt['protobuf']:,.0f} B/span protobuf, {by_fmt['json']:,.0f} B/span OTLP JSON"
              f" (spancast, averaged over {POOL} records)")
    print(f"  timing    median of {args.repeats} repeats of ~{args.seconds}s each (python twin: at most 3, half as long),"
          " gc.collect() before each repeat, gc enabled for all; the same batch is re-encoded every call")
    print("  contenders:")
    for c in CONTENDERS:
        if c.key in args.contender:
            print(f"    {' / '.join(dict.fromkeys(c.labels.values()))}: {c.includes}")
    print("    * proto3 JSON from google.protobuf.json_format (base64 ids, enum names): NOT OTLP JSON")

    gc.collect()
    gc.freeze()  # the record pools and pre-built spans are never collected: keep them out of every gc pass
    rows: list[dict] = []
    for workload in args.workload:
        for fmt in args.format:
            for batch in args.batch:
                records, spans = pools[workload][:batch], sdk[workload][:batch]
                for c in CONTENDERS:
                    if c.key not in args.contender or fmt not in c.formats:
                        continue
                    repeats, seconds = args.repeats, args.seconds
                    if c.key == "python":
                        if args.quick and batch >= 4096:
                            continue
                        repeats, seconds = min(repeats, 3), seconds / 2
                    result = measure(c.make(fmt, records, spans), batch, repeats, seconds)
                    rows.append({"workload": workload, "format": fmt, "batch": batch, "contender": c.key,
                                 "label": c.labels[fmt], **result})
                    print(f"  .. {workload:5} {fmt:8} batch {batch:4} {c.labels[fmt]:26}"
                          f" {_n(result['median_spans_per_s']):>12} spans/s", flush=True)
    add_ratios(rows)
    for workload in args.workload:
        for fmt in args.format:
            print_table(rows, workload, fmt, sizes)
    print_verdict(rows)
    elapsed = time.perf_counter() - began
    env["loadavg_end"] = loadavg()
    if native_build(NATIVE) != env["native_build"]:
        print("\nWARNING: the native extension on disk changed during the run; the figures are for the build"
              " loaded at start (sha256 above), re-run to measure the new one")
    print(f"\ndone in {elapsed:.0f} s (loadavg now {env['loadavg_end']})")
    if args.json:
        doc = {"environment": env, "settings": {k: v for k, v in vars(args).items() if k != "json"},
               "bytes_per_span": sizes, "contenders": {c.key: c.includes for c in CONTENDERS},
               "results": rows, "elapsed_s": elapsed}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
