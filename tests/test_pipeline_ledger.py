"""Settled positions per destination: runs merge, the low mark moves only over a gapless prefix."""

from __future__ import annotations

import random

from hypothesis import given, strategies as st

from spancast.pipeline.ledger import Progress, runs


def test_runs_of_sorted_positions():
    assert runs([]) == [] and runs([3, 4, 5, 9, 11, 12]) == [(3, 6), (9, 10), (11, 13)]


def test_the_low_mark_waits_for_the_gap():
    p = Progress(10)
    p.mark(12, 15)
    p.mark(20, 22)
    assert (p.low, p.gaps) == (10, 2) and p.settled(13) and not p.settled(11) and not p.settled(15)
    p.mark(10, 12)  # fills the gap before 12: low jumps over the run it now touches
    assert (p.low, p.gaps) == (15, 1)
    p.mark(15, 20)
    assert (p.low, p.gaps) == (22, 0)
    p.mark(0, 5)  # below low: nothing to do
    assert (p.low, p.gaps) == (22, 0)


@given(st.lists(st.tuples(st.integers(0, 200), st.integers(1, 20)), max_size=60), st.randoms())
def test_progress_agrees_with_a_set(spans, rng: random.Random):
    p, truth = Progress(0), set()
    rng.shuffle(spans)
    for start, length in spans:
        p.mark(start, start + length)
        truth.update(range(start, start + length))
    low = 0
    while low in truth:
        low += 1
    assert p.low == low
    assert all(p.settled(i) == (i in truth) for i in range(0, 240))


def test_a_broadcaster_reports_settled_positions_across_destinations():
    """Delivered, routed out and refused-for-good settle; a batch whose retries ran out does not."""
    import asyncio

    from spancast import Broadcaster
    from spancast.pipeline.retry import RetryPolicy
    from spancast.testing.sink import OtlpSink, Reply

    from conftest import full_record

    async def main():
        async with OtlpSink() as ok, OtlpSink(default=Reply.error(503)) as down:
            b = Broadcaster([{"type": "otel-collector", "name": "ok", "endpoint": ok.url},
                             {"type": "otel-collector", "name": "half", "endpoint": ok.url,
                              "filter_rules": {"groups": [{"rules": [{"field": "user_id", "operator": "equals",
                                                                      "value": "even"}]}]}},
                             {"type": "otel-collector", "name": "down", "endpoint": down.url}],
                            max_batch_records=10, flush_interval_s=0.01,
                            retry=RetryPolicy(max_attempts=2, initial_backoff_s=0.001, max_backoff_s=0.001))
            lows, spans = [], {}
            b.watch_settled(lows.append, lambda name, runs: spans.setdefault(name, []).extend(runs))
            async with b:
                for i in range(50):
                    assert b.next_position == i
                    b.emit(full_record(i, user="even" if i % 2 == 0 else "odd"))
                await b.aflush(10)
                progress = {lane.destination.name: lane.progress for lane in b.lanes}
                assert progress["ok"].low == 50 and progress["half"].low == 50
                assert progress["down"].low == 0 and progress["down"].gaps == 0  # retries exhausted: kept
                assert b.settled_low == 0 and lows == []
                assert sorted(spans["ok"]) == [(i, i + 10) for i in range(0, 50, 10)]

    asyncio.run(main())
