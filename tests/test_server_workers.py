"""spancast serve --workers 2, for real: one port, both workers take and deliver records, one merged /metrics,
one SIGTERM drains all, per-worker spool directories, exit status aggregated."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

import msgspec
from prometheus_client.parser import text_string_to_metric_families

from spancast.testing.sink import OtlpSink

from conftest import free_port, full_record
from sinkthread import SinkThread

TOTAL = 40 * 25


def get(url: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=10) as answer:
            return answer.status, answer.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()
    except OSError:
        return 0, b""


def post(url: str, body: bytes) -> int:
    # urllib opens a connection per request: the kernel spreads them over the workers (SO_REUSEPORT)
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/x-ndjson"})
    with urllib.request.urlopen(request, timeout=30) as answer:
        return answer.status


def counters(text: str) -> dict[str, float]:
    out: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        for s in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()))
            out[f"{s.name}{{{labels}}}"] = s.value
    return out


def wait_until(condition, timeout_s: float = 60.0):
    deadline = time.monotonic() + timeout_s
    while not (result := condition()):
        assert time.monotonic() < deadline, "condition not reached in time"
        time.sleep(0.05)  # polls a condition; no assertion depends on how long it took
    return result


def test_two_workers_share_a_port_deliver_merge_metrics_and_drain_on_one_signal(tmp_path):
    with SinkThread(OtlpSink()) as sink:
        port = free_port()
        (tmp_path / "spancast.toml").write_text(
            f'[pipeline]\nflush_interval_s = 0.05\n\n[spool]\ndirectory = "spool"\n\n'
            f'[[destinations]]\ntype = "otel-collector"\nname = "sink"\nendpoint = "{sink.url}"\n\n'
            f'[[destinations]]\ntype = "file"\ndirectory = "out"\n')
        proc = subprocess.Popen([sys.executable, "-m", "spancast.cli", "serve", "--config", "spancast.toml",
                                 "--port", str(port), "--workers", "2"], cwd=tmp_path, stderr=subprocess.PIPE, text=True)
        base = f"http://127.0.0.1:{port}"
        # serve announces itself once every worker listens; until then the kernel hands connections to the
        # workers already listening, so a /readyz from one of them says nothing of the other
        lines: list[str] = []
        reader = threading.Thread(target=lambda: lines.extend(proc.stderr), daemon=True)
        reader.start()
        try:
            wait_until(lambda: any("serving on" in line for line in lines))
            wait_until(lambda: get(base + "/readyz")[0] == 200)
            ids = []
            for k in range(40):
                records = [full_record(k * 25 + i) for i in range(25)]
                ids += [r.id for r in records]
                assert post(base + "/v1/generations", b"\n".join(msgspec.json.encode(r) for r in records)) == 202
            sink_ids = wait_until(lambda: (got := set(sink.generation_ids())) >= set(ids) and got)
            # merged: the sum over both workers, once each has mirrored its values (every second)
            metrics = wait_until(lambda: (m := counters(get(base + "/metrics")[1].decode()))
                                 .get("spancast_records_delivered_total{destination=sink,type=otel-collector}") == TOTAL
                                 and m)
            assert metrics["spancast_ingest_records_total{outcome=accepted,route=/v1/generations}"] == TOTAL
            assert metrics["spancast_records_received_total{destination=sink,type=otel-collector}"] == TOTAL
            assert metrics["spancast_records_dropped_total{destination=sink,reason=queue_full,type=otel-collector}"] == 0
            assert [v for k, v in metrics.items() if k.startswith("spancast_info{")] == [1]  # one series, not two
            assert metrics["spancast_batch_records_count{destination=sink,type=otel-collector}"] >= 2
            proc.send_signal(signal.SIGTERM)
            status = proc.wait(60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
        reader.join(10)
        log = "".join(lines)
    assert status == 0, log
    assert sink_ids == set(ids) and len(ids) == TOTAL
    # both workers took records, delivered them and drained on the one signal
    delivered = {int(w): int(n) for w, n in re.findall(r"\[worker (\d)\]: spancast: at exit, sink: delivered (\d+)", log)}
    assert sorted(delivered) == [0, 1] and all(delivered.values()) and sum(delivered.values()) == TOTAL, log
    assert log.count("draining") == 2
    assert sorted(p.name for p in (tmp_path / "spool").iterdir()) == ["worker-0", "worker-1"]
    # a file destination: one file per worker, never two processes appending to (and rotating) one
    files = sorted((tmp_path / "out").iterdir())
    assert [f.name for f in files] == ["traces-worker-0.jsonl", "traces-worker-1.jsonl"]
    written = [kv["value"]["stringValue"] for f in files for line in f.read_bytes().splitlines()
               for rs in msgspec.json.decode(line)["resourceSpans"] for ss in rs["scopeSpans"] for span in ss["spans"]
               for kv in span["attributes"] if kv["key"] == "gen_ai.response.id"]
    assert sorted(written) == sorted(ids)


def test_a_worker_that_cannot_start_fails_the_whole_serve(tmp_path):
    (tmp_path / "spool").write_text("a file where the spool directory should be")
    (tmp_path / "spancast.toml").write_text('[spool]\ndirectory = "spool"\n\n[[destinations]]\ntype = "file"\n')
    proc = subprocess.run([sys.executable, "-m", "spancast.cli", "serve", "--config", "spancast.toml", "--port",
                           str(free_port()), "--workers", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    assert "worker 0 exited with status 2 before it listened" in proc.stderr
    assert "spool" in proc.stderr


def test_the_supervisor_waits_for_a_workers_line_only_until_its_deadline():
    from spancast.server_workers import _first_line

    def first(script: str, timeout_s: float):
        proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE)
        try:
            return _first_line(proc.stdout, timeout_s)
        finally:
            proc.kill()
            proc.wait()
            proc.stdout.close()

    assert first("print('spancast-worker-ready', flush=True)", 30) == "spancast-worker-ready"
    assert first("pass", 30) == ""  # exited without a word: EOF
    # stuck in start-up: None once the time is up (a readline would wait for as long as the worker does)
    assert first("import time; time.sleep(60)", 0.2) is None
