"""Kill -9 mid-stream: after a restart, every record spancast serve answered 202 for reaches the sink."""

from __future__ import annotations

import collections
import os
import re
import signal
import subprocess
import sys
import textwrap
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from spancast.testing.sink import OtlpSink, Reply

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
[[destinations]]
type = "otel-collector"
name = "sink"
endpoint = "{endpoint}"
"""

# The client: posts 20 records every 20 ms (1,000 records/s), notes each id before posting and again
# once 202 came back, until it is stopped. A separate process, as a gateway would be.
EMITTER = textwrap.dedent("""
    import json, sys, time, urllib.request
    url, sent_path, acked_path = sys.argv[1:4]
    n = 0
    with open(sent_path, "a") as sent, open(acked_path, "a") as acked:
        while True:
            ids = [f"crash-{n + i}" for i in range(20)]
            n += 20
            now = time.time_ns()
            body = "\\n".join(json.dumps({"id": i, "model": "m", "start_time_ns": now, "end_time_ns": now,
                                         "completion": "x" * 200}) for i in ids).encode()
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
            time.sleep(0.02)
""")


def serve(tmp_path: Path) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "spancast.cli", "serve", "--config", "spancast.toml", "--port", "0"],
                            cwd=tmp_path, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        found = re.search(r"serving on (http://\S+)", line)
        if found:
            return proc, found.group(1)
    raise AssertionError(f"serve exited with {proc.wait()}")


def ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/readyz", timeout=5) as answer:
            return answer.status == 200
    except urllib.error.HTTPError:
        return False  # 503 while the spool replays


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
                                                              concurrency=MAX_CONCURRENCY))
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
            wait_for(lambda: ready(url), 60, "the end of the replay (/readyz)")
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
