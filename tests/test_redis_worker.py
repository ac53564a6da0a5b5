"""spancast worker against a real redis-server: workers share a consumer group, survive a SIGKILL, pause when full, drain on SIGTERM."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter

import msgspec
import pytest

from redisserver import RedisServer, free_port
from sinkthread import SinkThread
from spancast import Broadcaster, Generation
from spancast.cli import main
from spancast.testing.sink import Expect, OtlpSink, Reply

STREAM, GROUP = "gen", "exporters"


@pytest.fixture
def redis_server(tmp_path):
    with RedisServer(tmp_path) as server:
        yield server


def record(i: int) -> Generation:
    return Generation(id=f"rec-{i:06d}", model="m", start_time_ns=1_732_000_000_000_000_000 + i,
                      end_time_ns=1_732_000_000_500_000_000 + i)


def otlp_ids(body: bytes, content_type: str) -> list[str]:
    """The generation ids of an OTLP protobuf body, and nothing else: a 100k-record sink stays small and quick."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    msg = ExportTraceServiceRequest()
    msg.ParseFromString(body)
    return [kv.value.string_value for rs in msg.resource_spans for ss in rs.scope_spans for s in ss.spans
            for kv in s.attributes if kv.key == "gen_ai.response.id"]


def sink(default: Reply | None = None) -> SinkThread:
    return SinkThread(OtlpSink(Expect(decode=otlp_ids), default=default))


def delivered(s: OtlpSink) -> int:
    return sum(len(r.ids) for r in list(s.received))


def produce(server: RedisServer, n: int, start: int = 0) -> None:
    """XADD n records through the redis destination, as a gateway would."""
    with Broadcaster([{"type": "redis", "url": server.url, "stream": STREAM, "maxlen": 0}],
                     max_batch_records=1000) as b:
        for i in range(start, start + n):
            assert b.emit(record(i))
        assert b.flush(60)


def config(tmp_path, s: OtlpSink, timeout_s: float = 10.0, retry: str = "") -> str:
    path = tmp_path / "worker.toml"
    path.write_text(f"[pipeline]\nmax_batch_records = 1000\nflush_interval_s = 0.05\nshutdown_timeout_s = 10\n{retry}\n"
                    f'[[destinations]]\ntype = "otel-collector"\nendpoint = "{s.url}"\ntimeout_s = {timeout_s}\n')
    return str(path)


class Worker:
    """One `spancast worker` process; its log goes to a file (a pipe could fill and stall it)."""

    def __init__(self, server: RedisServer, tmp_path, cfg: str, consumer: str, *extra: str, env: dict | None = None):
        self.log = tmp_path / f"{consumer}.log"
        url = [] if env else ["--redis", server.url]
        with open(self.log, "wb") as out:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "spancast.cli", "worker", *url, "--stream", STREAM, "--group", GROUP,
                 "--consumer", consumer, "--config", cfg, *extra],
                stdout=subprocess.DEVNULL, stderr=out, env={**os.environ, **(env or {})})

    def stop(self, timeout_s: float = 30.0) -> int:
        self.process.send_signal(signal.SIGTERM)
        return self.process.wait(timeout_s)

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)

    @property
    def text(self) -> str:
        return self.log.read_text()

    def counters(self) -> dict[str, int]:
        """read, acked, claimed, invalid, ... from the final log line."""
        (line,) = [line for line in self.text.splitlines() if "stopped: <StreamWorker" in line]
        return {k: int(v) for k, v in re.findall(r"(\w+)=(\d+)", line)}


def wait_until(condition, timeout_s: float = 30.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what}: not met within {timeout_s}s"
        time.sleep(0.05)  # polling a condition under the deadline above


def pending(server: RedisServer, consumer: str | None = None) -> int:
    import redis

    try:
        summary = server.client().xpending(STREAM, GROUP)
    except redis.ResponseError:  # NOGROUP: no worker has created it yet
        return 0
    if consumer is None:
        return summary["pending"]
    return next((c["pending"] for c in summary["consumers"] if c["name"] == consumer.encode()), 0)


def test_three_workers_share_100k_records_and_a_killed_one_loses_nothing(tmp_path, redis_server):
    n = 100_000
    produce(redis_server, n)
    with sink() as s:
        cfg = config(tmp_path, s)
        workers = [Worker(redis_server, tmp_path, cfg, f"w{i}", "--batch", "1000", "--max-unacked", "3000",
                          "--min-idle-s", "5") for i in range(3)]
        try:
            wait_until(lambda: delivered(s) >= 30_000 and pending(redis_server, "w0") > 0, 60, "w0 mid-stream")
            workers[0].process.send_signal(signal.SIGKILL)
            workers[0].process.wait(10)
            # What the dead worker held: read, maybe delivered, not acknowledged. Nobody can claim it for 5 s.
            held = redis_server.client().xpending_range(STREAM, GROUP, "-", "+", n, consumername="w0")
            assert held
            with redis_server.client().pipeline(transaction=False) as pipe:
                for entry in held:
                    pipe.xrange(STREAM, entry["message_id"], entry["message_id"])
                in_flight = {_id(got) for got in pipe.execute()}
            wait_until(lambda: delivered(s) >= n and pending(redis_server) == 0, 60, "every record, nothing pending")
            assert [w.stop() for w in workers[1:]] == [0, 0]
        finally:
            for w in workers:
                w.kill()
        counts = Counter(s.generation_ids())
    assert set(counts) == {record(i).id for i in range(n)}
    duplicates = {i for i, c in counts.items() if c > 1}
    assert duplicates <= in_flight  # only what the dead worker held can arrive twice
    survivors = [w.counters() for w in workers[1:]]
    assert sum(c["claimed"] for c in survivors) >= len(held) and all(c["invalid"] == 0 for c in survivors)
    assert pending(redis_server) == 0


def _id(xrange_reply) -> str:
    ((_, fields),) = xrange_reply
    return msgspec.json.decode(fields[b"record"], type=Generation).id


def test_a_stalled_destination_stops_the_reading_not_the_memory(tmp_path, redis_server):
    n, max_unacked = 20_000, 1000
    produce(redis_server, n)
    retry = "[pipeline.retry]\nmax_attempts = 1000\nmax_retry_elapsed_s = 120\ninitial_backoff_s = 0.01\nmax_backoff_s = 0.05\n"
    thread = sink(default=Reply.stall())
    with thread as s:
        w = Worker(redis_server, tmp_path, config(tmp_path, s, timeout_s=0.3, retry=retry), "w", "--batch", "200",
                   "--max-unacked", str(max_unacked), "--min-idle-s", "60")
        try:
            wait_until(lambda: pending(redis_server) == max_unacked, 30, "the worker reads up to max_unacked")
            seen = len(s.replies)
            # Requests keep timing out and coming back: time passes with the reading paused.
            wait_until(lambda: len(s.replies) >= seen + 6, 30, "retries while stalled")
            group = redis_server.client().xinfo_groups(STREAM)[0]
            assert pending(redis_server) == max_unacked and group["lag"] == n - max_unacked
            assert delivered(s) == 0
            thread.call(lambda sink_: setattr(sink_, "default", Reply.ok()))
            wait_until(lambda: pending(redis_server) == 0 and delivered(s) >= n, 60, "everything once unstalled")
            assert w.stop() == 0
        finally:
            w.kill()
        ids = set(s.generation_ids())
    assert ids == {record(i).id for i in range(n)}
    counters = w.counters()
    assert counters["read"] == n and counters["pauses"] >= 1


def test_invalid_entries_are_counted_logged_once_per_field_and_acked(tmp_path, redis_server):
    client = redis_server.client()
    good = [record(i) for i in range(5)]
    for r in good[:3]:
        client.xadd(STREAM, {"record": msgspec.json.encode(r)})
    client.xadd(STREAM, {"record": b"not json"})
    client.xadd(STREAM, {"record": b'{"id": 5, "model": "m", "start_time_ns": 1, "end_time_ns": 2}'})
    client.xadd(STREAM, {"record": b'{"id": 6, "model": "m", "start_time_ns": 1, "end_time_ns": 2}'})
    client.xadd(STREAM, {"other": b"{}"})
    for r in good[3:]:
        client.xadd(STREAM, {"record": msgspec.json.encode(r)})
    with sink() as s:
        w = Worker(redis_server, tmp_path, config(tmp_path, s), "w", "--min-idle-s", "60")
        try:
            wait_until(lambda: delivered(s) == 5 and pending(redis_server) == 0, 30, "good ones delivered, all acked")
            assert w.stop() == 0
        finally:
            w.kill()
        assert sorted(s.generation_ids()) == [r.id for r in good]
    counters = w.counters()
    assert counters["invalid"] == 4 and counters["read"] == 9 and counters["acked"] == 9
    warnings = [line for line in w.text.splitlines() if "invalid entry" in line]
    assert len(warnings) == 3  # <record> (not JSON), id (twice: logged once), record (no such field)
    assert any(": id: " in line for line in warnings)


def test_sigterm_drains_acks_what_settled_and_a_restart_finishes_the_stream(tmp_path, redis_server):
    n = 6000
    produce(redis_server, n)
    with sink(default=Reply.stall(0.2)) as s:
        cfg = config(tmp_path, s)
        first = Worker(redis_server, tmp_path, cfg, "first", "--batch", "500", "--max-unacked", "2000",
                       env={"SPANCAST_REDIS_URL": redis_server.url})
        try:
            wait_until(lambda: len(s.replies) >= 1, 30, "a first request")
            assert first.stop() == 0  # drained within the deadline: what it read reached the sink and was acked
        finally:
            first.kill()
        counters = first.counters()
        assert 0 < counters["read"] < n and counters["acked"] == counters["read"] == delivered(s)
        assert pending(redis_server) == 0
        assert b"first" not in [c["name"] for c in redis_server.client().xinfo_consumers(STREAM, GROUP)]  # it left
        second = Worker(redis_server, tmp_path, cfg, "second", "--batch", "500")
        try:
            wait_until(lambda: delivered(s) >= n and pending(redis_server) == 0, 60, "the rest")
            assert second.stop() == 0
        finally:
            second.kill()
        assert sorted(s.generation_ids()) == [record(i).id for i in range(n)]  # each once


def test_worker_cannot_start_without_a_usable_redis(redis_server, capsys):
    assert main(["worker", "--stream", STREAM, "--group", GROUP]) == 2
    assert "--redis URL is required" in capsys.readouterr().err
    assert main(["worker", "--redis", "http://x", "--stream", STREAM, "--group", GROUP]) == 2
    refused = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    assert main(["worker", "--redis", refused, "--stream", STREAM, "--group", GROUP]) == 2
    err = capsys.readouterr().err
    assert "Connect" in err and "hunter2" not in err and "redis://***@127.0.0.1" in err
    redis_server.client().set("plain", "x")
    assert main(["worker", "--redis", redis_server.url, "--stream", "plain", "--group", GROUP]) == 2
    assert "WRONGTYPE" in capsys.readouterr().err
