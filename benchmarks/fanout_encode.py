"""Fan-out's rendering alone: N encoders of one rendering (each its own id salt) append the same batches,
rendering every record each, or sharing span bytes (the first renders, the others copy): us per record."""

from __future__ import annotations

import time
from typing import Any

from benchmarks import report

COLUMNS = ("destinations", "mode", "rounds", "first_us", "first_us_min", "first_us_max", "others_us",
           "others_us_min", "others_us_max", "total_us", "total_us_min", "total_us_max", "total_vs_render")
BATCH = 512


def _round(native: Any, recs: list, n: int, share: bool) -> tuple[float, float]:
    """(us per record of the first encoder, mean us per record of the others) for one pass over recs."""
    from spancast.codec.ids import id_salt

    encoders = [native.TraceEncoder(id_salt=id_salt(f"d{k + 1}")) for k in range(n)]
    if share:
        caches: dict = {}
        for e in encoders:
            e.share_spans(caches)
    spent = [0] * n
    for i in range(0, len(recs), BATCH):
        chunk = recs[i:i + BATCH]
        for k, e in enumerate(encoders):
            t = time.perf_counter_ns()
            # media_from=0: the default route's media check, done as the lanes do it
            e.append_many(chunk, 0, BATCH, 4 << 20, [], 0)
            e.finish_view()
            spent[k] += time.perf_counter_ns() - t
    per = [s / len(recs) / 1000 for s in spent]
    return per[0], (sum(per[1:]) / (n - 1) if n > 1 else 0.0)


def run(args: Any) -> dict:
    from benchmarks.pipeline import records_file
    from benchmarks.pipeline_child import read_records
    from spancast.codec import implementation

    native = implementation("native")
    env = report.suite_environment("fanout-encode", "fan-out rendering alone (fanout_encode.py)", native)
    recs = read_records(records_file(args.records), args.records)
    rounds = max(3, args.repeats * 3)
    print(f"  runs      {len(recs):,} 'full' records in batches of {BATCH}, protobuf gen_ai, {rounds} rounds a"
          " fan-out, the two modes in alternating order")
    found: dict[tuple[int, str], list[tuple[float, float]]] = {}
    for n in args.fanouts:
        for r in range(rounds):
            for share in ((False, True) if r % 2 == 0 else (True, False)):
                found.setdefault((n, "share" if share else "render"), []).append(_round(native, recs, n, share))
    rows = []
    for n in args.fanouts:
        totals = {}
        for mode in ("render", "share"):
            got = found[(n, mode)]
            totals[mode] = [a + (n - 1) * b for a, b in got]
            first, others, total = (report.spread(x) for x in ([a for a, _ in got], [b for _, b in got], totals[mode]))
            rows.append({"destinations": n, "mode": mode, "rounds": len(got), "first_us": first[0],
                         "first_us_min": first[1], "first_us_max": first[2], "others_us": others[0],
                         "others_us_min": others[1], "others_us_max": others[2], "total_us": total[0],
                         "total_us_min": total[1], "total_us_max": total[2]})
        ratio = report.ratio_spread(totals["share"], totals["render"])  # render / share, round by round
        rows[-1]["total_vs_render"] = ratio[0] if ratio else None
    report.print_rows(
        ("dests", "mode", "first us/rec (min..max)", "each other us/rec", "all us/rec", "render / share"),
        [(f"x{r['destinations']}", r["mode"],
          report.fmt_spread((r["first_us"], r["first_us_min"], r["first_us_max"]), 2),
          report.fmt_spread((r["others_us"], r["others_us_min"], r["others_us_max"]), 2),
          report.fmt_spread((r["total_us"], r["total_us_min"], r["total_us_max"]), 2),
          "-" if r.get("total_vs_render") is None else f"{r['total_vs_render']:.2f}x") for r in rows], left=(0, 1))
    print("  first = the encoder that renders first (with sharing: and keeps the spans); each other = the mean of"
          " the others (with sharing: they copy); all = every encoder's together, per record")
    return {"rows": rows, "columns": COLUMNS, "doc": {"environment": env, "settings": vars(args), "rows": rows}}
