"""python -m benchmarks serve: spancast serve's rates and CPU per record on /v1/generations and /v1/traces, with 1
and more workers, beside the embedded Broadcaster on the same records and the OpenTelemetry Collector's published figure.

What runs: the pipeline suite's OTLP sink (its own process) as the one destination; `spancast serve` (a
subprocess, `--workers N`, the defaults); a client process (serve_client.py) that POSTs the "full" records
(~3.4 KB each) in bodies of --body-records, --concurrency at a time, flat out or paced at each offered
load: NDJSON to /v1/generations, the same records as OTLP protobuf (spancast's gen_ai rendering) to
/v1/traces. Per run: offered and accepted rec/s (client), delivered rec/s (sink, from the client's first request
to the last delivery), serve's CPU per record (user + system of every serve process, from before the
client starts to the last delivery, over the records delivered), ingest latency p50/p99 (POST to answer).
The embedded path is the pipeline suite's spancast contender (a fresh process: emit() per record, then
flush()) on the same records, CPU per delivered record, run twice: handing each record over as an app does
(the ratio's base: the pipeline holds the last reference and frees the record once delivered, as serve
frees what it decoded), and with the caller's list holding every record to the end (no record is freed
while measured: the suite's base before 2026-12-08). Ratios are taken per repeat, in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any

import msgspec

from benchmarks import report
from benchmarks.environment import live_native
from benchmarks.pipeline import Sink, records_file, run_child
from benchmarks.pipeline_child import read_records

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
ROUTES = {"generations": "/v1/generations", "traces": "/v1/traces"}
#: The OpenTelemetry Collector's own CI load test: 10k spans/s within 0.2 core (open-telemetry/
#: opentelemetry-collector-contrib testbed, "1 core, 10k spans/s", CPU max 20%): at most 20 us per span.
COLLECTOR_US_PER_SPAN = 20.0
COLUMNS = ("route", "workers", "offered", "repeat", "sent", "accepted_per_s", "delivered_per_s", "cpu_us_per_record",
           "latency_ms_p50", "latency_ms_p99", "statuses", "embedded_cpu_us_per_record", "ratio_to_embedded",
           "embedded_held_cpu_us_per_record", "ratio_to_embedded_held", "cores_busy")
CONFIG = """
[pipeline]
flush_interval_s = 0.2

[server]
workers = {workers}

[[destinations]]
type = "otel-collector"
name = "sink"
endpoint = "{endpoint}"
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks serve", description=__doc__.split("\n")[0])
    p.add_argument("--quick", action="store_true", help="about a minute: fewer records, one repeat")
    p.add_argument("--smoke", action="store_true", help="seconds: checks the suite works (figures mean nothing)")
    p.add_argument("--out", default=str(report.DEFAULT_OUT), help="where the CSV and JSON go")
    p.add_argument("--records", type=int, default=100_000, help="records per run")
    p.add_argument("--body-records", type=int, default=500, help="records per POST body")
    p.add_argument("--concurrency", type=int, default=4, help="requests in flight")
    p.add_argument("--workers", default=None, help="serve --workers values, comma-separated (default 1,2; --smoke: 1)")
    p.add_argument("--routes", default="generations,traces", help="generations, traces")
    p.add_argument("--loads", default="flat", help="offered loads in records/s, comma-separated; flat = flat out")
    p.add_argument("--repeats", type=int, default=3)
    return p


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def process_tree(pid: int) -> list[int]:
    """pid and its descendants (serve's workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            children.setdefault(int(fields[1]), []).append(int(entry.name))
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, ()))
    return out


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds of these processes (their own, not their waited-for children's)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])
    return total / os.sysconf("SC_CLK_TCK")


def get_json(url: str) -> Any:
    with urllib.request.urlopen(url, timeout=30) as answer:
        return json.loads(answer.read())


def start_serve(workdir: Path, workers: int, endpoint: str) -> tuple[subprocess.Popen, str]:
    port = free_port()
    (workdir / "spancast.toml").write_text(CONFIG.format(workers=workers, endpoint=endpoint))
    log = open(workdir / f"serve-{port}.log", "w")  # noqa: SIM115 - the child writes it
    proc = subprocess.Popen([sys.executable, "-m", "spancast.cli", "serve", "--config", "spancast.toml",
                             "--port", str(port)], cwd=workdir, stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:  # ready when every worker answers: a few probes in a row, any of them may get one
        try:
            if all(get_json(url + "/readyz")["ready"] for _ in range(4 * workers)):
                return proc, url
        except OSError:
            pass
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve did not start: {(workdir / f'serve-{port}.log').read_text()[-2000:]}")
        time.sleep(0.05)


def stop_serve(proc: subprocess.Popen) -> int:
    proc.send_signal(signal.SIGTERM)
    return proc.wait(60)


def write_bodies(path: Path, records: list, route: str, body_records: int) -> None:
    from spancast.codec import encode_traces

    bodies = []
    for i in range(0, len(records), body_records):
        chunk = records[i : i + body_records]
        if route == "generations":
            bodies.append(("application/x-ndjson", len(chunk), b"\n".join(msgspec.json.encode(r) for r in chunk)))
        else:
            bodies.append(("application/x-protobuf", len(chunk), bytes(encode_traces(chunk, format="protobuf"))))
    path.write_bytes(msgspec.msgpack.encode(bodies))


def delivered(sink: Sink) -> int:
    return get_json(sink.base + "/_stats")["paths"].get("/d1/v1/traces", {}).get("spans", 0)


def one_run(url: str, proc: subprocess.Popen, sink: Sink, route: str, bodies: Path, count: int, concurrency: int,
            rate: float, body_records: int) -> dict[str, Any]:
    get_json(sink.base + "/_reset")
    pids = process_tree(proc.pid)
    cpu0, t0 = cpu_s(pids), time.monotonic()
    client = subprocess.run([sys.executable, "-m", "benchmarks.serve_client", url, ROUTES[route], str(bodies),
                             "--count", str(count), "--concurrency", str(concurrency), "--rate", str(rate)],
                            cwd=ROOT, capture_output=True, text=True, timeout=1800)
    if client.returncode != 0:
        raise RuntimeError(f"the client failed: {client.stderr[-2000:]}")
    result = json.loads(client.stdout.strip().splitlines()[-1])
    last, seen, deadline = time.monotonic(), -1, time.monotonic() + 120
    while (got := delivered(sink)) < result["accepted"] and time.monotonic() < deadline:
        if got != seen:
            seen, last = got, time.monotonic()
        time.sleep(0.02)  # a poll of the sink's count, not a wait for time to pass
    if got != seen:
        last = time.monotonic()
    cpu1 = cpu_s(pids)
    sink_cpu = get_json(sink.base + "/_cpu")
    started = result.get("started_monotonic", t0)  # the client's first request, not its start-up
    wall = last - started
    # where the machine's cores went meanwhile: serve, the client, the sink (cores busy, of the wall time)
    result["cores_busy"] = {"serve": (cpu1 - cpu0) / wall, "client": result.get("client_cpu_s", 0.0) / wall,
                            "sink": sink_cpu["cpu_s"] / wall}
    result.update(delivered=got, delivered_per_s=got / wall, accepted_per_s=result["accepted"] / result["elapsed_s"],
                  cpu_us_per_record=(cpu1 - cpu0) / got * 1e6 if got else None,
                  offered=rate or "flat", sent_per_s=result["sent"] / result["elapsed_s"])
    return result


def bench(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    if args.smoke:
        args.records, args.repeats, args.loads = 2_000, 1, "flat"
    elif args.quick:
        args.records, args.repeats = 20_000, 1
    args.workers = args.workers or ("1" if args.smoke else "1,2")
    native = live_native()
    env = report.suite_environment("serve", "spancast serve: ingest rates and CPU per record (serve.py)", native,
                                   ("aiohttp", "uvloop", "msgspec", "protobuf", "opentelemetry-proto"))
    workers = [int(w) for w in args.workers.split(",")]
    routes = args.routes.split(",")
    loads = [0.0 if x == "flat" else float(x) for x in args.loads.split(",")]
    count = max(1, args.records // args.body_records)
    n = count * args.body_records
    path = records_file(n)
    records = read_records(str(path), n)
    rows: list[dict[str, Any]] = []
    sink = Sink()
    print(f"  runs      {n:,} 'full' records per run in bodies of {args.body_records}, {args.concurrency} in flight;"
          f" routes {', '.join(routes)}; workers {args.workers}; offered {args.loads}; {args.repeats} repeat(s)")
    try:
        with tempfile.TemporaryDirectory(prefix="spancast-serve-bench-") as tmp:
            tmpdir = Path(tmp)
            bodies = {}
            for route in routes:
                bodies[route] = tmpdir / f"{route}.bin"
                write_bodies(bodies[route], records, route, args.body_records)
            del records
            for rep in range(args.repeats):
                emb_cpu, held_cpu = (embedded_cpu(path, n, sink, rep, tmpdir, hold) for hold in (False, True))
                for w in workers:
                    proc, url = start_serve(tmpdir, w, sink.base + "/d1/v1/traces")
                    try:
                        for route in routes:
                            # warm-up: connections, imports, caches, first-touch memory in every worker
                            one_run(url, proc, sink, route, bodies[route], min(count, 8 * w), args.concurrency, 0,
                                    args.body_records)
                            for rate in loads:
                                r = one_run(url, proc, sink, route, bodies[route], count, args.concurrency, rate,
                                            args.body_records)
                                r.update(route=route, workers=w, repeat=rep, embedded_cpu_us_per_record=emb_cpu,
                                         ratio_to_embedded=_ratio(r["cpu_us_per_record"], emb_cpu),
                                         embedded_held_cpu_us_per_record=held_cpu,
                                         ratio_to_embedded_held=_ratio(r["cpu_us_per_record"], held_cpu))
                                rows.append(r)
                                print(f"  .. repeat {rep + 1} {route:11} workers {w} offered {r['offered']}: accepted"
                                      f" {r['accepted_per_s']:,.0f} rec/s, delivered {r['delivered_per_s']:,.0f} rec/s,"
                                      f" {r['cpu_us_per_record']:.2f} us/record ({r['ratio_to_embedded'] or 0:.2f}x"
                                      f" embedded, {r['ratio_to_embedded_held'] or 0:.2f}x held), p50 {r['latency_ms_p50']:.1f} ms, p99 {r['latency_ms_p99']:.1f} ms,"
                                      f" {r['statuses']}; cores busy: " + ", ".join(
                                          f"{k} {v:.2f}" for k, v in r["cores_busy"].items()), flush=True)
                    finally:
                        status = stop_serve(proc)
                        if status != 0:
                            print(f"  !! serve exited {status}", flush=True)
    finally:
        sink.stop()
    summary = summarize(rows, workers)
    report.write_results("serve", args.out, rows, COLUMNS, {"environment": env, "summary": summary,
                                                            "settings": vars(args), "method": __doc__})
    return 0


def embedded_cpu(path: Path, n: int, sink: Sink, rep: int, tmpdir: Path, hold: bool) -> float | None:
    """The embedded path's CPU per delivered record on the same records; hold: the caller keeps every record."""
    embedded = run_child({"contender": "spancast", "compression": "none", "destinations": 1, "n": n, "warmup": 0,
                          "records": str(path), "base": sink.base, "repeat": rep, "hold": hold}, tmpdir)
    cpu = embedded["cpu_us"] if embedded else None
    print(f"  .. repeat {rep + 1} embedded Broadcaster{', records held' if hold else ''}: "
          f"{cpu or float('nan'):.2f} us/record, {embedded['rate'] if embedded else 0:,.0f} rec/s", flush=True)
    return cpu


def _ratio(serve_us: float | None, embedded_us: float | None) -> float | None:
    return serve_us / embedded_us if serve_us and embedded_us else None


def summarize(rows: list[dict[str, Any]], workers: list[int]) -> list[dict[str, Any]]:
    out = []
    head = ("route", "workers", "offered", "accepted rec/s", "delivered rec/s", "serve us/rec", "vs embedded",
            "vs held", f"vs {workers[0]} worker" if len(workers) > 1 else "", "p50 ms", "p99 ms")
    lines = []
    keys = sorted({(r["route"], r["workers"], str(r["offered"])) for r in rows},
                  key=lambda k: (k[0], float("inf") if k[2] == "flat" else float(k[2]), k[1]))
    for route, w, offered in keys:
        mine = [r for r in rows if (r["route"], r["workers"], str(r["offered"])) == (route, w, offered)]
        base = [r for r in rows if (r["route"], r["workers"], str(r["offered"])) == (route, workers[0], offered)]
        scale = report.ratio_spread([b["accepted_per_s"] for b in base], [m["accepted_per_s"] for m in mine]) \
            if w != workers[0] else None
        entry = {"route": route, "workers": w, "offered": offered,
                 "accepted_per_s": report.spread([r["accepted_per_s"] for r in mine]),
                 "delivered_per_s": report.spread([r["delivered_per_s"] for r in mine]),
                 "cpu_us_per_record": report.spread([r["cpu_us_per_record"] for r in mine]),
                 "ratio_to_embedded": report.spread([r["ratio_to_embedded"] for r in mine]),
                 "ratio_to_embedded_held": report.spread([r["ratio_to_embedded_held"] for r in mine]),
                 "scaling": scale,
                 "latency_ms_p50": statistics.median(r["latency_ms_p50"] for r in mine),
                 "latency_ms_p99": statistics.median(r["latency_ms_p99"] for r in mine)}
        out.append(entry)
        lines.append((route, str(w), offered, report.fmt_spread(entry["accepted_per_s"]),
                      report.fmt_spread(entry["delivered_per_s"]), report.fmt_spread(entry["cpu_us_per_record"], 2),
                      report.fmt_ratio(entry["ratio_to_embedded"]), report.fmt_ratio(entry["ratio_to_embedded_held"]),
                      report.fmt_ratio(scale) if scale else "",
                      f"{entry['latency_ms_p50']:.1f}", f"{entry['latency_ms_p99']:.1f}"))
    emb, held = (report.spread([r[key] for r in rows if r["route"] == rows[0]["route"] and r["workers"] == workers[0]])
                 if rows else None for key in ("embedded_cpu_us_per_record", "embedded_held_cpu_us_per_record"))
    print()
    report.print_rows(head, lines, left=(0, 2))
    print(f"\n  embedded Broadcaster, same records, one destination: {report.fmt_spread(emb, 2)} us/record (CPU of the"
          f" whole process per delivered record; each record freed once delivered, as an app's); the caller's list"
          f" holding every record: {report.fmt_spread(held, 2)} us/record")
    print(f"  OpenTelemetry Collector, published (its CI load test: 10k spans/s in <= 0.2 core): <= "
          f"{COLLECTOR_US_PER_SPAN:.0f} us/span")
    print("  accepted = records answered 202/200 per second of the client's run; delivered = counted by the sink, from"
          " the client's first request to the last delivery (so a run's tail, up to the 0.2 s flush interval, counts);"
          " serve us/rec = serve's CPU (every worker) from before the client starts to the last delivery, per"
          " delivered record; vs embedded = that over the embedded path's, same"
          " repeat; vs held = over the records-held one's; vs 1 worker = accepted rec/s over the 1-worker run's, same repeat")
    return out


if __name__ == "__main__":
    sys.exit(bench(sys.argv[1:]))
