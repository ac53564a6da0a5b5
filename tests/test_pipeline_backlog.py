"""The shared backlog: records held once for every lane, read at each lane's cursor, let go when all passed;
lanes encode only as far ahead as their sender can use, and the memory cap makes the laggard skip."""

from __future__ import annotations


from conftest import full_record
from test_broadcaster import wait_stats
from sinkthread import SinkThread
from spancast import Broadcaster
from spancast.pipeline.backlog import Backlog
from spancast.pipeline.lane import AHEAD_BATCHES
from spancast.pipeline.retry import RetryPolicy
from spancast.testing.sink import OtlpSink, Reply

FAST = RetryPolicy(max_attempts=5, max_retry_elapsed_s=10, initial_backoff_s=0.01, max_backoff_s=0.05)


class Reader:
    def __init__(self, cursor=0):
        self.cursor = cursor


def test_read_spans_chunks_and_positions_survive_trimming():
    b = Backlog()
    a, z = Reader(), Reader()
    b.cursors = [a, z]
    b.append(list("abc"), 300, now=1.0)
    b.append(list("defg"), 400, now=2.0)
    assert (b.start, b.end, len(b), b.nbytes) == (0, 7, 7, 700)
    assert b.read(1, 10) == ["b", "c"]  # a read stops at the end of a chunk
    assert b.read(3, 2) == ["d", "e"] and b.read(7, 5) == []
    assert b.bytes_from(0) == 700 and b.bytes_from(3) == 400 and b.bytes_from(5) == 200  # pro rata in a chunk
    assert b.taken_at(2) == 1.0 and b.taken_at(3) == 2.0 and b.taken_at(7) is None
    a.cursor, z.cursor = 5, 3
    b.trim()  # z still needs the second chunk; nobody needs the first
    assert (b.start, len(b), b.nbytes) == (3, 4, 400)
    assert b.read(5, 10) == ["f", "g"]  # absolute positions still work
    z.cursor = 7
    b.trim()  # a still needs records 5 and 6: the chunk is cut to them
    assert (b.start, len(b), b.nbytes) == (5, 2, 200)
    assert b.read(5, 10) == ["f", "g"] and b.bytes_from(6) == 100
    a.cursor = 7
    b.trim()
    assert (len(b), b.nbytes, b.start) == (0, 0, 7)


def collector(sink, **extra):
    return {"type": "otel-collector", "endpoint": sink.url, "timeout_s": 60, **extra}


def test_a_lane_encodes_only_as_far_ahead_as_its_sender_can_use():
    with SinkThread(OtlpSink(default=Reply.stall())) as stalled, SinkThread(OtlpSink(default=Reply.stall())) as other:
        b = Broadcaster([collector(stalled, name="a"), collector(other, name="b")], max_batch_records=16,
                        initial_concurrency=1, max_concurrency=1, retry=FAST).start()
        for i in range(2000):
            b.emit(full_record(i))
        stats = wait_stats(b, lambda s: all(d["received"] == 2000 for d in s["destinations"].values())
                            and all(d["in_flight"] == 16 * (1 + AHEAD_BATCHES) for d in s["destinations"].values()))
        b.close(0.2)
    for d in stats["destinations"].values():
        # one batch sending, AHEAD_BATCHES waiting for the slot; the rest waits as records, not as bodies
        assert d["in_flight"] == 16 * (1 + AHEAD_BATCHES)
        assert d["queued"] == 2000 - d["in_flight"] and d["dropped"] == {}
        assert d["in_flight_bytes"] < 16 * (1 + AHEAD_BATCHES) * 8 * 1024
    # both lanes wait on the same records, held once: the memory is about one lane's worth, not two
    lanes = [d["queued_bytes"] + d["in_flight_bytes"] for d in stats["destinations"].values()]
    assert stats["backlog"]["records"] <= 2000
    assert max(lanes) <= stats["backlog"]["memory_bytes"] < 0.6 * sum(lanes)


def test_at_the_memory_cap_the_lane_furthest_behind_skips_and_the_healthy_one_delivers_everything():
    cap = 2 * 1024 * 1024
    recs = [full_record(i) for i in range(3000)]
    with SinkThread(OtlpSink()) as healthy, SinkThread(OtlpSink(default=Reply.stall())) as hung:
        # block: the emitter waits for room instead of losing records at the (tiny) cap, so that every loss
        # left to see is the hung lane's own
        b = Broadcaster([collector(healthy, name="healthy"), collector(hung, name="hung")], max_batch_records=32,
                        max_memory_bytes=cap, overflow="block", block_timeout_s=30,
                        initial_concurrency=1, max_concurrency=1, retry=FAST).start()
        peak = 0
        for i, r in enumerate(recs):
            b.emit(r)
            if i % 100 == 0:
                peak = max(peak, b.stats()["backlog"]["memory_bytes"])
        stats = wait_stats(b, lambda s: s["destinations"]["healthy"]["delivered"] == len(recs))
        b.close(0.2)
    h, x = stats["destinations"]["healthy"], stats["destinations"]["hung"]
    assert h["delivered"] == len(recs) and h["dropped"] == {} and stats["intake"]["dropped"] == 0
    assert x["dropped"]["queue_full"] > 1000 and x["delivered"] == 0
    # the cap holds, give or take one record and the bodies the lanes had already encoded
    one_record = 8 * 1024
    encoded = 2 * (1 + AHEAD_BATCHES) * 32 * one_record
    assert peak <= cap + one_record + encoded
    for d in (h, x):
        assert d["received"] == d["delivered"] + sum(d["dropped"].values()) + d["queued"] + d["in_flight"]



def test_a_destination_caps_records_per_request_and_names_its_own_drop_reason():
    import asyncio

    from spancast import EncodeError
    from spancast.codec import _py
    from spancast.destinations.otlp import OtlpDestination
    from spancast.pipeline.batcher import BatchSettings
    from spancast.pipeline.lane import Lane
    from spancast.pipeline.limiter import AdaptiveLimit

    old = {full_record(i).id for i in range(5)}

    class TooOld(EncodeError):
        drop_reason = "too_old"

    class Refusing:
        """The destination's encoder, refusing the old records (as Datadog refuses those over 24 h)."""

        def __init__(self, inner):
            self.inner = inner

        def __getattr__(self, name):
            return getattr(self.inner, name)

        def append(self, record, max_bytes=-1):
            if record.id in old:
                raise TooOld("start_time_ns", "older than the destination accepts")
            return self.inner.append(record, max_bytes)

        append_many = _py.TraceEncoder.append_many  # the generic loop, over the append above

    class OnePerRequest(OtlpDestination):  # a receiver that takes one record per request
        max_batch_records = 1

        def new_encoder(self, format=None):
            return Refusing(super().new_encoder(format))

    async def main():
        async with OtlpSink() as sink:
            dest = OnePerRequest({"type": "otel-collector", "endpoint": sink.url})
            backlog = Backlog()
            lane = Lane(dest, backlog, BatchSettings(), FAST, AdaptiveLimit(2, 1, 4), 1000, 2**30,
                        asyncio.get_running_loop())
            backlog.cursors = [lane]
            await lane.start()
            recs = [full_record(i) for i in range(8)]
            backlog.append(recs, 1000, 0.0)
            lane.receive(len(recs))
            lane.flush()
            assert await lane.wait_idle(10)
            await lane.close(1)
            return sink, lane.stats

    sink, stats = asyncio.run(main())
    assert sorted(sink.generation_ids()) == sorted(full_record(i).id for i in range(5, 8))
    assert len(sink.received) == 3  # one record per request, as the destination said
    assert dict(stats.dropped) == {"too_old": 5} and stats.balanced()
