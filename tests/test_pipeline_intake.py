"""The intake: bounded in records and bytes, three overflow policies, every drop counted, one wake-up per burst."""

from __future__ import annotations

import threading

import pytest

from spancast import ConfigError
from spancast.pipeline.intake import Intake


def records(taken):
    return taken


def test_drop_newest_refuses_and_counts():
    intake = Intake(3)
    wakes = []
    intake.connect(lambda: wakes.append(1))
    assert [intake.put(i) for i in range(5)] == [True, True, True, False, False]
    assert (len(intake), intake.dropped, len(wakes)) == (3, 2, 1)  # one wake-up for the burst
    assert records(intake.take(10)) == [0, 1, 2] and not intake.idle  # busy until the drainer settles it
    intake.put(8)
    assert len(wakes) == 1
    assert records(intake.take(10)) == [8] and intake.settle() and intake.idle
    intake.put(9)
    assert len(wakes) == 2  # idle again: the next put wakes the loop again


def test_drop_oldest_makes_room():
    intake = Intake(3, "drop_oldest")
    for i in range(5):
        assert intake.put(i)
    assert records(intake.take(10)) == [2, 3, 4] and intake.dropped == 2


def test_take_in_chunks_keeps_the_intake_busy_until_empty():
    intake = Intake(100)
    for i in range(10):
        intake.put(i)
    assert records(intake.take(4)) == [0, 1, 2, 3] and not intake.idle
    assert not intake.settle()  # not empty: stays busy
    assert records(intake.take(100)) == list(range(4, 10)) and intake.settle() and intake.idle


def test_block_waits_for_room_then_gives_up():
    intake = Intake(2, "block", block_timeout_s=5)
    intake.put(1)
    intake.put(2)
    result = []
    t = threading.Thread(target=lambda: result.append(intake.put(3)))
    t.start()
    while not intake._room._waiters:  # the producer is blocked on the condition
        pass
    assert records(intake.take(1)) == [1]  # room: the blocked put goes through
    t.join(5)
    assert result == [True] and records(intake.take(10)) == [2, 3]
    quick = Intake(1, "block", block_timeout_s=0.01)
    quick.put(1)
    assert quick.put(2) is False and quick.dropped == 1


@pytest.mark.parametrize(
    "args, path",
    [
        ((0,), "intake_max_records"),
        ((5, "spill"), "overflow"),
        ((5, "block", -1), "block_timeout_s"),
        ((5, "block", 1, 0), "intake_max_bytes"),
    ],
)
def test_bad_settings(args, path):
    with pytest.raises(ConfigError) as info:
        Intake(*args)
    assert info.value.path == path


def test_repr():
    intake = Intake(2)
    intake.put(1)
    assert repr(intake) == (
        f"<Intake queued=1/2 max_records=2 max_bytes={512 * 1024 * 1024} record_bytes~4096 policy=drop_newest dropped=0>"
    )


def test_the_byte_bound_caps_the_records_by_their_estimated_size():
    intake = Intake(100, max_bytes=10_000, record_bytes=4096)
    assert intake.capacity == 2  # 10,000 // 4,096
    assert [intake.put(i) for i in range(3)] == [True, True, False]
    assert intake.bytes == 2 * 4096 and intake.dropped == 1
    intake.set_record_bytes(1000)  # the drainer learnt the records are smaller
    assert intake.capacity == 10 and intake.put(3)
    intake.set_record_bytes(10**9)  # larger than the whole bound: one record still fits an empty intake
    assert intake.capacity == 1
    intake.set_record_bytes(10)
    assert intake.capacity == 100  # the record bound is the tighter one now
    intake.set_record_bytes(100, budget_bytes=2_000)  # the rest of the pipeline leaves only 2,000 bytes
    assert intake.capacity == 20
    intake.set_record_bytes(100, budget_bytes=-5)  # over the memory cap already: one record at most
    assert intake.capacity == 1


def test_size_estimate_samples_and_follows_the_records(record):
    from spancast.codec import record_bytes
    from spancast.pipeline.backlog import SizeEstimate

    est = SizeEstimate(every=4, initial=1.0)
    chunk = [record] * 40
    assert est.chunk_bytes(chunk) == 40 * record_bytes(record)  # a chunk's own bytes: from its own sample
    assert est.record_bytes == pytest.approx(record_bytes(record))
    est.chunk_bytes(chunk * 10)
    assert est.record_bytes == pytest.approx(record_bytes(record), rel=0.05)
    small = [0] * 400  # not records: each is sized as record_bytes(0)
    est.chunk_bytes(small * 4)
    assert est.record_bytes == pytest.approx(record_bytes(0), rel=0.05)


def test_one_huge_record_does_not_collapse_the_estimate(record):
    """Issue 16, case 7: one 10 MB record among small ones barely moves the estimate (the intake's
    capacity is its byte bound over it), while a run of big ones moves it within a few records."""
    from spancast.pipeline.backlog import SizeEstimate

    huge = record.__class__(**{**{f: getattr(record, f) for f in record.__struct_fields__}, "completion": "x" * 10_000_000})
    for initial in (4096.0, 1000.0):
        est = SizeEstimate(initial=initial)
        est.chunk_bytes([huge])  # the very first record, alone in its chunk: it is sampled
        assert est.record_bytes == initial
        est.chunk_bytes([record] * 1024)
        before = est.record_bytes
        est.chunk_bytes([huge])
        assert est.record_bytes < before * 1.1
        for _ in range(4):
            est.chunk_bytes([huge])
        assert est.record_bytes > 100 * before  # a run of them is what memory must follow
