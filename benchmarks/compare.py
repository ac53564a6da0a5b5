"""spancast against the OpenTelemetry SDK + OTLP/HTTP exporter on the same records: paced loads and a burst."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/compare.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report
from benchmarks.environment import loadavg

LOADS_PER_S = (500, 2_000)
CONTENDERS = {
    "spancast": "Broadcaster([otel-collector]) at its defaults (batch 512, flush 1 s); emit(record) per record",
    "sdk": "TracerProvider + BatchSpanProcessor(OTLPSpanExporter) at the SDK's defaults (queue 2048, batch 512, 5 s"
           " delay); per record what an app pays: the same attributes (record_attributes, content as JSON via"
           " orjson), start_span(..., attributes), set_status, end()",
    "sdk-bigq": "burst only: the same SDK with max_queue_size = burst + warm-up, so that nothing is dropped",
}
COLUMNS = (
    "scenario", "contender", "runs", "delivered_per_s", "delivered_per_s_min", "delivered_per_s_max",
    "cpu_us_per_record", "cpu_us_per_record_min", "cpu_us_per_record_max", "emit_median_ns", "emit_p99_ns",
    "latency_p50_ms", "latency_p99_ms", "drops_max", "keeps_up_all", "rate_vs_sdk", "rate_vs_sdk_min",
    "rate_vs_sdk_max", "cpu_vs_sdk", "cpu_vs_sdk_min", "cpu_vs_sdk_max", "emit_vs_sdk", "p99_vs_sdk",
    "rate_vs_sdk_bigq", "rate_vs_sdk_bigq_min", "rate_vs_sdk_bigq_max", "cpu_vs_sdk_bigq", "cpu_vs_sdk_bigq_min",
    "cpu_vs_sdk_bigq_max",
)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks compare", description=__doc__)
    p.add_argument("--quick", action="store_true", help="one paced load (1,000/s, 3 s windows), a 10k burst, 2 repeats")
    p.add_argument("--smoke", action="store_true", help="seconds: 1,000/s for 0.5 s, a 300-record burst (no sdk-bigq), 1 repeat")
    p.add_argument("--out", default=str(report.DEFAULT_OUT), help="directory for the CSV/JSON result files")
    p.add_argument("--loads", help="comma-separated paced loads, records/s (default 500,2000)")
    p.add_argument("--records", type=int, help="burst size, the same for every contender (default 30,000)")
    p.add_argument("--repeats", type=int, help="runs of everything (default 3; --quick 2)")
    p.add_argument("--sink-latency-ms", type=float, default=0.0, help="the sink holds every answer this long (0)")
    return p


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    if args.smoke:
        args.loads, args.records, args.repeats = args.loads or "1000", args.records or 300, args.repeats or 1
        args.window_s, args.warmup_s = 0.5, 0.2
    elif args.quick:
        args.window_s, args.warmup_s = 3.0, 0.5
    else:
        args.window_s, args.warmup_s = 8.0, 1.0
    args.loads = [float(x) for x in args.loads.split(",")] if args.loads else ([1_000.0] if args.quick else list(LOADS_PER_S))
    args.records = args.records or (10_000 if args.quick else 30_000)
    args.repeats = args.repeats or (2 if args.quick else 3)
    return args


def check_same_records() -> str:
    """Not timed: spancast's spans and the SDK's, made from the same 64 records, carry the same attributes, names,
    trace ids, kinds, times and status (the sanity check of the encode suite)."""
    from benchmarks import baselines
    from benchmarks.encode import FAST, _same_spans, _spans_of
    from benchmarks.workloads import make_records

    sample = make_records("full", 64)
    ours = _spans_of(FAST.encode_traces(sample))
    theirs = _spans_of(baselines.sdk_encode(baselines.sdk_spans(sample)))
    assert _same_spans(ours, theirs), "spancast and the SDK path do not carry the same spans for the same records"
    return "ok: for the same 64 records, spancast's spans and the SDK path's carry the same attributes, names," \
           " trace ids, kinds, times and status (span ids differ: each derives its own)"


def _paced_cells(contender: str, args: argparse.Namespace, rep: int) -> list[dict]:
    latency_s = args.sink_latency_ms / 1000
    base = {"contender": contender, "compression": "none", "max_batch_records": None, "flush_interval_s": None,
            "repeat": rep, "drain_timeout_s": 30.0}
    # the SDK exports a batch when 512 spans are queued or after 5 s: the tail waits out one such period
    cells = [{**base, "key": "warmup", "rate_per_s": args.loads[0], "warmup_s": 0.2, "window_s": 0.3,
              "tail_s": 0.3}]
    for load in args.loads:
        period = min(5.0 if contender == "sdk" else 1.0, 512 / load)
        cells.append({**base, "key": f"paced {load:,.0f}/s", "rate_per_s": load, "warmup_s": args.warmup_s,
                      "window_s": max(args.window_s, 4 * period) if not args.smoke else args.window_s,
                      "tail_s": period + latency_s + 0.3})
    return cells


def _pair(ours: dict[int, dict], sdk: dict[int, dict], key: str, ours_first: bool) -> tuple | None:
    """Per repeat ours/SDK (ours_first) or SDK/ours, over the repeats both ran: median, min, max."""
    reps = sorted(ours)
    mine, theirs = [ours[k][key] for k in reps], [sdk[k][key] if k in sdk else None for k in reps]
    return report.ratio_spread(theirs, mine) if ours_first else report.ratio_spread(mine, theirs)


def summarize(paced: list[dict], burst: list[dict]) -> list[dict]:
    """Rows per (scenario, contender); spancast's rows carry the ratios to the SDK's runs of the same repeat."""
    runs: dict[tuple, dict[int, dict]] = {}
    for r in paced:
        runs.setdefault((r["key"], r["contender"]), {})[r["repeat"]] = {
            "rate": r["delivered_per_s"], "cpu": r["cpu_us_per_record"], "emit": r["emit_median_ns"],
            "emit_p99": r["emit_p99_ns"], "p50": r["latency_p50_ms"], "p99": r["latency_p99_ms"],
            "drops": r["dropped"], "keeps_up": r["keeps_up"]}
    for r in burst:
        runs.setdefault(("burst", r["spec"]["contender"]), {})[r["spec"]["repeat"]] = {
            "rate": r["rate"], "cpu": r["cpu_us"], "emit": r["emit_ns"].get("median"),
            "emit_p99": r["emit_ns"].get("p99"), "p50": None, "p99": None, "drops": r["drops"], "keeps_up": None}
    rows = []
    for (scenario, contender), rs in runs.items():
        reps = sorted(rs)
        rate, cpu = report.spread([rs[k]["rate"] for k in reps]), report.spread([rs[k]["cpu"] for k in reps])
        row = {"scenario": scenario, "contender": contender, "runs": len(reps),
               "delivered_per_s": rate[0], "delivered_per_s_min": rate[1], "delivered_per_s_max": rate[2],
               "cpu_us_per_record": cpu[0], "cpu_us_per_record_min": cpu[1], "cpu_us_per_record_max": cpu[2],
               "drops_max": max(rs[k]["drops"] for k in reps)}
        for name, key in (("emit_median_ns", "emit"), ("emit_p99_ns", "emit_p99"), ("latency_p50_ms", "p50"),
                          ("latency_p99_ms", "p99")):
            s = report.spread([rs[k][key] for k in reps])
            row[name] = s[0] if s else None
        row["keeps_up_all"] = None if scenario == "burst" else all(rs[k]["keeps_up"] for k in reps)
        sdk = runs.get((scenario, "sdk"), {})
        if contender == "spancast" and sdk:
            for name, key, ours_first in (("rate_vs_sdk", "rate", True), ("cpu_vs_sdk", "cpu", False)):
                ratio = _pair(rs, sdk, key, ours_first)
                row.update(dict(zip((name, f"{name}_min", f"{name}_max"), ratio or (None,) * 3)))
            emit = _pair(rs, sdk, "emit", False)
            p99 = _pair(rs, sdk, "p99", False) if scenario != "burst" else None
            row["emit_vs_sdk"], row["p99_vs_sdk"] = emit[0] if emit else None, p99[0] if p99 else None
        bigq = runs.get((scenario, "sdk-bigq"), {})
        if contender == "spancast" and bigq:  # the SDK's delivery rate when its queue drops nothing
            for name, key, ours_first in (("rate_vs_sdk_bigq", "rate", True), ("cpu_vs_sdk_bigq", "cpu", False)):
                ratio = _pair(rs, bigq, key, ours_first)
                row.update(dict(zip((name, f"{name}_min", f"{name}_max"), ratio or (None,) * 3)))
        rows.append(row)
    order = {"spancast": 0, "sdk": 1, "sdk-bigq": 2}
    rows.sort(key=lambda r: (r["scenario"] == "burst", r["scenario"], order[r["contender"]]))
    return rows


def print_table(rows: list[dict]) -> None:
    def tup(r: dict, key: str) -> tuple | None:
        return (r[key], r[f"{key}_min"], r[f"{key}_max"]) if r.get(key) is not None else None

    def ms(x: float | None) -> str:
        return "-" if x is None else f"{x:,.0f}"

    lines = [(r["scenario"], r["contender"], report.fmt_spread(tup(r, "delivered_per_s")),
              report.fmt_spread(tup(r, "cpu_us_per_record"), 1),
              f"{r['emit_median_ns']:,.0f} / {r['emit_p99_ns']:,.0f}", f"{ms(r['latency_p50_ms'])} / {ms(r['latency_p99_ms'])}",
              f"{r['drops_max']:,}", "-" if r["keeps_up_all"] is None else "yes" if r["keeps_up_all"] else "NO",
              report.fmt_ratio(tup(r, "rate_vs_sdk")), report.fmt_ratio(tup(r, "cpu_vs_sdk")),
              f"{r['emit_vs_sdk']:,.0f}x" if r.get("emit_vs_sdk") else "-",
              f"{r['p99_vs_sdk']:.2f}x" if r.get("p99_vs_sdk") else "-") for r in rows]
    print()
    report.print_rows(("scenario", "contender", "delivered rec/s (min..max)", "CPU us/rec (min..max)", "call med / p99 ns",
                       "p50 / p99 ms", "drops", "keeps up", "rate: ours/SDK", "CPU: SDK/ours", "call: SDK/ours",
                       "p99: SDK/ours"), lines, left=(0, 1))
    for r in rows:
        if r.get("rate_vs_sdk_bigq"):
            print(f"  {r['scenario']}: spancast vs the SDK with a burst-sized queue (drops nothing): rate"
                  f" {report.fmt_ratio(tup(r, 'rate_vs_sdk_bigq'))}, CPU per record"
                  f" {report.fmt_ratio(tup(r, 'cpu_vs_sdk_bigq'))} less")
    print("  paced: delivered = window records / (window + latency growth); CPU = what exporting costs the process per"
          " record (background threads + the call itself, not the pacing); p50/p99 = emit -> the sink's answer."
          "\n  burst: delivered = records / (first emit -> flush returned); CPU = the whole process per delivered"
          " record. Ratios per repeat (same repeat): median (min..max)")


def run(args: argparse.Namespace) -> dict:
    from benchmarks.pipeline import EXTRA_DISTS, Sink, records_file, run_child
    from benchmarks.sweep import POOL, run_paced

    env = report.suite_environment("compare", "spancast vs the OpenTelemetry SDK + OTLP exporter (compare.py)",
                                   extra_dists=EXTRA_DISTS)
    began = time.perf_counter()
    same = check_same_records()
    print(f"  checks    {same}")
    for c, what in CONTENDERS.items():
        print(f"    {c}: {what}")
    print(f"  paced     loads {[int(x) for x in args.loads]} rec/s, {args.window_s:g} s windows (longer when a batch"
          f" period needs it), sink answers after {args.sink_latency_ms:g} ms; burst {args.records:,} records;"
          f" {args.repeats} repeat(s), contender order alternating, a fresh process per contender and repeat")
    path = records_file(max(POOL, args.records + 2000))
    sink = Sink(args.sink_latency_ms)
    paced: list[dict] = []
    burst: list[dict] = []
    bursts = ("spancast", "sdk") if args.smoke else ("spancast", "sdk", "sdk-bigq")
    steps = args.repeats * (2 * len(args.loads) + len(bursts))
    try:
        with tempfile.TemporaryDirectory(prefix="spancast-compare-") as tmp, \
                report.progress_bar(steps, "compare") as advance:
            for rep in range(args.repeats):
                for c in (("spancast", "sdk") if rep % 2 == 0 else ("sdk", "spancast")):
                    def on_result(r: dict, rep: int = rep) -> None:
                        if r["key"] != "warmup":
                            paced.append(r)
                            advance(f"{r['key']} {r['contender']}")
                            print(f"  .. repeat {rep + 1} {r['key']:>12} {r['contender']:8} {r['delivered_per_s']:>8,.0f}"
                                  f" rec/s  {r['cpu_us_per_record']:7.1f} us/rec  p99 {r['latency_p99_ms'] or 0:,.0f} ms"
                                  f"  drops {r['dropped']:,}", flush=True)
                    run_paced(_paced_cells(c, args, rep), sink.base, path, Path(tmp), on_result)
                for c in (bursts if rep % 2 == 0 else bursts[::-1]):
                    advance(f"burst {c}")
                    spec = {"contender": c, "compression": "none", "destinations": 1, "n": args.records,
                            "warmup": min(2000, args.records), "records": str(path), "base": sink.base, "repeat": rep}
                    r = run_child(spec, Path(tmp))
                    if r is not None:
                        burst.append(r)
                        print(f"  .. repeat {rep + 1} {'burst':>12} {c:8} {r['rate']:>8,.0f} rec/s  {r['cpu_us']:7.1f}"
                              f" us/rec  drops {r['drops']:,}  {r['check']}", flush=True)
    finally:
        sink.stop()
    rows = summarize(paced, burst)
    print_table(rows)
    elapsed = time.perf_counter() - began
    print(f"\ndone in {elapsed:.0f} s (loadavg now {loadavg()})")
    doc = {"environment": env, "settings": vars(args), "contenders": CONTENDERS, "check": same,
           "paced_runs": paced, "burst_runs": burst, "elapsed_s": elapsed}
    return {"rows": rows, "columns": COLUMNS, "doc": doc}


def bench(argv: list[str] | None = None) -> int:
    args = finish_args(build_parser().parse_args(argv))
    result = run(args)
    report.write_results("compare", args.out, result["rows"], result["columns"], result["doc"])
    return 0


if __name__ == "__main__":
    sys.exit(bench())
