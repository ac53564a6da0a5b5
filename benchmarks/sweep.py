"""Batch size x flush interval x offered load: delivered throughput, emit-to-ack latency and CPU per record, heatmaps."""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/sweep.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks import report
from benchmarks.environment import loadavg

HERE = Path(__file__).resolve().parent
CHILD = HERE / "paced_child.py"
BATCHES = (16, 64, 256, 1024, 4096)
FLUSHES_S = (0.001, 0.01, 0.1, 0.5, 2.0)
LOADS_PER_S = (2_000, 10_000, 50_000)
QUICK = {"batches": (16, 256, 4096), "flushes": (0.001, 0.1, 2.0), "loads": (2_000, 20_000), "repeats": 1}
SMOKE = {"batches": (64, 512), "flushes": (0.05, 1.0), "loads": (1_000,), "repeats": 1}
DEFAULTS = (512, 1.0)  # spancast's own max_batch_records and flush_interval_s: measured beside the grid
POOL = 4096
COLUMNS = (
    "rate_per_s", "max_batch_records", "flush_interval_s", "repeats", "keeps_up_all",
    "delivered_per_s", "delivered_per_s_min", "delivered_per_s_max",
    "latency_p50_ms", "latency_p50_ms_min", "latency_p50_ms_max",
    "latency_p99_ms", "latency_p99_ms_min", "latency_p99_ms_max",
    "requests_per_s", "records_per_request", "cpu_us_per_record", "cpu_us_per_record_min", "cpu_us_per_record_max",
    "loop_cpu_us_per_record", "emit_median_ns", "cpu_vs_defaults", "cpu_vs_defaults_min", "cpu_vs_defaults_max",
    "dropped_max", "sink_latency_ms", "window_s",
)


def cell_timing(batch: int, flush_s: float, rate: float, latency_s: float, quick: bool, smoke: bool) -> dict:
    """Long enough to see several batches close (a lumpy flush needs several periods), short enough for the grid."""
    period = min(flush_s, batch / rate)  # how often a batch closes in steady state
    if smoke:
        return {"warmup_s": 0.1, "window_s": 0.4, "tail_s": period + latency_s + 0.1, "drain_timeout_s": 3.0}
    if quick:
        return {"warmup_s": min(1.0, max(0.2, period)), "window_s": min(4.0, max(0.8, 3 * period)),
                "tail_s": period + latency_s + 0.2, "drain_timeout_s": 3.0}
    return {"warmup_s": min(2.0, max(0.5, 2 * period)), "window_s": min(12.0, max(2.0, 6 * period)),
            "tail_s": period + latency_s + 0.3, "drain_timeout_s": 10.0}


# ---------------------------------------------------------------- running children


def run_paced(cells: list[dict], base: str, records: Path, tmp: Path, on_result: Callable[[dict], None]) -> list[dict]:
    """One paced_child process for these cells; each result line is handed to on_result as it comes."""
    spec = {"base": base, "records": str(records), "pool": POOL, "cells": cells, "ack_file": str(tmp / "acks.bin")}
    err = tmp / "paced.err"
    out: list[dict] = []
    with open(err, "w") as f:
        proc = subprocess.Popen([sys.executable, str(CHILD), json.dumps(spec)], stdout=subprocess.PIPE, stderr=f,
                                text=True, cwd=HERE.parent)
        for line in proc.stdout:  # type: ignore[union-attr]
            result = json.loads(line)
            out.append(result)
            on_result(result)
        code = proc.wait()
    if code != 0:
        raise RuntimeError(f"paced child exited {code}:\n{err.read_text()[-3000:]}")
    return out


def _warmup_cell(rate: float, latency_s: float) -> dict:
    """Not reported: the first cell of a process pays imports, connections and first-touch memory."""
    return {"key": "warmup", "contender": "spancast", "compression": "none", "rate_per_s": rate,
            "max_batch_records": 512, "flush_interval_s": 0.05, "warmup_s": 0.2, "window_s": 0.3,
            "tail_s": 0.05 + latency_s + 0.1, "drain_timeout_s": 5.0}


# ---------------------------------------------------------------- aggregation


def _key(r: dict) -> tuple:
    return (r["rate_per_s"], r["max_batch_records"], r["flush_interval_s"])


def aggregate(results: list[dict], repeats: int) -> list[dict]:
    """Per (load, batch, flush): medians with min..max over repeats; CPU ratio to the defaults of the same repeat."""
    by_key: dict[tuple, list[dict]] = {}
    for r in results:
        by_key.setdefault(_key(r), []).append(r)
    rows = []
    for key, rs in by_key.items():
        rs.sort(key=lambda r: r["repeat"])
        row: dict[str, Any] = {"rate_per_s": key[0], "max_batch_records": key[1], "flush_interval_s": key[2],
                               "repeats": len(rs), "keeps_up_all": all(r["keeps_up"] for r in rs),
                               "is_defaults": (key[1], key[2]) == DEFAULTS,
                               "dropped_max": max(r["dropped"] for r in rs), "sink_latency_ms": rs[0]["sink_latency_ms"],
                               "window_s": rs[0]["window_s"]}
        for name in ("delivered_per_s", "latency_p50_ms", "latency_p99_ms", "cpu_us_per_record"):
            # an unacknowledged record has no latency: the percentile is infinite, and so is the spread
            values = [r[name] if r[name] is not None else float("inf") for r in rs]
            s = report.spread(values)
            row.update({name: s[0], f"{name}_min": s[1], f"{name}_max": s[2]} if s else {name: None})
        for name in ("requests_per_s", "records_per_request", "loop_cpu_us_per_record", "emit_median_ns"):
            s = report.spread([r[name] for r in rs])
            row[name] = s[0] if s else None
        defaults = {r["repeat"]: r for r in results if _key(r) == (key[0], *DEFAULTS)}
        ratio = report.ratio_spread([r["cpu_us_per_record"] for r in rs],
                                    [defaults[r["repeat"]]["cpu_us_per_record"] if r["repeat"] in defaults else None
                                     for r in rs])
        row.update(dict(zip(("cpu_vs_defaults", "cpu_vs_defaults_min", "cpu_vs_defaults_max"), ratio or (None,) * 3)))
        rows.append(row)
    rows.sort(key=lambda r: (r["rate_per_s"], r["max_batch_records"], r["flush_interval_s"]))
    return rows


def recommend(rows: list[dict], budget_ms: float) -> dict[Any, dict | None]:
    """Per load: the least CPU per record among settings that keep up in every repeat with median p99 within budget;
    key "all": the one setting that qualifies at every load with the smallest worst CPU excess over each load's best."""
    out: dict[Any, dict | None] = {}
    ok = [r for r in rows if r["keeps_up_all"] and r["latency_p99_ms"] is not None and r["latency_p99_ms"] <= budget_ms]
    loads = sorted({r["rate_per_s"] for r in rows})
    for load in loads:
        fits = [r for r in ok if r["rate_per_s"] == load]
        out[load] = min(fits, key=lambda r: (r["cpu_us_per_record"], r["latency_p99_ms"])) if fits else None
    settings: dict[tuple, list[dict]] = {}
    for r in ok:
        settings.setdefault((r["max_batch_records"], r["flush_interval_s"]), []).append(r)
    everywhere = [rs for rs in settings.values() if len(rs) == len(loads)]
    if everywhere:
        best = {load: out[load]["cpu_us_per_record"] for load in loads if out[load]}
        pick = min(everywhere, key=lambda rs: max(r["cpu_us_per_record"] / best[r["rate_per_s"]] for r in rs))
        out["all"] = {"max_batch_records": pick[0]["max_batch_records"], "flush_interval_s": pick[0]["flush_interval_s"],
                      "worst_cpu_excess": max(r["cpu_us_per_record"] / best[r["rate_per_s"]] for r in pick)}
    else:
        out["all"] = None
    return out


# ---------------------------------------------------------------- printing


def _ms(x: float | None) -> str:
    return "not acked" if x is None or x == float("inf") else f"{x:,.0f}" if x >= 10 else f"{x:.1f}"


def print_tables(rows: list[dict]) -> None:
    for load in sorted({r["rate_per_s"] for r in rows}):
        print(f"\noffered load {load:,} rec/s (medians over repeats; CPU = the pipeline's, per record)")
        lines = []
        for r in (r for r in rows if r["rate_per_s"] == load):
            lines.append((
                f"{r['max_batch_records']}{' (defaults)' if r['is_defaults'] else ''}", f"{r['flush_interval_s']:g}",
                "yes" if r["keeps_up_all"] else "NO", report.fmt_spread(
                    (r["delivered_per_s"], r["delivered_per_s_min"], r["delivered_per_s_max"])),
                _ms(r["latency_p50_ms"]),
                f"{_ms(r['latency_p99_ms'])} ({_ms(r['latency_p99_ms_min'])}..{_ms(r['latency_p99_ms_max'])})",
                f"{r['requests_per_s']:,.1f}" if r["requests_per_s"] else "-",
                report.fmt_spread((r["cpu_us_per_record"], r["cpu_us_per_record_min"], r["cpu_us_per_record_max"]), 1),
                report.fmt_ratio((r["cpu_vs_defaults"], r["cpu_vs_defaults_min"], r["cpu_vs_defaults_max"])
                                 if r["cpu_vs_defaults"] else None),
            ))
        report.print_rows(("batch", "flush s", "keeps up", "delivered rec/s (min..max)", "p50 ms", "p99 ms (min..max)",
                           "req/s", "CPU us/rec (min..max)", "defaults' CPU / this"), lines, left=(0,))


def print_recommendation(rec: dict, budget_ms: float, rows: list[dict]) -> list[str]:
    lines = [(f"recommendation for a p99 budget of {budget_ms:g} ms (least CPU per record among the settings that"
              f" keep up in every repeat with a median p99 within budget):")]
    for load, r in rec.items():
        if load == "all":
            continue
        if r is None:
            lines.append(f"  {load:>7,} rec/s: no setting of the grid fits (raise the budget, or add concurrency)")
            continue
        vs = report.fmt_ratio((r["cpu_vs_defaults"], r["cpu_vs_defaults_min"], r["cpu_vs_defaults_max"])) \
            if r["cpu_vs_defaults"] else "-"
        lines.append(f"  {load:>7,} rec/s: max_batch_records={r['max_batch_records']}, flush_interval_s="
                     f"{r['flush_interval_s']:g}  ->  {r['cpu_us_per_record']:.1f} us CPU/record, p99 "
                     f"{_ms(r['latency_p99_ms'])} ms, {r['requests_per_s'] or 0:,.1f} req/s; the defaults "
                     f"({DEFAULTS[0]}, {DEFAULTS[1]:g} s) use {vs} its CPU per record (same repeats)")
    every = rec.get("all")
    if every:
        lines.append(f"  at every load: max_batch_records={every['max_batch_records']}, flush_interval_s="
                     f"{every['flush_interval_s']:g} (at most {every['worst_cpu_excess']:.2f}x the best CPU per record"
                     f" of each load)")
    else:
        lines.append("  at every load: no single setting of the grid fits all loads within the budget")
    print("\n" + "\n".join(lines))
    return lines


# ---------------------------------------------------------------- main


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks sweep", description=__doc__)
    p.add_argument("--quick", action="store_true", help=f"coarse grid {QUICK['batches']} x {QUICK['flushes']} s x "
                   f"{QUICK['loads']} rec/s, one repeat, short windows (< 2 min)")
    p.add_argument("--smoke", action="store_true", help="seconds: a 2x2 grid at 1,000/s, one repeat, to check the suite works")
    p.add_argument("--out", default=str(report.DEFAULT_OUT), help="directory for the CSV, JSON and PNGs")
    p.add_argument("--figures", metavar="DIR", help="also write the heatmaps here as sweep-<load>.png (stable names)")
    p.add_argument("--sink-latency-ms", type=float, default=50.0, help="the sink holds every answer this long (50)")
    p.add_argument("--latency-budget-ms", type=float, default=250.0, help="p99 budget for the recommendation (250)")
    p.add_argument("--batches", help="comma-separated max_batch_records values (default 16..4096)")
    p.add_argument("--flushes", help="comma-separated flush_interval_s values (default 0.001..2)")
    p.add_argument("--loads", help="comma-separated offered loads, records/s (default 2000,10000,50000)")
    p.add_argument("--repeats", type=int, help="runs of every cell (default 3)")
    return p


def finish_args(args: argparse.Namespace) -> argparse.Namespace:
    preset = SMOKE if args.smoke else QUICK if args.quick else {"batches": BATCHES, "flushes": FLUSHES_S,
                                                                 "loads": LOADS_PER_S, "repeats": 3}
    args.batches = [int(x) for x in args.batches.split(",")] if args.batches else list(preset["batches"])
    args.flushes = [float(x) for x in args.flushes.split(",")] if args.flushes else list(preset["flushes"])
    args.loads = [float(x) for x in args.loads.split(",")] if args.loads else list(preset["loads"])
    args.repeats = args.repeats or preset["repeats"]
    return args


def run(args: argparse.Namespace) -> dict:
    from benchmarks.pipeline import Sink, records_file
    from benchmarks.sweep_plot import heatmaps

    env = report.suite_environment("sweep", "spancast batch size x flush interval x offered load sweep (sweep.py)",
                                   extra_dists=("aiohttp", "uvloop", "matplotlib"))
    began = time.perf_counter()
    latency_s = args.sink_latency_ms / 1000
    grid = [(b, f) for b in args.batches for f in args.flushes]
    if DEFAULTS not in grid:
        grid.append(DEFAULTS)
    print(f"  grid      max_batch_records {args.batches} x flush_interval_s {args.flushes} (+ the defaults"
          f" {DEFAULTS}) x offered load {[int(x) for x in args.loads]} rec/s, {args.repeats} repeat(s)")
    print(f"  sink      answers after {args.sink_latency_ms:g} ms; 'full' records (~3.4 KB spans), 1 destination,"
          " no compression; one fresh process per (repeat, load), cells in an order rotated per repeat")
    records = records_file(POOL)
    sink = Sink(args.sink_latency_ms)
    results: list[dict] = []
    try:
        with tempfile.TemporaryDirectory(prefix="spancast-sweep-") as tmp, \
                report.progress_bar(len(grid) * len(args.loads) * args.repeats, "sweep") as advance:
            for rep in range(args.repeats):
                for li, load in enumerate(args.loads):
                    shift = (rep * len(args.loads) + li) % len(grid)
                    order = grid[shift:] + grid[:shift]
                    cells = [_warmup_cell(load, latency_s)] + [
                        {"key": f"{b}/{f:g}", "contender": "spancast", "compression": "none", "rate_per_s": load,
                         "max_batch_records": b, "flush_interval_s": f, "repeat": rep,
                         "sink_latency_ms": args.sink_latency_ms,
                         **cell_timing(b, f, load, latency_s, args.quick, args.smoke)} for b, f in order]

                    def on_result(r: dict) -> None:
                        if r["key"] == "warmup":
                            return
                        results.append(r)
                        advance(f"{int(r['rate_per_s']):,}/s {r['key']}")
                        print(f"  .. repeat {r['repeat'] + 1} {int(r['rate_per_s']):>6,}/s batch {r['max_batch_records']:>4}"
                              f" flush {r['flush_interval_s']:<5g} delivered {r['delivered_per_s']:>8,.0f}/s p99"
                              f" {_ms(r['latency_p99_ms']):>9} ms  {r['cpu_us_per_record']:6.1f} us/rec"
                              f"{'' if r['keeps_up'] else '  (falls behind)'}", flush=True)

                    run_paced(cells, sink.base, records, Path(tmp), on_result)
    finally:
        sink.stop()
    rows = aggregate(results, args.repeats)
    print_tables(rows)
    rec = recommend(rows, args.latency_budget_ms)
    lines = print_recommendation(rec, args.latency_budget_ms, rows)
    out = Path(args.out)
    pictures = heatmaps(rows, rec, out, report.result_stem("sweep"), args)
    if args.figures:
        pictures += heatmaps(rows, rec, Path(args.figures), "sweep", args)
    for path in pictures:
        print(f"  heatmap   {path}")
    elapsed = time.perf_counter() - began
    print(f"\ndone in {elapsed:.0f} s (loadavg now {loadavg()})")
    doc = {"environment": env, "settings": {k: v for k, v in vars(args).items()}, "recommendation": lines,
           "recommended": {str(k): v for k, v in rec.items()}, "heatmaps": [str(p) for p in pictures],
           "runs": results, "elapsed_s": elapsed,
           "method": "paced emission at the offered load; latency = sink answer time - emit time per record (ids in"
                     " trace ids); delivered rate = window records / (window + growth of the median latency from the"
                     " first to the last fifth of the window); CPU = process CPU over the window minus the emitting"
                     " thread's, plus the time inside emit(), per record emitted in the window"}
    return {"rows": rows, "columns": COLUMNS, "doc": doc}


def bench(argv: list[str] | None = None) -> int:
    args = finish_args(build_parser().parse_args(argv))
    result = run(args)
    report.write_results("sweep", args.out, result["rows"], result["columns"], result["doc"])
    return 0


if __name__ == "__main__":
    sys.exit(bench())
