"""The fanout suite's mixed catalogue: every destination type at once, and each alone, per destination and in total.

Every HTTP type is configured from its contract file (tests/contract/<type>.py) and aimed at that contract's
fake in one sink process (benchmarks/catalogue_sink.py: the vendor's checks, the records counted); the file
destination writes to a temporary directory and the redis one to a redis-server started here (left out, and
said so, when there is none). Each run is a fresh process (catalogue_child.py) with default pipeline settings.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
CHILD = HERE / "catalogue_child.py"
SINK = HERE / "catalogue_sink.py"
TOGETHER = "together"
COLUMNS = ("destination", "runs", "burst", "alone_per_s", "alone_cpu_us", "alone_cpu_us_min", "alone_cpu_us_max",
           "together_received", "together_claimed", "together_batches", "wire_bytes_per_record", "together_drops",
           "problems", "together_per_s", "together_cpu_us", "together_cpu_us_min", "together_cpu_us_max",
           "sum_alone_cpu_us", "together_vs_sum", "together_vs_otlp")


class SinkProcess:
    """catalogue_sink.py for the given HTTP types: its control URL and a destination config per type."""

    def __init__(self, kinds: list[str]) -> None:
        self.proc = subprocess.Popen([sys.executable, str(SINK), ",".join(kinds)], stdout=subprocess.PIPE, text=True,
                                     cwd=ROOT)
        line = self.proc.stdout.readline()  # type: ignore[union-attr]
        if not line:
            raise RuntimeError("the catalogue sink did not start")
        doc = json.loads(line)
        self.control = f"http://127.0.0.1:{doc['control']}"
        self.configs: dict[str, dict] = doc["configs"]

    def stop(self) -> None:
        self.proc.terminate()
        self.proc.wait(10)


def start_redis(directory: str):
    """The tests' redis-server (tests/redisserver.py: a free port, nothing persisted, up when it answers
    PING), or None when redis-server is not installed."""
    if shutil.which("redis-server") is None:
        return None
    sys.path.insert(0, str(ROOT / "tests"))
    from redisserver import RedisServer

    return RedisServer(directory).start()


def http_kinds() -> list[str]:
    from spancast.destinations import REGISTRY

    return sorted(t for t, cls in REGISTRY.items() if cls.transport == "http")


def configs(sink: SinkProcess, redis: Any) -> list[dict]:
    """One destination of every type, named after its type, in the registry's order (the file destination's
    directory is set per run)."""
    out = list(sink.configs.values())
    out.append({"type": "file", "name": "file", "max_file_bytes": 1 << 32})
    if redis is not None:
        out.append({"type": "redis", "name": "redis", "url": redis.url, "stream": "catalogue", "maxlen": 0})
    return sorted(out, key=lambda c: c["name"])


def run_child(spec: dict, tmp: Path) -> dict | None:
    from benchmarks.pipeline import run_script

    r = run_script(CHILD, spec, tmp, f"catalogue {spec['label']}", timeout_s=3600)
    if r is None:
        return None
    records = sum(r["received"].values()) / len(r["names"])
    r.update(rate=records / r["elapsed_s"], cpu_us=r["cpu_s"] / records * 1e6 if records else None,
             drops=spec["n"] * len(r["names"]) - sum(r["received"].values()))
    return r


def run(args) -> dict:
    """Every type alone and all at once, `args.repeats` times, in alternating order; rows per destination + a total."""
    from benchmarks.pipeline import EXTRA_DISTS, records_file

    env = report.suite_environment("fanout-catalogue", "every destination type at once (catalogue.py)",
                                   extra_dists=EXTRA_DISTS)
    began = time.perf_counter()
    burst = args.catalogue_records
    warmup = min(1000, burst)
    path = records_file(burst + warmup)
    with tempfile.TemporaryDirectory(prefix="spancast-catalogue-") as tmp:
        sink, redis = SinkProcess(http_kinds()), start_redis(tmp)
        try:
            dests = configs(sink, redis)
            print(f"  catalogue {len(dests)} destinations, every type{'' if redis else ' but redis (no redis-server here)'}"
                  f" as its contract file configures it; burst {burst:,} 'full' records, {args.repeats} repeat(s),"
                  " each alone and all together, every run in a fresh process")
            labels = [TOGETHER] + [d["name"] for d in dests]
            plan = [(rep, label) for rep in range(args.repeats) for label in (labels if rep % 2 == 0 else labels[::-1])]
            results: list[dict] = []
            with report.progress_bar(len(plan), "catalogue") as advance:
                for rep, label in plan:
                    advance(label)
                    chosen = dests if label == TOGETHER else [d for d in dests if d["name"] == label]
                    files = str(Path(tmp) / f"files-{rep}-{label}")  # a directory a run: its file alone is counted
                    chosen = [{**d, "directory": files} if d["type"] == "file" else d for d in chosen]
                    spec = {"label": label, "repeat": rep, "n": burst, "warmup": warmup, "records": str(path),
                            "configs": chosen, "control": sink.control,
                            "redis": {"url": redis.url, "stream": "catalogue"} if redis and label in (TOGETHER, "redis") else None,
                            "file": files if label in (TOGETHER, "file") else None}
                    r = run_child(spec, Path(tmp))
                    if r is not None:
                        results.append(r)
                        short = {n: f"{got:,} of {spec['n']:,}" for n, got in r["received"].items() if got != spec["n"]}
                        print(f"  .. repeat {rep + 1} {label:15} {r['rate']:>9,.0f} rec/s  "
                              f"{'-' if r['cpu_us'] is None else format(r['cpu_us'], '7.1f')} us/rec"
                              f"  drops {r['drops']:,}  {r['elapsed_s']:.2f} s" + (f"  short: {short}" if short else ""),
                              flush=True)
        finally:
            sink.stop()
            if redis is not None:
                redis.stop()
    rows = summarize(results, [d["name"] for d in dests])
    print_table(rows)
    print(f"\n  catalogue done in {time.perf_counter() - began:.0f} s")
    return {"rows": rows, "columns": COLUMNS, "doc": {"environment": env, "settings": vars(args), "runs": results}}


def summarize(results: list[dict], names: list[str]) -> list[dict]:
    together = sorted((r for r in results if r["spec"]["label"] == TOGETHER), key=lambda r: r["spec"]["repeat"])
    alone = {name: {r["spec"]["repeat"]: r for r in results if r["spec"]["label"] == name} for name in names}
    rows = []
    for name in names:
        runs = alone[name]
        cpu = report.spread([r["cpu_us"] for r in runs.values()])
        rows.append({
            "destination": name, "runs": len(runs), "burst": together[0]["spec"]["n"] if together else None,
            "alone_per_s": _median([r["rate"] for r in runs.values()]),
            **dict(zip(("alone_cpu_us", "alone_cpu_us_min", "alone_cpu_us_max"), cpu or (None,) * 3)),
            "together_received": min((r["received"][name] for r in together), default=None),
            "together_claimed": min((r["claimed"][name]["delivered"] for r in together), default=None),
            "together_batches": _median([r["claimed"][name]["batches"] for r in together]),
            "wire_bytes_per_record": _median([_wire_per_record(r, name) for r in together]),
            "together_drops": max((r["spec"]["n"] - r["received"][name] for r in together), default=None),
            "problems": sum(r["sink"].get(name, {}).get("problem_count", 0) for r in together),
        })
    cpu = report.spread([r["cpu_us"] for r in together])
    sums = [sum(alone[n][r["spec"]["repeat"]]["cpu_us"] for n in names if r["spec"]["repeat"] in alone[n])
            for r in together if all(r["spec"]["repeat"] in alone[n] for n in names)]
    otlp = alone.get("otel-collector", {})
    rows.append({
        "destination": "all at once", "runs": len(together), "burst": together[0]["spec"]["n"] if together else None,
        "together_received": sum(row["together_received"] or 0 for row in rows),
        "together_drops": sum(row["together_drops"] or 0 for row in rows),
        "problems": sum(row["problems"] for row in rows),
        "together_per_s": _median([r["rate"] for r in together]),
        **dict(zip(("together_cpu_us", "together_cpu_us_min", "together_cpu_us_max"), cpu or (None,) * 3)),
        "sum_alone_cpu_us": _median(sums),
        "together_vs_sum": _median([r["cpu_us"] / s for r, s in zip(together, sums)]),
        "together_vs_otlp": _median([r["cpu_us"] / otlp[r["spec"]["repeat"]]["cpu_us"] for r in together
                                     if r["spec"]["repeat"] in otlp]),
    })
    return rows


def _median(values: list) -> float | None:
    s = report.spread(values)
    return s[0] if s else None


def _wire_per_record(r: dict, name: str) -> float | None:
    sent, got = r["claimed"][name]["delivered_bytes"], r["received"][name]
    return sent / got if got else None


def print_table(rows: list[dict]) -> None:
    def num(v, digits=0, unit=""):
        return "-" if v is None else f"{v:,.{digits}f}{unit}"

    per = [r for r in rows if r["destination"] != "all at once"]
    (total,) = [r for r in rows if r["destination"] == "all at once"]
    lines = [(r["destination"], num(r["alone_per_s"]),
              report.fmt_spread((r["alone_cpu_us"], r["alone_cpu_us_min"], r["alone_cpu_us_max"]), 1)
              if r["alone_cpu_us"] is not None else "-",
              f"{num(r['together_received'])} / {num(r['together_claimed'])}", num(r["together_batches"]),
              num(r["wire_bytes_per_record"]), num(r["together_drops"]), str(r["problems"])) for r in per]
    print()
    report.print_rows(("destination", "alone rec/s", "alone CPU us/rec (min..max)", "together: received / claimed",
                       "batches", "wire B/rec", "drops", "refused"), lines, left=(0,))
    print(f"\n  all {len(per)} at once: {num(total['together_per_s'])} rec/s to every destination, "
          f"CPU {num(total['together_cpu_us'], 1)} us/record ({num(total['together_cpu_us_min'], 1)}.."
          f"{num(total['together_cpu_us_max'], 1)}), {num(total['together_cpu_us'] and total['together_cpu_us'] / len(per), 2)}"
          f" us per delivery; the sum of each alone {num(total['sum_alone_cpu_us'], 1)} us/record (together / sum"
          f" {num(total['together_vs_sum'], 2)}x); together / one otel-collector alone {num(total['together_vs_otlp'], 1)}x;"
          f" drops {total['together_drops']:,}, requests refused by the fakes {total['problems']}")
    print("  alone = that destination the only one (the whole pipeline's CPU per record, emit to acknowledged);"
          " received = records the fake (or the file, or the Redis stream) counted, claimed = spancast's"
          " delivered count; wire B/rec = bytes sent (after compression) per record; ratios per repeat, medians")
