"""Kill -9 mid-stream, and with the spool full: after a restart, every record spancast serve answered 202 for reaches the sink."""

from __future__ import annotations

import collections
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from spancast.testing.sink import OtlpSink, Reply

from conftest import free_port
from sinkthread import SinkThread

MAX_BATCH_RECORDS = 50
MAX_CONCURRENCY = 4

CONFIG = """
[pipeline]
flush_interval_s = 0.05
max_batch_records = {batch}
initial_concurrency = {concurrency}
max_concurrency = {concurrency}
shutdown_timeout_s = 5
[pipeline.retry]
initial_backoff_s = 0.05
max_backoff_s = 0.2
max_attempts = 1000
max_retry_elapsed_s = 600
[spool]
directory = "spool"
fsync = "batch"
{spool}
[[destinations]]
type = "otel-collector"
name = "sink"
endpoint = "{endpoint}"
"""

# The client: posts 20 records every 20 ms (1,000 records/s) unless told otherwise, notes each id before
# posting and again once 202 came back, until it is stopped. A separate process, as a gateway would be.
EMITTER = textwrap.dedent("""
    import json, sys, time, urllib.request
    url, sent_path, acked_path = sys.argv[1:4]
    prefix, pause_s, text = (sys.argv[4], float(sys.argv[5]), int(sys.argv[6])) if len(sys.argv) > 4 else ("crash", 0.02, 200)
    n = 0
    with open(sent_path, "a") as sent, open(acked_path, "a") as acked:
        while True:
            ids = [f"{prefix}-{n + i}" for i in range(20)]
            n += 20
            now = time.time_ns()
            body = "\\n".join(json.dumps({"id": i, "model": "m", "start_time_ns": now, "end_time_ns": now,
                                         "completion": "x" * text}) for i in ids).encode()
            sent.write("\\n".join(ids) + "\\n"); sent.flush()
            try:
                req = urllib.request.Request(url + "/v1/generations", data=body,
                                             headers={"Content-Type": "application/x-ndjson"})
                with urllib.request.urlopen(req, timeout=30) as r:
                    answer = json.loads(r.read())
                    if r.status == 202 and answer["accepted"] == 20:
                        acked.write("\\n".join(ids) + "\\n"); acked.flush()
            except Exception:
                pass
            time.sleep(pause_s)
""")


def serve(tmp_path: Path, port: int = 0) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "spancast.cli", "serve", "--config", "spancast.toml", "--port", str(port)],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            # Read the rest as it comes (a full pipe would block the server's logging), for the test to see.
            proc.log = []  # type: ignore[attr-defined]
            threading.Thread(target=lambda: proc.log.extend(proc.stderr), daemon=True).start()  # type: ignore[attr-defined]
            return proc, found.group(1)
    raise AssertionError(f"serve exited with {proc.wait()}")


def readyz(url: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=5) as answer:
            return answer.status, json.loads(answer.read())["reason"]
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())["reason"]


def metric(url: str, name: str) -> float:
    with urllib.request.urlopen(url + "/metrics", timeout=5) as answer:
        for line in answer.read().decode().splitlines():
            if line.startswith(name + " "):
                return float(line.split()[1])
    raise AssertionError(f"no {name} in /metrics")


def replayed(url: str) -> bool:
    return metric(url, "spancast_spool_old_segments") == 0


def lines(path: Path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def wait_for(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.mark.parametrize("sink_down_at_kill", [False, True], ids=["sink-up", "sink-down"])
def test_sigkill_mid_stream_loses_nothing_that_was_acknowledged(tmp_path, sink_down_at_kill):
    sink = OtlpSink(default=Reply.error(503) if sink_down_at_kill else Reply.ok())
    threaded = SinkThread(sink)
    with threaded as s:
        (tmp_path / "spancast.toml").write_text(CONFIG.format(endpoint=s.url, batch=MAX_BATCH_RECORDS,
                                                              concurrency=MAX_CONCURRENCY, spool=""))
        first, url = serve(tmp_path)
        sent, acked = tmp_path / "sent.txt", tmp_path / "acked.txt"
        emitter = subprocess.Popen([sys.executable, "-c", EMITTER, url, str(sent), str(acked)])
        try:
            wait_for(lambda: len(lines(acked)) >= 1500, 60, "1,500 acknowledged records")
            os.kill(first.pid, signal.SIGKILL)  # mid-stream: requests, batches and fsyncs in flight
            first.wait(10)
        finally:
            emitter.terminate()
            emitter.wait(10)
        delivered_before = set(s.generation_ids())
        acknowledged, attempted = set(lines(acked)), set(lines(sent))
        if sink_down_at_kill:
            assert delivered_before == set()
            threaded.call(lambda sink: setattr(sink, "default", Reply.ok()))
        second, url = serve(tmp_path)
        try:
            wait_for(lambda: acknowledged <= set(s.generation_ids()), 60, "every acknowledged record")
            wait_for(lambda: replayed(url), 60, "the end of the replay")
        finally:
            second.send_signal(signal.SIGTERM)
            assert second.wait(30) == 0
        got = s.generation_ids()
    # Exactly the acknowledged records, plus at most those of the one request whose answer the kill cut off.
    assert acknowledged <= set(got) <= attempted
    assert len(set(got) - acknowledged) <= 20
    # Duplicates only from what was in flight at the kill: at most the batches the sender had out.
    duplicates = sum(n - 1 for n in collections.Counter(got).values())
    assert duplicates <= MAX_BATCH_RECORDS * MAX_CONCURRENCY * 2
    assert list((tmp_path / "spool").glob("*.seg")) == []  # all settled: the restart's clean exit left nothing


def test_a_full_spool_recovers_under_live_traffic_after_kill_9(tmp_path):
    """Issue 16, case 1. The previous run filled the spool (max_bytes) while the destination was down and
    was killed; a client keeps posting 20 records every 200 ms while it restarts. Replay must progress
    under that load, the spool must take new records again as old ones are delivered (refusing them
    meanwhile, at once and saying why), /readyz must turn 200 while the client still posts, and every
    acknowledged record must arrive."""
    sink = OtlpSink(default=Reply.error(503))
    threaded = SinkThread(sink)
    port = free_port()
    with threaded as s:
        (tmp_path / "spancast.toml").write_text(CONFIG.format(
            endpoint=s.url, batch=MAX_BATCH_RECORDS, concurrency=MAX_CONCURRENCY,
            spool="max_bytes = 2097152\nsegment_bytes = 262144"))
        first, url = serve(tmp_path, port)
        sent, acked = tmp_path / "sent.txt", tmp_path / "acked.txt"
        filler = subprocess.Popen([sys.executable, "-c", EMITTER, url, str(sent), str(acked), "fill", "0.005", "2000"])
        try:  # until the spool is full: the server then refuses at once, and says why
            wait_for(lambda: readyz(url)[1].startswith("spool full"), 60, "a full spool")
        finally:
            filler.terminate()
            filler.wait(10)
        assert readyz(url)[0] == 503
        os.kill(first.pid, signal.SIGKILL)
        first.wait(10)
        assert len(lines(acked)) > 500 and s.generation_ids() == []
        threaded.call(lambda sink: setattr(sink, "default", Reply.ok()))
        live = subprocess.Popen([sys.executable, "-c", EMITTER, url, str(sent), str(acked), "live", "0.2", "200"])
        second = None
        try:
            second, _ = serve(tmp_path, port)  # the client is posting already
            wait_for(lambda: readyz(url)[0] == 200 and replayed(url), 60, "the end of the replay, clients posting")
            assert live.poll() is None  # the traffic never stopped
            taken = len(lines(acked))
            wait_for(lambda: len(lines(acked)) >= taken + 100, 60, "live records taken after the replay")
            live.terminate()
            live.wait(10)
            acknowledged = set(lines(acked))
            wait_for(lambda: acknowledged <= set(s.generation_ids()), 60, "every acknowledged record")
        finally:
            if live.poll() is None:
                live.kill()
            if second is not None:
                second.send_signal(signal.SIGTERM)
                assert second.wait(30) == 0
        got = s.generation_ids()
    assert acknowledged <= set(got) and any(i.startswith("fill") for i in acknowledged)
    duplicates = sum(n - 1 for n in collections.Counter(got).values())
    assert duplicates <= MAX_BATCH_RECORDS * MAX_CONCURRENCY * 2
