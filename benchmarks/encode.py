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
from benchmarks.environment import live_native, loadavg, native_build
from benchmarks.workloads import WORKLOADS, make_records

BATCHES = (1, 64, 512, 4096)
FORMATS = ("protobuf", "json")
POOL = max(BATCHES)
NATIVE = live_native()  # None on a pure-Python install: the suite then measures the Python twin alone
PYTHON = implementation("python")
FAST = NATIVE or PYTHON  # what the checks encode with


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
        "the pure-Python twin of the same call (identical bytes); half the time per round, it is slow",
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
    return [{k: v for k, v in s.items() if k not in ("spanId", "parentSpanId")} for s in spans]


def sanity_checks(pools: dict[str, list], sdk: dict[str, list], batches: list[int]) -> dict[str, dict[str, float]]:
    """Assert the encoders agree; return the average encoded bytes/span per workload and format."""
    sizes: dict[str, dict[str, float]] = {}
    for workload, records in pools.items():
        for batch in batches:
            count = len(_spans_of(FAST.encode_traces(records[:batch])))
            # each workload record names its own trace: its root span and its generation span
            assert count == 2 * batch, f"{workload}: protobuf of {batch} records parsed to {count} spans"
        sample = records[:64]
        for fmt in FORMATS if NATIVE is not None else ():
            native, python = NATIVE.encode_traces(sample, format=fmt), PYTHON.encode_traces(sample, format=fmt)
            assert native == python, f"{workload}/{fmt}: native and python twin bytes differ"
        ours = _spans_of(FAST.encode_traces(sample))
        assert _same_spans(ours, _spans_of(baselines.proto_encode(sample))), f"{workload}: proto path differs"
        assert _same_spans(ours, _spans_of(baselines.sdk_encode(sdk[workload][:128]))), f"{workload}: SDK differs"
        native_json = _json_spans(FAST.encode_traces(sample, format="json"))
        assert native_json == _json_spans(baselines.orjson_encode(sample)), f"{workload}: orjson dicts differ"
        sizes[workload] = {fmt: len(FAST.encode_traces(records, format=fmt)) / len(records) for fmt in FORMATS}
    return sizes


# ---------------------------------------------------------------- timing


def _timed(fn: Callable[[], Any], n: int) -> int:
    start = time.perf_counter_ns()
    for _ in range(n):
        fn()
    return time.perf_counter_ns() - start


def _iterations(fn: Callable[[], Any], target_ns: int, first_ns: int) -> int:
    """Calls per round so that one contender's slot takes about target_ns; the warm-up call is the first sample."""
    n, elapsed = 1, max(first_ns, 1)
    while elapsed < target_ns // 10 and n < 1 << 24:  # grow n until a tenth of the target is measured
        n = max(n * 2, int(n * (target_ns / 8) / elapsed))
        elapsed = max(_timed(fn, n), 1)
    return max(1, round(n * target_ns / elapsed))


def measure_cell(fns: dict[str, Callable[[], bytes]], targets: dict[str, float], rounds: int) -> dict[str, Any]:
    """Calibrate every contender once, then `rounds` rounds; each round times every contender once, back to
    back, the order rotated by one per round, so a drift of the machine hits all contenders of a round alike."""
    sizes, iterations = {}, {}
    for key, fn in fns.items():
        start = time.perf_counter_ns()
        out = fn()  # warm-up, and the size of one request
        iterations[key] = _iterations(fn, int(targets[key] * 1e9), time.perf_counter_ns() - start)
        sizes[key] = len(out)
    keys, per_call, orders = list(fns), {key: [] for key in fns}, []
    for r in range(rounds):
        order = keys[r % len(keys):] + keys[: r % len(keys)]
        orders.append(order)
        for key in order:
            gc.collect()  # every slot starts with the same clean heap; gc stays enabled
            per_call[key].append(_timed(fns[key], iterations[key]) / iterations[key])
    return {"sizes": sizes, "iterations": iterations, "per_call_ns": per_call, "orders": orders}


def _spread(values: list[float]) -> dict[str, float]:
    return {"": statistics.median(values), "_min": min(values), "_max": max(values)}


def cell_rows(cell: dict[str, Any], batch: int, rounds: int) -> dict[str, dict[str, Any]]:
    """Per contender: rates over rounds, and per-round ratios against the SDK path and orjson of the same round."""
    per_call = cell["per_call_ns"]
    rows = {}
    for key, times in per_call.items():
        rates = [batch * 1e9 / t for t in times]
        median, size = statistics.median(rates), cell["sizes"][key]
        row = {
            "median_spans_per_s": median, "min_spans_per_s": min(rates), "max_spans_per_s": max(rates),
            "bytes_per_span": size / batch, "mb_per_s": median * size / batch / 1e6,
            "iterations": cell["iterations"][key], "rounds": rounds, "per_call_ns": times,
            "round_orders": cell["orders"],
        }
        for ref in ("sdk", "orjson"):
            if ref in per_call:
                ratios = [r / t for r, t in zip(per_call[ref], times)]  # reference time / own time, same round
                row.update({f"vs_{ref}{suffix}": v for suffix, v in _spread(ratios).items()})
                row[f"vs_{ref}_rounds"] = ratios
            else:
                row[f"vs_{ref}"] = None
        rows[key] = row
    return rows


# ---------------------------------------------------------------- table


def _n(x: float) -> str:
    return f"{x:,.0f}"


def _x(x: float) -> str:
    return f"{x:,.1f}" if x >= 1 else f"{x:.3f}"


def _ratio(r: dict, ref: str) -> str:
    """Median per-round ratio, and its min..max over rounds (none for the reference itself: it is 1 every round)."""
    x = r.get(f"vs_{ref}")
    if x is None:
        return "-"
    if r["contender"] == ref:
        return "1.0x"
    return f"{_x(x)}x ({_x(r[f'vs_{ref}_min'])}..{_x(r[f'vs_{ref}_max'])})"


def print_table(rows: list[dict], workload: str, fmt: str, sizes: dict) -> None:
    cells = [r for r in rows if r["workload"] == workload and r["format"] == fmt]
    if not cells:
        return
    title = f"workload {workload!r}, {fmt}"
    if workload in sizes:
        title += f"  (spancast: {sizes[workload][fmt]:,.0f} B/span)"
    head = ("batch", "contender", "spans/s (median)", "min .. max", "MB/s", "B/span", "vs SDK (min..max)")
    if fmt == "json":
        head += ("vs orjson (min..max)",)
    table = [head]
    for r in cells:
        line = (
            str(r["batch"]), r["label"], _n(r["median_spans_per_s"]),
            f"{_n(r['min_spans_per_s'])} .. {_n(r['max_spans_per_s'])}",
            f"{r['mb_per_s']:,.1f}", f"{r['bytes_per_span']:,.0f}", _ratio(r, "sdk"),
        )
        if fmt == "json":
            line += (_ratio(r, "orjson"),)
        table.append(line)
    widths = [max(len(row[i]) for row in table) for i in range(len(head))]
    left = {1}  # the contender column reads better left-aligned
    print(f"\n{title}")
    for i, row in enumerate(table):
        print("  " + "  ".join(c.ljust(w) if j in left else c.rjust(w) for j, (c, w) in enumerate(zip(row, widths))))
        if i == 0:
            print("  " + "  ".join("-" * w for w in widths))


def print_verdict(rows: list[dict]) -> None:
    """The issue's targets (workload 'full', batch 512; 'small' for context), on the median per-round ratios."""
    cell = {(r["workload"], r["format"], r["batch"], r["contender"]): r for r in rows}
    print("\nissue targets at batch 512 (they are stated for workload 'full'; median of the per-round ratios):")
    for workload in ("full", "small"):
        pb, js = cell.get((workload, "protobuf", 512, "native")), cell.get((workload, "json", 512, "native"))
        if pb and pb["vs_sdk"] is not None:
            x = pb["vs_sdk"]
            ok = "met" if x >= 100 else "NOT met" + (", FAILURE (< 50x)" if x < 50 else "")
            print(f"  {workload:5}  native protobuf = {x:,.1f}x the SDK path (rounds {_x(pb['vs_sdk_min'])}.."
                  f"{_x(pb['vs_sdk_max'])}; {_n(pb['median_spans_per_s'])} spans/s)  [target >= 100x: {ok}]")
        if js and js["vs_orjson"] is not None:
            x = js["vs_orjson"]
            ok = "met" if x >= 10 else "NOT met"
            print(f"  {workload:5}  native JSON = {x:,.1f}x orjson on hand-built OTLP dicts (rounds"
                  f" {_x(js['vs_orjson_min'])}..{_x(js['vs_orjson_max'])}; {_n(js['median_spans_per_s'])} spans/s)"
                  f"  [target >= 10x: {ok}]")


# ---------------------------------------------------------------- main


def _list(kind: Callable[[str], Any]) -> Callable[[str], list]:
    return lambda text: [kind(x) for x in text.split(",") if x.strip()]


def parse_args(argv: list[str] | None, default_out: bool = False) -> argparse.Namespace:
    from benchmarks.report import DEFAULT_OUT

    p = argparse.ArgumentParser(prog="python -m benchmarks encode" if default_out else None, description=__doc__)
    p.add_argument("--quick", action="store_true", help="3 short rounds; python twin skips batch 4096 (< ~60 s)")
    p.add_argument("--smoke", action="store_true", help="seconds: workload small, batches 1 and 64, 2 tiny rounds")
    p.add_argument("--out", metavar="DIR", default=str(DEFAULT_OUT) if default_out else None,
                   help="directory for the CSV/JSON result files" + (" (default benchmarks/results/)" if default_out
                                                                      else " (default: none written)"))
    p.add_argument("--json", metavar="PATH", help="also write the results (and the environment) as JSON here")
    p.add_argument("--batch", type=_list(int), action="extend", help=f"batch sizes, comma-separated (default {BATCHES})")
    p.add_argument("--workload", type=_list(str), action="extend", help=f"workloads (default {tuple(WORKLOADS)})")
    p.add_argument("--format", type=_list(str), action="extend", help=f"formats (default {FORMATS})")
    p.add_argument("--contender", type=_list(str), action="extend", help=f"contenders (default {tuple(BY_KEY)})")
    p.add_argument("--rounds", "--repeats", dest="rounds", type=int,
                   help="rounds per cell; each times every contender once (default 5, --quick 3)")
    p.add_argument("--seconds", type=float,
                   help="target duration of one contender's slot in a round (default 0.2, --quick 0.08)")
    args = p.parse_args(argv)
    if args.smoke:
        args.batch, args.workload = args.batch or [1, 64], args.workload or ["small"]
        args.contender = args.contender or ["native", "python", "sdk", "orjson"]
        args.rounds, args.seconds = args.rounds or 2, args.seconds or 0.005
    args.batch = args.batch or list(BATCHES)
    args.workload = args.workload or list(WORKLOADS)
    args.format = args.format or list(FORMATS)
    args.contender = args.contender or list(BY_KEY)
    if NATIVE is None:  # a pure-Python install: nothing native to time
        args.contender = [c for c in args.contender if c not in ("native", "reuse")]
    for name, given, known in (("workload", args.workload, WORKLOADS), ("format", args.format, FORMATS),
                               ("contender", args.contender, BY_KEY)):
        unknown = [x for x in given if x not in known]
        if unknown:
            p.error(f"unknown {name} {unknown}; known: {', '.join(known)}")
    if any(b < 1 or b > POOL for b in args.batch):
        p.error(f"batch sizes must be in 1..{POOL}")
    args.rounds = args.rounds or (3 if args.quick else 5)
    args.seconds = args.seconds or (0.08 if args.quick else 0.2)
    return args


COLUMNS = (
    "workload", "format", "batch", "contender", "label", "median_spans_per_s", "min_spans_per_s", "max_spans_per_s",
    "bytes_per_span", "mb_per_s", "vs_sdk", "vs_sdk_min", "vs_sdk_max", "vs_orjson", "vs_orjson_min", "vs_orjson_max",
    "rounds", "iterations",
)


def run(args: argparse.Namespace) -> dict:
    """The whole suite: environment, checks, interleaved rounds per cell, tables, verdict; returns rows and doc."""
    from benchmarks import report

    env = report.suite_environment("encode", "spancast OTLP trace encoding benchmark", NATIVE)
    began = time.perf_counter()

    pools = {w: make_records(w, POOL) for w in args.workload}
    sdk = {w: baselines.sdk_spans(records) for w, records in pools.items()}
    sizes = sanity_checks(pools, sdk, args.batch)
    twins = "native == python twin bytes" if NATIVE is not None else "no native build: the Python twin alone"
    print(f"  checks    ok: spancast's protobuf parses to one span per record; {twins};"
          " proto, SDK and orjson contenders carry the same attributes as spancast")
    for w, by_fmt in sizes.items():
        print(f"  workload  {w}: {by_fmt['protobuf']:,.0f} B/span protobuf, {by_fmt['json']:,.0f} B/span OTLP JSON"
              f" (spancast, averaged over {POOL} records)")
    print(f"  timing    {args.rounds} rounds per cell, ~{args.seconds}s per contender per round (python twin: half as"
          " long), gc.collect() before each, gc enabled for all; the same batch is re-encoded every call")
    print("  interleaved: each round times every contender of a (workload, format, batch) cell once, back to back,"
          " in an order rotated every round; 'vs' ratios are per round (same round, so drift cancels):"
          " median (min..max)")
    print("  contenders:")
    for c in CONTENDERS:
        if c.key in args.contender:
            print(f"    {' / '.join(dict.fromkeys(c.labels.values()))}: {c.includes}")
    print("    * proto3 JSON from google.protobuf.json_format (base64 ids, enum names): NOT OTLP JSON")

    gc.collect()
    gc.freeze()  # the record pools and pre-built spans are never collected: keep them out of every gc pass
    rows: list[dict] = []
    cells = [(w, f, b) for w in args.workload for f in args.format for b in args.batch]
    with report.progress_bar(len(cells), "encode") as advance:
        for workload, fmt, batch in cells:
            advance(f"{workload} {fmt} {batch}")
            records, spans = pools[workload][:batch], sdk[workload][:2 * batch]  # two spans a record
            chosen = [c for c in CONTENDERS if c.key in args.contender and fmt in c.formats
                      and not (c.key == "python" and args.quick and batch >= 4096)]
            if not chosen:
                continue
            fns = {c.key: c.make(fmt, records, spans) for c in chosen}
            targets = {c.key: args.seconds / 2 if c.key == "python" else args.seconds for c in chosen}
            cell = cell_rows(measure_cell(fns, targets, args.rounds), batch, args.rounds)
            for c in chosen:
                rows.append({"workload": workload, "format": fmt, "batch": batch, "contender": c.key,
                             "label": c.labels[fmt], **cell[c.key]})
            native = cell.get("native")
            note = f"; native {_n(native['median_spans_per_s'])} spans/s" if native else ""
            for ref, name in (("sdk", "SDK"), ("orjson", "orjson")):
                if native and native[f"vs_{ref}"] is not None:
                    note += f", {_x(native[f'vs_{ref}'])}x {name}"
            print(f"  .. {workload:5} {fmt:8} batch {batch:4}: {len(chosen)} contenders x {args.rounds} rounds"
                  f"{note}", flush=True)
    gc.unfreeze()
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
    doc = {"environment": env, "settings": {k: v for k, v in vars(args).items() if k != "json"},
           "method": "per cell: calibrate each contender once, then rounds timing every contender once, order"
                     " rotated per round; vs_X_rounds[i] = X's time / own time in round i; vs_X = their median",
           "bytes_per_span": sizes, "contenders": {c.key: c.includes for c in CONTENDERS}, "elapsed_s": elapsed}
    return {"rows": rows, "columns": COLUMNS, "doc": doc}


def main(argv: list[str] | None = None, default_out: bool = False) -> int:
    """`python benchmarks/encode.py`: the tables, --json PATH when asked; result files under --out when given
    (`python -m benchmarks encode` gives it: benchmarks/results/ by default)."""
    args = parse_args(argv, default_out)
    result = run(args)
    if args.json:
        doc = {**result["doc"], "results": result["rows"]}
        Path(args.json).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
        print(f"results written to {args.json}")
    if args.out:
        from benchmarks import report

        report.write_results("encode", args.out, result["rows"], COLUMNS, result["doc"])
    return 0


def bench(argv: list[str]) -> int:
    return main(argv, default_out=True)


if __name__ == "__main__":
    sys.exit(main())
