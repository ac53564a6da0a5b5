"""What privacy mode, media stripping and redaction cost per record, side by side, against encoding the record.

Each scenario is one destination's ``Route.select`` over the same batch of records (what a lane calls
on every slice of the backlog), timed per record; the rounds interleave the scenarios so that the
machine's drift hits them alike, and each ratio is against ``keep_media`` (a passthrough route, the
cost of nothing) in the same round. Native OTLP protobuf encoding of the same records is timed too,
to put the figures in proportion: what a lane spends on a record anyway.

Those batches are hot (the best of many passes over the same records, in cache). In a pipeline each
record is read fresh from memory, where a scan that only follows pointers waits on every cache miss:
the "cold" column runs each scenario once over a pool of "full" records far larger than the caches,
evicted before each pass, as a lane meets them.
"""

from __future__ import annotations

import argparse
import base64
import statistics
import sys
import time
from pathlib import Path

if __package__ in (None, ""):  # run as `python benchmarks/routing.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import msgspec

from benchmarks import report
from benchmarks.workloads import make_records
from spancast.codec import TraceEncoder
from spancast.routing import Route

COLUMNS = ("workload", "scenario", "rounds", "batch", "us_per_record", "us_per_record_min", "us_per_record_max",
           "vs_encode", "cold_us_per_record", "what")
# name -> (Route keyword arguments, what it does)
SCENARIOS = {
    "keep_media": ({"keep_media": True}, "passthrough: the route hands the list back (the baseline)"),
    "default": ({}, "media stripping only (the default): a scan for parts, the list back when there are none"),
    "privacy": ({"privacy_mode": True}, "privacy mode: content, error messages, text parameters dropped"),
    "redact_fields": ({"redact_fields": ["user", "trace.feature", "model_parameters.top_p"]},
                      "three fields dropped (and the media scan)"),
    "redact_patterns": ({"redact_patterns": ["email", "card_number", "ipv4"]},
                        "the three built-in patterns masked in every string"),
    "redact_regex": ({"redact_regexes": [r"TICKET-[0-9]+"]}, "one custom regex that starts with literal text"),
    "redact_regex_b": ({"redact_regexes": [r"\bTICKET-\d+\b"]},
                       "the same starting with \\b: re tries it at every position"),
    "redact_all": ({"redact_patterns": ["email", "card_number", "ipv4"], "redact_regexes": [r"TICKET-[0-9]+"],
                    "redact_fields": ["user"]}, "built-ins, a custom regex and a field"),
    "privacy_redact": ({"privacy_mode": True, "redact_patterns": ["email", "card_number", "ipv4"]},
                       "privacy mode, then the built-in patterns on what is left"),
}
# A 24 KB PNG as base64 in each record's last user turn (workload "vision")
_IMAGE = "data:image/png;base64," + base64.b64encode(bytes(range(256)) * 96).decode()


def vision(records: list) -> list:
    """The records with an image part beside the text of their last message (what stripping replaces)."""
    out = []
    for r in records:
        messages = [dict(m) for m in r.messages]
        messages[-1]["content"] = [{"type": "text", "text": messages[-1]["content"]},
                                   {"type": "image_url", "image_url": {"url": _IMAGE}}]
        out.append(msgspec.structs.replace(r, messages=messages))
    return out


def time_select(route: Route, records: list, repeat: int) -> float:
    """Microseconds per record of route.select over the batch (the best of `repeat` passes: the least noise)."""
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        route.select(records)
        best = min(best, time.perf_counter() - t0)
    return best / len(records) * 1e6


def time_encode(records: list, repeat: int) -> float:
    encoder = TraceEncoder(format="protobuf")
    best = float("inf")
    for _ in range(repeat):
        t0 = time.perf_counter()
        encoder.extend(records)
        encoder.finish()
        best = min(best, time.perf_counter() - t0)
    return best / len(records) * 1e6


def time_cold(route: Route, pool: list, batch: int, evict: bytearray) -> float:
    """Microseconds per record of one pass of route.select over the pool, batch by batch, after evicting
    the caches (process time: this VM's other tenants do not count)."""
    evict[::64] = bytes(len(evict[::64]))  # one write per cache line of a buffer larger than the caches
    t0 = time.process_time()
    for i in range(0, len(pool), batch):
        route.select(pool[i:i + batch])
    return (time.process_time() - t0) / len(pool) * 1e6


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks routing", description=__doc__)
    p.add_argument("--quick", action="store_true", help="5 rounds (a few seconds)")
    p.add_argument("--smoke", action="store_true", help="1 round of a small batch: checks the suite runs")
    p.add_argument("--out", default=str(report.DEFAULT_OUT), help="directory for the CSV/JSON result files")
    p.add_argument("--batch", type=int, help="records per select (default 512, a batch)")
    p.add_argument("--rounds", type=int, help="interleaved rounds (default 15; --quick 5)")
    p.add_argument("--cold-records", type=int, help="the cold pool of 'full' records (default 40,000; --quick 10,000)")
    return p


def run(args: argparse.Namespace) -> dict:
    env = report.suite_environment("routing", "spancast routing: privacy mode, media stripping, redaction per record")
    batch = args.batch or (32 if args.smoke else 512)
    rounds = args.rounds or (1 if args.smoke else 5 if args.quick else 15)
    repeat = 3 if args.smoke else 20
    workloads = {"full": make_records("full", batch), "small": make_records("small", batch)}
    workloads["vision"] = vision(workloads["full"])
    routes = {name: Route(name, **kwargs) for name, (kwargs, _) in SCENARIOS.items()}
    pool = make_records("full", args.cold_records or (500 if args.smoke else 10_000 if args.quick else 40_000), seed=99)
    evict = bytearray(64 << 20)
    cold = {name: report.spread([time_cold(route, pool, batch, evict) for _ in range(1 if args.smoke else 3)])[0]
            for name, route in routes.items()}
    runs: dict[tuple[str, str], list[float]] = {(w, s): [] for w in workloads for s in [*SCENARIOS, "encode"]}
    with report.progress_bar(rounds * len(workloads), "routing") as advance:
        for _ in range(rounds):
            for workload, records in workloads.items():
                runs[(workload, "encode")].append(time_encode(records, repeat))
                for name, route in routes.items():
                    runs[(workload, name)].append(time_select(route, records, repeat))
                advance(workload)
    rows, lines = [], []
    for (workload, scenario), values in runs.items():
        med, lo, hi = report.spread(values)
        encode = runs[(workload, "encode")]
        # per round: this scenario's cost as a share of encoding the same records
        vs_encode = statistics.median(v / e for v, e in zip(values, encode)) if scenario != "encode" else 1.0
        what = "native OTLP protobuf encoding of the same records (gen_ai), for scale" if scenario == "encode" \
            else SCENARIOS[scenario][1]
        cold_us = cold.get(scenario) if workload == "full" else None
        rows.append({"workload": workload, "scenario": scenario, "rounds": rounds, "batch": batch,
                     "us_per_record": med, "us_per_record_min": lo, "us_per_record_max": hi,
                     "vs_encode": vs_encode, "cold_us_per_record": cold_us, "what": what})
        lines.append([workload, scenario, f"{med:.3f} ({lo:.3f}..{hi:.3f})", f"{vs_encode:.2f}x",
                      "-" if cold_us is None else f"{cold_us:.3f}"])
    print(f"\nRoute.select per record, batch {batch}, best of {repeat} passes per round, median (min..max) of"
          f" {rounds} interleaved rounds; vs encode: the same round's native encoding of those records; cold: one"
          f" pass over {len(pool):,} 'full' records after evicting the caches, median of the passes")
    report.print_rows(["workload", "scenario", "us per record", "vs encode", "cold"], lines, left=(0, 1))
    return {"rows": rows, "columns": COLUMNS,
            "doc": {"environment": env, "settings": {"batch": batch, "rounds": rounds, "repeat": repeat,
                                                     "cold_records": len(pool)},
                    "scenarios": {k: v[1] for k, v in SCENARIOS.items()}, "runs": {f"{w}/{s}": v for (w, s), v in runs.items()}}}


def bench(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    result = run(args)
    report.write_results("routing", args.out, result["rows"], result["columns"], result["doc"])
    return 0


if __name__ == "__main__":
    sys.exit(bench())
