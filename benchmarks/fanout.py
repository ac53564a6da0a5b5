"""Fan-out: one burst delivered to 1, 5 and 19 healthy destinations at once, spancast and the SDK doing the same."""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/fanout.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report
from benchmarks.environment import loadavg

FANOUTS = (1, 5, 19)
COLUMNS = (
    "destinations", "contender", "runs", "burst", "delivered_per_s", "delivered_per_s_min", "delivered_per_s_max",
    "deliveries_per_s", "cpu_us_per_record", "cpu_us_per_record_min", "cpu_us_per_record_max", "cpu_us_per_delivery",
    "cpu_caller_us", "cpu_loop_us", "cpu_other_us", "emit_median_ns", "emit_p99_ns", "drops_max", "sink_util",
    "checks", "vs_one", "vs_one_min", "vs_one_max", "cpu_vs_one", "cpu_vs_one_min", "cpu_vs_one_max", "spans_copied",
    "bodies_shared",
    "vs_sdk", "vs_sdk_min", "vs_sdk_max", "cpu_vs_sdk", "cpu_vs_sdk_min", "cpu_vs_sdk_max", "emit_vs_sdk",
)
EXPLAIN = {
    "spancast": "Broadcaster([otel-collector x N] on one sink, paths /d1../dN), all defaults; emit(record) per record,"
                " then flush(): the backlog holds each record once, every destination's lane encodes its own batches",
    "sdk-bigq": "TracerProvider + one BatchSpanProcessor(OTLPSpanExporter) per destination (how the SDK fans out in"
                " process), max_queue_size = burst + warm-up so that nothing is dropped: every processor queues every"
                " span and its export thread encodes it again. A smaller burst than spancast's (it is ~100x slower;"
                " the rate is a steady-state rate either way)",
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks fanout", description=__doc__)
    p.add_argument("--quick", action="store_true", help="20k burst (SDK 1k), 2 repeats (< 2 min)")
    p.add_argument("--smoke", action="store_true", help="seconds: 300 records, 1 and 19 destinations, 1 repeat")
    p.add_argument("--out", default=str(report.DEFAULT_OUT), help="directory for the CSV/JSON result files")
    p.add_argument("--destinations", help="comma-separated fan-outs (default 1,5,19)")
    p.add_argument("--records", type=int, help="spancast's burst (default 100,000; --quick 20,000)")
    p.add_argument("--sdk-records", type=int, help="the SDK's burst (default 4,000; --quick 1,000)")
    p.add_argument("--repeats", type=int, help="runs per contender and fan-out (default 3; --quick 2)")
    p.add_argument("--compression", default="none", choices=("none", "gzip"), help="for every destination (none)")
    p.add_argument("--no-sdk", action="store_true", help="spancast only")
    p.add_argument("--shared-ids", action="store_true",
                   help="spancast's destinations in one id_namespace: the same bytes, so compressed bodies are shared")
    p.add_argument("--encode", action="store_true",
                   help="instead: the rendering alone, N encoders rendering every record or sharing span bytes")
    p.add_argument("--catalogue", action="store_true",
                   help="only the mixed catalogue: every destination type at once, and each alone")
    p.add_argument("--no-catalogue", action="store_true", help="without the mixed catalogue")
    p.add_argument("--catalogue-records", type=int, help="the catalogue's burst (default 10,000; --quick 3,000)")
    return p


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    if args.smoke:
        args.records, args.sdk_records, args.repeats = args.records or 300, args.sdk_records or 100, args.repeats or 1
        args.destinations = args.destinations or "1,19"
    args.fanouts = [int(x) for x in (args.destinations or ",".join(map(str, FANOUTS))).split(",")]
    args.records = args.records or (20_000 if args.quick else 100_000)
    args.sdk_records = args.sdk_records or (1_000 if args.quick else 4_000)
    args.repeats = args.repeats or (2 if args.quick else 3)
    args.catalogue_records = args.catalogue_records or (200 if args.smoke else 3_000 if args.quick else 10_000)
    return args


def summarize(results: list[dict], fanouts: list[int]) -> list[dict]:
    """Per (fan-out, contender): medians and min..max over repeats; ratios from runs of the same repeat."""
    def runs(c: str, n: int) -> dict[int, dict]:
        return {r["spec"]["repeat"]: r for r in results if r["spec"]["contender"] == c and r["spec"]["destinations"] == n}

    rows = []
    for n in fanouts:
        for c in ("spancast", "sdk-bigq"):
            rs = runs(c, n)
            if not rs:
                continue
            reps = sorted(rs)
            rate = report.spread([rs[k]["rate"] for k in reps])
            cpu = report.spread([rs[k]["cpu_us"] for k in reps])
            row = {"destinations": n, "contender": c, "runs": len(rs), "burst": rs[reps[0]]["spec"]["n"],
                   "delivered_per_s": rate[0], "delivered_per_s_min": rate[1], "delivered_per_s_max": rate[2],
                   "deliveries_per_s": rate[0] * n, "cpu_us_per_record": cpu[0] if cpu else None,
                   "cpu_us_per_record_min": cpu[1] if cpu else None, "cpu_us_per_record_max": cpu[2] if cpu else None,
                   "cpu_us_per_delivery": cpu[0] / n if cpu else None,
                   "emit_median_ns": report.spread([rs[k]["emit_ns"].get("median") for k in reps])[0],
                   "emit_p99_ns": report.spread([rs[k]["emit_ns"].get("p99") for k in reps])[0],
                   "drops_max": max(rs[k]["drops"] for k in reps),
                   "sink_util": report.spread([rs[k]["sink_util"] for k in reps])[0],
                   "checks": sorted({rs[k]["check"] for k in reps})}
            for part in ("caller", "loop", "other"):
                row[f"cpu_{part}_us"] = report.spread([rs[k]["threads_cpu_s"][part] / rs[k]["records_delivered"] * 1e6
                                                       for k in reps if rs[k]["records_delivered"]])[0]
            one = runs(c, 1)
            vs_one = report.ratio_spread([one[k]["rate"] if k in one else None for k in reps], [rs[k]["rate"] for k in reps])
            row.update(dict(zip(("vs_one", "vs_one_min", "vs_one_max"), vs_one or (None,) * 3)))
            # issue 17's measure: CPU per record at N destinations over one destination's, same repeat
            cpu_one = report.ratio_spread([one[k]["cpu_us"] if k in one else None for k in reps],
                                          [rs[k]["cpu_us"] for k in reps])
            row.update(dict(zip(("cpu_vs_one", "cpu_vs_one_min", "cpu_vs_one_max"), cpu_one or (None,) * 3)))
            shared = [rs[k].get("span_cache") for k in reps]
            row["spans_copied"] = (sum(h for h, _ in shared) / max(1, sum(h + m for h, m in shared))
                                   if all(shared) else None)
            bodies = [rs[k].get("body_share") for k in reps]
            row["bodies_shared"] = (sum(h for h, _ in bodies) / max(1, sum(h + m for h, m in bodies))
                                    if all(bodies) and sum(h + m for h, m in bodies) else None)
            if c == "spancast":
                sdk = runs("sdk-bigq", n)
                vs = report.ratio_spread([sdk[k]["rate"] if k in sdk else None for k in reps], [rs[k]["rate"] for k in reps])
                cpu_vs = report.ratio_spread([rs[k]["cpu_us"] for k in reps],
                                             [sdk[k]["cpu_us"] if k in sdk else None for k in reps])
                row.update(dict(zip(("vs_sdk", "vs_sdk_min", "vs_sdk_max"), vs or (None,) * 3)))
                row.update(dict(zip(("cpu_vs_sdk", "cpu_vs_sdk_min", "cpu_vs_sdk_max"), cpu_vs or (None,) * 3)))
                emit = report.ratio_spread([rs[k]["emit_ns"].get("median") for k in reps],
                                           [sdk[k]["emit_ns"].get("median") if k in sdk else None for k in reps])
                row["emit_vs_sdk"] = emit[0] if emit else None
            rows.append(row)
    return rows


def print_table(rows: list[dict]) -> None:
    def tup(r: dict, key: str) -> tuple | None:
        return (r[key], r[f"{key}_min"], r[f"{key}_max"]) if r.get(key) is not None else None

    lines = [(f"x{r['destinations']}", "spancast" if r["contender"] == "spancast" else "otel SDK, queue=burst",
              f"{r['burst']:,}", report.fmt_spread(tup(r, "delivered_per_s")), f"{r['deliveries_per_s']:,.0f}",
              report.fmt_spread(tup(r, "cpu_us_per_record"), 1), f"{r['cpu_us_per_delivery']:.1f}",
              f"{r['cpu_caller_us']:.1f}/{r['cpu_loop_us']:.1f}/{r['cpu_other_us']:.1f}",
              f"{r['emit_median_ns']:,.0f} / {r['emit_p99_ns']:,.0f}", f"{r['drops_max']:,}", f"{r['sink_util']:.0%}",
              report.fmt_ratio(tup(r, "vs_one")), report.fmt_ratio(tup(r, "cpu_vs_one")),
              "-" if r.get("spans_copied") is None else f"{r['spans_copied']:.0%}",
              "-" if r.get("bodies_shared") is None else f"{r['bodies_shared']:.0%}", report.fmt_ratio(tup(r, "vs_sdk")),
              report.fmt_ratio(tup(r, "cpu_vs_sdk")), ",".join(r["checks"])) for r in rows]
    print()
    report.print_rows(("dests", "contender", "burst", "delivered rec/s (min..max)", "deliveries/s", "CPU us/rec (min..max)",
                       "us/delivery", "caller/loop/other", "emit med / p99 ns", "drops", "sink CPU", "rate vs x1",
                       "CPU vs x1", "spans copied", "bodies shared", "rate vs SDK", "SDK CPU / ours", "check"), lines, left=(0, 1))
    print("  delivered rec/s = records delivered to every destination per second (sink-counted spans / N), first emit"
          " to flush returning; deliveries/s = that x N; CPU = the benchmark process (all threads) per delivered"
          " record, and per delivery (/N); CPU vs x1 = CPU per record over one destination's; spans copied = the"
          " share of lane appends that copied another lane's rendering (span sharing); bodies shared = the share"
          " of compressed bodies a lane took from another lane of its group (--shared-ids, compression); ratios"
          " are per repeat (same repeat, adjacent runs): median (min..max)")


def run(args: argparse.Namespace) -> dict:
    from benchmarks.pipeline import EXTRA_DISTS, Sink, records_file, run_child

    env = report.suite_environment("fanout", "spancast fan-out benchmark (fanout.py)", extra_dists=EXTRA_DISTS)
    began = time.perf_counter()
    contenders = ["spancast"] + ([] if args.no_sdk else ["sdk-bigq"])
    print(f"  runs      fan-outs {args.fanouts}, compression {args.compression}"
          f"{', one id_namespace' if args.shared_ids else ''}, 'full' records; burst {args.records:,}"
          f" (SDK {args.sdk_records:,}), {args.repeats} repeat(s), every run in a fresh process, one sink process"
          " with a path per destination, contender order alternating")
    for c in contenders:
        print(f"    {c}: {EXPLAIN[c]}")
    warmup = {"spancast": min(2000, args.records), "sdk-bigq": min(200, args.sdk_records)}
    path = records_file(args.records + warmup["spancast"])
    sink = Sink()
    results: list[dict] = []
    plan = [(rep, n, c) for rep in range(args.repeats) for i, n in enumerate(args.fanouts)
            for c in (contenders if (rep + i) % 2 == 0 else contenders[::-1])]
    try:
        with tempfile.TemporaryDirectory(prefix="spancast-fanout-") as tmp, \
                report.progress_bar(len(plan), "fanout") as advance:
            for rep, n, c in plan:
                advance(f"x{n} {c}")
                burst = args.records if c == "spancast" else args.sdk_records
                spec = {"contender": c, "compression": args.compression, "destinations": n, "n": burst,
                        "shared_ids": args.shared_ids,
                        "warmup": warmup[c], "records": str(path), "base": sink.base, "repeat": rep}
                r = run_child(spec, Path(tmp))
                if r is not None:
                    results.append(r)
                    print(f"  .. repeat {rep + 1} x{n:<2} {c:9} {r['rate']:>9,.0f} rec/s  {r['cpu_us']:7.1f} us/rec"
                          f"  drops {r['drops']:,}  {r['elapsed_s']:.2f} s  {r['check']}", flush=True)
    finally:
        sink.stop()
    rows = summarize(results, args.fanouts)
    print_table(rows)
    elapsed = time.perf_counter() - began
    print(f"\ndone in {elapsed:.0f} s (loadavg now {loadavg()})")
    doc = {"environment": env, "settings": vars(args), "contenders": EXPLAIN, "runs": results, "elapsed_s": elapsed}
    return {"rows": rows, "columns": COLUMNS, "doc": doc}


def bench(argv: list[str] | None = None) -> int:
    args = finish_args(build_parser().parse_args(argv))
    if args.encode:
        from benchmarks import fanout_encode

        result = fanout_encode.run(args)
        report.write_results("fanout-encode", args.out, result["rows"], result["columns"], result["doc"])
        return 0
    if not args.catalogue:
        result = run(args)
        report.write_results("fanout", args.out, result["rows"], result["columns"], result["doc"])
    if args.catalogue or not args.no_catalogue:
        from benchmarks import catalogue

        result = catalogue.run(args)
        report.write_results("fanout-catalogue", args.out, result["rows"], result["columns"], result["doc"])
    return 0


if __name__ == "__main__":
    sys.exit(bench())
