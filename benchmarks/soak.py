"""Soak: spancast serve with a spool, at a steady rate, its destination down and up in turn, kill -9 half-way: RSS, loss, duplicates.

A client process posts records at --rate (benchmarks/soak_client.py) and notes which got 202. The one
destination (a local OTLP receiver in this process, counting generation ids) answers 503 for --flap-s,
then 200 for --flap-s, and so on. Half-way, serve is killed with SIGKILL and started again at once on the
same port, while the client keeps posting (in the middle of the "up" period nearest half-way, so
that batches are in flight). At the end the client stops, the destination stays up, and
the suite waits for every acknowledged record to arrive, then stops serve with SIGTERM. It reports the
serve process's RSS over time (per run), records acknowledged, missing (must be 0), delivered but not
acknowledged (answers the kill cut off), and duplicates, against the README's bound: the batches in
flight at the kill (max_concurrency x max_batch_records).

    python -m benchmarks soak                 # 10 minutes at 1,000 records/s, flapping every 30 s
    python -m benchmarks soak --quick         # about 20 s (CI runs this: tests/test_soak.py)
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

if __package__ in (None, ""):  # run as `python benchmarks/soak.py`
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from aiohttp import web

from benchmarks import report

COLUMNS = ("t_s", "run", "rss_mb", "acked", "delivered_unique", "destination_up", "spool_bytes", "spooled_records")
MAX_BATCH_RECORDS, MAX_CONCURRENCY = 512, 32  # the pipeline's defaults, which the soak runs with

CONFIG = """
[spool]
directory = "{spool}"
[[destinations]]
type = "otel-collector"
name = "flapping"
endpoint = "{endpoint}"
"""


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m benchmarks soak", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--quick", action="store_true", help="20 s at 500 records/s, flapping every 3 s (CI)")
    p.add_argument("--duration-s", type=float, help="how long the client posts (default 600; --quick 20)")
    p.add_argument("--rate", type=float, help="records per second (default 1000; --quick 500)")
    p.add_argument("--flap-s", type=float, help="the destination is down, then up, this long each (default 30; --quick 3)")
    p.add_argument("--drain-timeout-s", type=float, default=180.0, help="at most this long for the last records")
    p.add_argument("--out", default=str(report.DEFAULT_OUT), help="directory for the CSV/JSON result files")
    return p


class FlappingSink:
    """An OTLP/HTTP receiver on its own thread and loop: counts each generation id it accepts; answers 503
    while down."""

    def __init__(self) -> None:
        self.up = True
        self.ids: collections.Counter[str] = collections.Counter()
        self.loop = asyncio.new_event_loop()
        self.port = 0
        self._runner: web.AppRunner | None = None
        self._thread = threading.Thread(target=self.loop.run_forever, daemon=True)

    async def _handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        if not self.up:
            return web.Response(status=503)
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        for rs in ExportTraceServiceRequest.FromString(body).resource_spans:
            for ss in rs.scope_spans:
                for span in ss.spans:
                    for kv in span.attributes:
                        if kv.key == "gen_ai.response.id":
                            self.ids[kv.value.string_value] += 1
        return web.Response(status=200)

    async def _start(self) -> None:
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_post("/v1/traces", self._handle)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]

    def start(self) -> str:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self.loop).result(10)
        return f"http://127.0.0.1:{self.port}/v1/traces"

    def snapshot(self) -> collections.Counter[str]:
        async def copy() -> collections.Counter[str]:
            return collections.Counter(self.ids)

        return asyncio.run_coroutine_threadsafe(copy(), self.loop).result(30)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join(10)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_serve(workdir: Path, port: int) -> subprocess.Popen:
    log = open(workdir / "serve.log", "a")  # noqa: SIM115 - the child writes it; closed with the process
    proc = subprocess.Popen([sys.executable, "-m", "spancast.cli", "serve", "--config", "spancast.toml",
                             "--port", str(port)], cwd=workdir, stderr=log, stdout=log)
    deadline = time.monotonic() + 60
    while "serving on" not in (workdir / "serve.log").read_text():
        if proc.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"serve did not start: {(workdir / 'serve.log').read_text()[-2000:]}")
        time.sleep(0.05)
    return proc


def rss_mb(pid: int) -> float | None:
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    found = re.search(r"VmRSS:\s+(\d+) kB", text)
    return int(found.group(1)) / 1024 if found else None


def metrics(url: str) -> dict[str, float]:
    out: dict[str, float] = {}
    try:
        with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
            for line in answer.read().decode().splitlines():
                if line.startswith("spancast_") and " " in line:
                    name, value = line.rsplit(" ", 1)
                    out[name] = float(value)
    except OSError:
        pass
    return out


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def run_soak(args: argparse.Namespace, workdir: Path) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    sink = FlappingSink()
    endpoint = sink.start()
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    (workdir / "spancast.toml").write_text(CONFIG.format(spool=workdir / "spool", endpoint=endpoint))
    sent, acked = workdir / "sent.txt", workdir / "acked.txt"
    rows: list[dict[str, Any]] = []
    serve = start_serve(workdir, port)
    client = subprocess.Popen([sys.executable, "-m", "benchmarks.soak_client", url, str(sent), str(acked),
                               "--rate", str(args.rate)], cwd=Path(__file__).resolve().parent.parent)
    started = time.monotonic()
    run, killed_at, at_kill = 1, None, {}
    up_periods = int(args.duration_s / 2 // args.flap_s)  # the destination is up in the odd periods
    kill_at = (up_periods - (up_periods % 2 == 0) + 0.5) * args.flap_s
    try:
        while (elapsed := time.monotonic() - started) < args.duration_s:
            time.sleep(1.0)
            sink.up = int(elapsed // args.flap_s) % 2 == 1  # down first: the spool fills from the start
            m = metrics(url)
            rows.append({"t_s": round(elapsed, 1), "run": run, "rss_mb": rss_mb(serve.pid), "acked": len(lines(acked)),
                         "delivered_unique": None, "destination_up": sink.up,
                         "spool_bytes": m.get("spancast_spool_bytes"),
                         "spooled_records": m.get('spancast_records_spooled{destination="flapping",type="otel-collector"}')})
            if run == 1 and elapsed >= kill_at:
                at_kill = m
                serve.send_signal(signal.SIGKILL)  # mid-stream: requests, batches and fsyncs in flight
                serve.wait(10)
                killed_at, run = elapsed, 2
                serve = start_serve(workdir, port)
        client.terminate()
        client.wait(10)
        sink.up = True
        acknowledged = set(lines(acked))
        deadline = time.monotonic() + args.drain_timeout_s
        while not acknowledged <= set(sink.snapshot()) and time.monotonic() < deadline:
            time.sleep(0.5)
        final = metrics(url)
        serve.send_signal(signal.SIGTERM)
        exit_status = serve.wait(60)
    finally:
        for proc in (client, serve):
            if proc.poll() is None:
                proc.kill()
        got = sink.snapshot()
        sink.stop()
    attempted = set(lines(sent))
    in_flight_at_kill = at_kill.get('spancast_in_flight_records{destination="flapping",type="otel-collector"}', 0.0)
    summary = {
        "duration_s": args.duration_s, "rate_per_s": args.rate, "flap_s": args.flap_s, "killed_at_s": killed_at,
        "sent": len(attempted), "acked": len(acknowledged), "delivered_unique": len(got),
        "missing": len(acknowledged - set(got)), "unacked_delivered": len(set(got) - acknowledged),
        "unknown_delivered": len(set(got) - attempted),
        "duplicates": sum(n - 1 for n in got.values()), "duplicate_bound": MAX_CONCURRENCY * MAX_BATCH_RECORDS,
        "in_flight_at_kill": in_flight_at_kill, "exit_status": exit_status,
        "replayed_records": final.get("spancast_spool_replayed_records_total"),
        "redelivered_records": final.get("spancast_spool_redelivered_records_total"),
        **rss_summary(rows),
    }
    summary["ok"] = (summary["missing"] == 0 and summary["unknown_delivered"] == 0 and exit_status == 0
                     and summary["duplicates"] <= summary["duplicate_bound"] and summary["rss_flat"])
    return summary, rows


def rss_summary(rows: list[dict[str, Any]]) -> dict[str, Any]:
    """RSS per run: after a warm-up (its first quarter), the median of the next quarter against the peak
    of its last quarter; flat when the peak is within 25% + 16 MB of that median."""
    out: dict[str, Any] = {"rss_flat": True}
    for run in (1, 2):
        values = [r["rss_mb"] for r in rows if r["run"] == run and r["rss_mb"] is not None]
        if len(values) < 8:
            continue
        q = len(values) // 4
        early, late = statistics.median(values[q : 2 * q]), max(values[-q:])
        out[f"rss_run{run}_early_mb"], out[f"rss_run{run}_late_peak_mb"] = round(early, 1), round(late, 1)
        out["rss_flat"] = out["rss_flat"] and late <= early * 1.25 + 16
    return out


def bench(argv: list[str]) -> int:
    args = build_parser().parse_args(argv)
    args.duration_s = args.duration_s or (20.0 if args.quick else 600.0)
    args.rate = args.rate or (500.0 if args.quick else 1000.0)
    args.flap_s = args.flap_s or (3.0 if args.quick else 30.0)
    env = report.suite_environment("soak", f"soak: {args.duration_s:g} s at {args.rate:g} records/s, the destination "
                                           f"down/up every {args.flap_s:g} s, kill -9 half-way")
    with tempfile.TemporaryDirectory(prefix="spancast-soak-") as tmp:
        summary, rows = run_soak(args, Path(tmp))
    report.print_rows(["figure", "value"], [[k, str(v)] for k, v in summary.items()])
    report.write_results("soak", args.out, rows, COLUMNS, {"environment": env, "summary": summary,
                                                           "settings": {k: v for k, v in vars(args).items()}})
    print("\nsoak " + ("passed" if summary["ok"] else "FAILED"))
    return 0 if summary["ok"] else 1


if __name__ == "__main__":
    sys.exit(bench(sys.argv[1:]))
