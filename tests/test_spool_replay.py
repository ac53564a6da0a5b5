"""Replay and re-delivery from the spool: a crash during replay re-sends only what was in flight; given-back records are re-sent without a restart."""

from __future__ import annotations

import collections
import signal
import subprocess
import sys
import textwrap
import time

import pytest

from spancast import Broadcaster
from spancast.pipeline import spool_replay
from spancast.pipeline.retry import RetryPolicy
from spancast.testing.sink import OtlpSink, Reply

from conftest import full_record, wait_stats
from sinkthread import SinkThread

BATCH, CONCURRENCY = 50, 4
GIVE_UP_FAST = RetryPolicy(max_attempts=2, initial_backoff_s=0.001, max_backoff_s=0.001)

# The second run: replays slowly enough to be killed in the middle, as a separate process.
REPLAYER = textwrap.dedent("""
    import asyncio, sys
    from spancast import Broadcaster
    url, directory = sys.argv[1:3]
    async def main():
        b = Broadcaster([{"type": "otel-collector", "name": "d", "endpoint": url}], max_batch_records=%d,
                        initial_concurrency=%d, max_concurrency=%d, flush_interval_s=0.02,
                        spool={"directory": directory, "replay_records_per_s": 1000})
        async with b:
            await asyncio.sleep(3600)
    asyncio.run(main())
""" % (BATCH, CONCURRENCY, CONCURRENCY))


def broadcaster(url: str, directory, **kwargs) -> Broadcaster:
    return Broadcaster([{"type": "otel-collector", "name": "d", "endpoint": url}], max_batch_records=BATCH,
                       initial_concurrency=CONCURRENCY, max_concurrency=CONCURRENCY, flush_interval_s=0.02,
                       spool={"directory": str(directory)}, **kwargs)


def test_a_crash_during_replay_resends_only_what_was_in_flight(tmp_path):
    """Issue 16, case 4: the run that replays is killed half-way; the next one must not send again what
    the killed one had delivered (its copies name their origin), only what it had in flight."""
    n = 3000
    with SinkThread(OtlpSink(default=Reply.error(503))) as sink:
        first = broadcaster(sink.url, tmp_path, retry=GIVE_UP_FAST, shutdown_timeout_s=1).start()
        for i in range(n):
            first.emit(full_record(i))
        first.flush(10)
        first.close()
        assert first.summary["d"]["left_in_spool"] == n and sink.generation_ids() == []
        sink.default = Reply.ok()
        second = subprocess.Popen([sys.executable, "-c", REPLAYER, sink.url, str(tmp_path)])
        try:
            deadline = time.monotonic() + 60
            while len(sink.generation_ids()) < n // 2:  # half-way through the replay
                assert time.monotonic() < deadline and second.poll() is None
                time.sleep(0.01)
            second.send_signal(signal.SIGKILL)
            second.wait(10)
        finally:
            if second.poll() is None:
                second.kill()
        before = len(sink.generation_ids())
        assert before < n  # killed in the middle indeed
        third = broadcaster(sink.url, tmp_path).start()
        stats = wait_stats(third, lambda s: not s["spool"]["old_segments"] and s["destinations"]["d"]["queued"] == 0
                           and s["destinations"]["d"]["in_flight"] == 0)
        third.close()
        got = sink.generation_ids()
    assert set(got) == {full_record(i).id for i in range(n)}
    duplicates = sum(c - 1 for c in collections.Counter(got).values())
    # In flight at the kill: the batches being sent, the ones encoded ahead, the open one, and the
    # records injected but not yet read (a replay chunk).
    assert duplicates <= BATCH * (CONCURRENCY + 3) + 1024, (duplicates, before)
    assert stats["spool"]["replayed_records"] + duplicates < n  # the delivered half was not replayed again


@pytest.mark.parametrize("live_traffic", [True, False], ids=["live-traffic", "probe"])
def test_given_back_records_are_resent_when_the_destination_is_back_without_a_restart(tmp_path, monkeypatch,
                                                                                       live_traffic):
    """Retries run out while the destination is down: the records go back to the spool (counted as
    spooled, not dropped) and reach it once it is back, within the same run: at once when a live
    record gets through, else at the next probe."""
    monkeypatch.setattr(spool_replay, "PROBE_S", 0.3)
    with SinkThread(OtlpSink(default=Reply.error(503))) as sink:
        b = broadcaster(sink.url, tmp_path, retry=GIVE_UP_FAST).start()
        for i in range(500):
            b.emit(full_record(i))
        stats = wait_stats(b, lambda s: s["destinations"]["d"]["spooled"] == 500)
        assert stats["destinations"]["d"]["dropped"] == {}
        sink.default = Reply.ok()
        if live_traffic:
            b.emit(full_record(1000))
        stats = wait_stats(b, lambda s: s["destinations"]["d"]["spooled"] == 0 and s["destinations"]["d"]["queued"] == 0
                           and s["destinations"]["d"]["in_flight"] == 0)
        b.close()
        want = {full_record(i).id for i in [*range(500), *([1000] if live_traffic else [])]}
    d = stats["destinations"]["d"]
    assert set(sink.generation_ids()) == want and d["dropped"] == {} and d["delivered"] >= len(want)
    assert stats["spool"]["redelivered_records"] >= 500
    assert list(tmp_path.glob("*.seg")) == []  # all settled: nothing left for a next start
