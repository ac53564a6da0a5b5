"""The Broadcaster end to end over real HTTP on 127.0.0.1: delivered, retried, refused, bounded, closed on time."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import pytest

from conftest import full_record, wait_stats
from sinkthread import SinkThread
from spancast import Broadcaster, ConfigError, Generation
from spancast.pipeline.retry import RetryPolicy
from spancast.testing.sink import Expect, OtlpSink, Reply

FAST = RetryPolicy(max_attempts=5, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)


def collector(sink, **extra):
    return {"type": "otel-collector", "endpoint": sink.url, **extra}


def balanced(stats):
    for name, d in stats["destinations"].items():
        total = d["delivered"] + sum(d["dropped"].values()) + d["filtered"] + d["sampled_out"] + d["queued"] + d["in_flight"]
        assert total == d["received"], (name, repr(d))


def test_every_record_arrives_exactly_once_when_nothing_fails():
    recs = [full_record(i) for i in range(1000)]
    with SinkThread(OtlpSink()) as sink:
        with Broadcaster([collector(sink, compression="zstd")], max_batch_records=64, retry=FAST) as b:
            assert all(b.emit(r) for r in recs)
            assert b.flush(10)
            stats = b.stats()
        ids = sink.generation_ids()
    assert sorted(ids) == sorted(r.id for r in recs)
    d = stats["destinations"]["otel-collector"]
    assert (d["received"], d["delivered"], d["dropped"]) == (1000, 1000, {})
    assert d["batches"]["records"] == 15 and sum(d["batches"].values()) == 16
    balanced(stats)


def test_lost_answers_mean_at_least_once_and_permanent_errors_mean_never_and_counted():
    recs = [full_record(i) for i in range(200)]
    with SinkThread(OtlpSink()) as ok_sink, SinkThread(OtlpSink()) as bad_sink:
        ok_sink.script(Reply.reset(), Reply.error(503), Reply.reset())
        bad_sink.default = Reply.error(400)
        with Broadcaster(
            [collector(ok_sink, name="ok"), collector(bad_sink, name="bad")], max_batch_records=50, retry=FAST
        ) as b:
            for r in recs:
                b.emit(r)
            assert b.flush(10)
            stats = b.stats()
        got = ok_sink.generation_ids()
        assert bad_sink.generation_ids() == []
    assert set(got) == {r.id for r in recs} and len(got) >= 200  # duplicates only from the reset batches
    assert stats["destinations"]["ok"]["delivered"] == 200
    assert stats["destinations"]["bad"]["dropped"] == {"permanent_http_error": 200}
    balanced(stats)


def test_a_destination_that_is_down_is_bounded_and_counted():
    with SinkThread(OtlpSink(default=Reply.stall())) as sink:
        b = Broadcaster([collector(sink, timeout_s=30)], max_batch_records=16, max_queued_records=100,
                        initial_concurrency=1, max_concurrency=1, retry=FAST).start()
        for i in range(2000):
            b.emit(full_record(i))
        b.flush(0.5)
        stats = b.stats()
        start = time.monotonic()
        b.close(0.5)
        closed_in = time.monotonic() - start
        final = b.stats()
    d = stats["destinations"]["otel-collector"]
    assert d["queued"] + d["in_flight"] <= 100  # the lane never held more than its bound
    assert d["dropped"]["queue_full"] >= 1900 and d["received"] == 2000
    balanced(stats)
    assert closed_in < 3  # the shutdown deadline (0.5 s) held although the destination hangs
    f = final["destinations"]["otel-collector"]
    assert f["in_flight"] == 0 and f["dropped"]["shutdown_deadline"] == d["queued"] + d["in_flight"]
    balanced(final)


def test_emit_after_close_is_refused_and_counted():
    with SinkThread(OtlpSink()) as sink:
        b = Broadcaster([collector(sink)]).start()
        b.close()
        assert b.emit(full_record(1)) is False
        assert b.stats()["intake"]["dropped"] == 1 and "closed" in repr(b)


def test_emit_refuses_what_is_not_a_generation_counted_and_logged_once(caplog):
    """Issue 16, case 6: emit() used to return True for any object, which every destination then dropped."""
    with SinkThread(OtlpSink()) as sink:
        b = Broadcaster([collector(sink)]).start()
        with caplog.at_level("ERROR", logger="spancast"):
            refused = [b.emit({"id": "gen-1", "model": "m"}) for _ in range(3)]
        assert b.emit(full_record(1)) is True
        stats = b.stats()
        b.close()
    assert refused == [False] * 3 and stats["intake"]["invalid"] == 3
    assert [r.getMessage() for r in caplog.records if "emit() takes" in r.getMessage()] == [
        "spancast: emit() takes a spancast.Generation, got dict: refused"]  # once for the three


def test_a_slow_destinations_queue_bound_never_costs_a_fast_one_a_record():
    """Issue 16, case 5: per-destination queue bounds isolate a slow destination; the fast one gets it all."""
    with SinkThread(OtlpSink()) as fast, SinkThread(OtlpSink(default=Reply.stall())) as slow:
        b = Broadcaster([collector(fast, name="fast"), collector(slow, name="slow", timeout_s=60)],
                        max_queued_records=500, max_batch_records=50, flush_interval_s=0.05).start()
        for i in range(3000):
            b.emit(full_record(i))
        stats = wait_stats(b, lambda s: s["destinations"]["fast"]["delivered"] == 3000)
        b.close(0.2)
    f, s = stats["destinations"]["fast"], stats["destinations"]["slow"]
    assert (f["delivered"], f["dropped"]) == (3000, {}) and len(fast.generation_ids()) == 3000
    assert s["dropped"]["queue_full"] >= 2000 and s["queued"] + s["in_flight"] <= 500


def test_asyncio_mode_runs_on_the_callers_loop():
    recs = [full_record(i) for i in range(100)]

    async def main():
        async with OtlpSink() as sink:
            async with Broadcaster([collector(sink)], max_batch_records=10, retry=FAST) as b:
                assert b.loop is asyncio.get_running_loop()
                for r in recs:
                    b.emit(r)
                assert await b.aflush(10)
                stats = b.stats()
            return sink.generation_ids(), stats

    ids, stats = asyncio.run(main())
    assert sorted(ids) == sorted(r.id for r in recs)
    balanced(stats)


def test_flush_interval_sends_a_partial_batch():
    served = SinkThread(OtlpSink())
    with served as sink:
        with Broadcaster([collector(sink)], max_batch_records=1000, flush_interval_s=0.05) as b:
            b.emit(full_record(1))
            served.wait_for(lambda s: len(s.generation_ids()) == 1)  # no flush(): the interval sends it
            stats = b.stats()
        assert served.call(lambda s: s.generation_ids()) == [full_record(1).id]
    assert stats["destinations"]["otel-collector"]["batches"] == {"interval": 1}


@pytest.mark.parametrize(
    "kwargs, path",
    [
        ({"overflow": "spill"}, "overflow"),
        ({"max_batch_records": 0}, "max_batch_records"),
        ({"max_memory_bytes": 0}, "max_memory_bytes"),
    ],
)
def test_bad_pipeline_settings(kwargs, path):
    with pytest.raises(ConfigError) as info:
        Broadcaster([{"type": "otel-collector", "endpoint": "http://127.0.0.1:1/v1/traces"}], **kwargs)
    assert info.value.path == path


def test_two_destinations_need_two_names():
    d = {"type": "otel-collector", "endpoint": "http://127.0.0.1:1/v1/traces"}
    with pytest.raises(ConfigError) as info:
        Broadcaster([d, d])
    assert info.value.path == "destinations[1].name"


def test_after_fork_the_child_has_a_working_broadcaster():
    with SinkThread(OtlpSink()) as sink:
        b = Broadcaster([collector(sink)], max_batch_records=5).start()
        b.emit(full_record(1))
        assert b.flush(10)
        pid = os.fork()
        if pid == 0:  # the child: its own loop thread starts on the first emit
            try:
                ok = b.emit(full_record(2)) and b.flush(10)
                b.close(5)
                os._exit(0 if ok else 3)
            except BaseException:
                os._exit(4)
        _, status = os.waitpid(pid, 0)
        b.close()
        ids = sink.generation_ids()
    assert os.waitstatus_to_exitcode(status) == 0
    assert sorted(ids) == sorted([full_record(1).id, full_record(2).id])


def test_a_hung_destination_does_not_hold_back_a_healthy_one():
    # Structural isolation: the healthy lane delivers everything while every request to the other
    # hangs; its queue, byte budget and concurrency are its own. (The rate comparison, healthy alone
    # versus beside a hung one, is measured in benchmarks/pipeline.py, not asserted here.)
    recs = [full_record(i) for i in range(3000)]
    healthy_served = SinkThread(OtlpSink())
    with healthy_served as healthy, SinkThread(OtlpSink(default=Reply.stall())) as hung:
        b = Broadcaster(
            [collector(healthy, name="healthy"), collector(hung, name="hung", timeout_s=60)],
            max_batch_records=100, initial_concurrency=2, max_concurrency=2, retry=FAST,
        ).start()
        for r in recs:
            b.emit(r)
        healthy_served.wait_for(lambda s: len(s.generation_ids()) == len(recs), timeout_s=30)
        # The receiver counts a request before the client has read its answer: wait for the client's count.
        stats = wait_stats(b, lambda st: st["destinations"]["healthy"]["delivered"] == len(recs))
        b.close(0.5)
        final = b.stats()
    h, x = stats["destinations"]["healthy"], stats["destinations"]["hung"]
    assert (h["delivered"], h["dropped"]) == (3000, {})
    assert (x["delivered"], x["queued"] + x["in_flight"]) == (0, 3000)
    assert final["destinations"]["hung"]["dropped"] == {"shutdown_deadline": 3000}
    balanced(stats)
    balanced(final)


def test_a_down_destination_holds_no_more_bytes_than_its_budget():
    cap = 256 * 1024
    with SinkThread(OtlpSink(default=Reply.stall())) as sink:
        b = Broadcaster([collector(sink, timeout_s=60)], max_batch_records=16, max_queued_bytes=cap, retry=FAST).start()
        peak = 0
        for i in range(3000):
            b.emit(full_record(i))
            if i % 100 == 0:
                d = b.stats()["destinations"]["otel-collector"]
                peak = max(peak, d["queued_bytes"] + d["in_flight_bytes"])
        stats = b.stats()
        b.close(0.2)
    d = stats["destinations"]["otel-collector"]
    one_batch = 16 * 4 * 1024
    assert peak <= cap + one_batch and d["queued_bytes"] + d["in_flight_bytes"] <= cap + one_batch
    # The only destination is full: the rest wait in the intake (bounded too), where emit() can refuse
    # them, rather than being taken and then dropped.
    assert stats["intake"]["queued"] > 2000 and d["dropped"] == {}


def test_records_emitted_before_exit_are_delivered_by_atexit(tmp_path):
    import subprocess
    import textwrap

    script = tmp_path / "app.py"
    with SinkThread(OtlpSink()) as sink:
        script.write_text(textwrap.dedent(f"""
            from spancast import Broadcaster, Generation
            b = Broadcaster([{{"type": "otel-collector", "endpoint": "{sink.url}"}}], flush_interval_s=600,
                            shutdown_timeout_s=10).start()
            for i in range(50):
                b.emit(Generation(id=f"exit-{{i}}", start_time_ns=1, end_time_ns=2, model="m"))
            # no flush(), no close(): the interpreter's exit drains within the shutdown deadline
        """))
        done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
        ids = sink.generation_ids()
    assert done.returncode == 0, done.stderr
    assert sorted(ids) == sorted(f"exit-{i}" for i in range(50))


def count_spans(body: bytes, content_type: str) -> list[str]:
    """A quick decode for big bursts: one placeholder per span (the ids are not needed, only the count)."""
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest.FromString(body)
    return [""] * sum(len(ss.spans) for rs in request.resource_spans for ss in rs.scope_spans)


@pytest.mark.parametrize("overflow", ["drop_newest", "block"])
def test_a_burst_that_fits_the_memory_cap_loses_nothing_with_one_healthy_destination(overflow):
    """Issue 16, case 5: 400,000 emit()s at once, the defaults, one local destination answering 200 at
    once. The drain used to move records into the backlog past the destination's max_queued_records,
    which then dropped them as queue_full: accepted, then dropped, while healthy."""
    n = 400_000
    records = [Generation(id=f"b-{i}", start_time_ns=i, end_time_ns=i + 1, model="m") for i in range(n)]
    with SinkThread(OtlpSink(Expect(decode=count_spans))) as sink:
        b = Broadcaster([collector(sink)], overflow=overflow).start()
        accepted = sum(map(b.emit, records))
        stats = wait_stats(b, lambda s: s["destinations"]["otel-collector"]["delivered"] >= accepted, 120)
        b.close()
        received = len(sink.generation_ids())
    d = stats["destinations"]["otel-collector"]
    assert d["dropped"] == {} and d["delivered"] == accepted == received
    if overflow == "block":
        assert accepted == n  # block blocks: every record was taken
    else:
        assert accepted + stats["intake"]["dropped"] == n and accepted >= 200_000  # refused at the door, if any


def test_stats_has_the_typed_shape(tmp_path):
    from spancast.pipeline.snapshot import BacklogSnapshot, DestinationSnapshot, IntakeSnapshot, StatsSnapshot

    def keys(typed):
        return typed.__required_keys__ | typed.__optional_keys__

    b = Broadcaster([{"type": "file", "directory": str(tmp_path)}]).start()
    try:
        b.emit(full_record(1))
        b.flush(10)
        stats = b.stats()
    finally:
        b.close()
    assert set(stats) == keys(StatsSnapshot) - {"spool"}  # no spool configured
    assert set(stats["intake"]) == keys(IntakeSnapshot) and set(stats["backlog"]) == keys(BacklogSnapshot)
    assert set(stats["destinations"]["file"]) == keys(DestinationSnapshot)
    assert stats["destinations"]["file"]["delivered"] == 1
