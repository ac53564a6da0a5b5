"""Batches close at a record count, at an exact byte size, or by age; each reason is counted."""

from __future__ import annotations

import pytest

from conftest import full_record
from otlp import parse_pb, spans
from spancast import ConfigError, EncodeError, Generation
from spancast.codec import TraceEncoder, encode_traces
from spancast.pipeline.batcher import Batcher, BatchSettings


class Clock:
    def __init__(self):
        self.now = 100.0

    def __call__(self):
        return self.now


def test_closes_at_the_record_count():
    b = Batcher(TraceEncoder(), BatchSettings(max_batch_records=3))
    recs = [full_record(i) for i in range(7)]
    closed = [batch for r in recs for batch in b.add(r)]
    assert [c.ids for c in closed] == [[r.id for r in recs[:3]], [r.id for r in recs[3:6]]]
    assert closed[0].body == encode_traces(recs[:3]) and closed[0].reason == "records"
    assert b.records == 1 and b.closed == {"records": 2}


def test_closes_at_the_exact_byte_size():
    recs = [full_record(i) for i in range(20)]
    limit = len(encode_traces(recs[:4])) + 1
    b = Batcher(TraceEncoder(), BatchSettings(max_batch_records=1000, max_batch_bytes=limit))
    closed = [batch for r in recs for batch in b.add(r)]
    closed.append(b.flush())
    assert [c.records for c in closed] == [4] * 5
    assert all(len(c.body) <= limit for c in closed)
    # each request holds the shared trace's root (trace_name) once, then its four generations
    assert [s.name for c in closed for s in spans(parse_pb(c.body))] == (["checkout-flow"] + ["openai/gpt-4o"] * 4) * 5
    assert b.closed == {"bytes": 4, "flush": 1}


def test_a_lone_record_over_the_limit_is_a_batch_of_its_own():
    b = Batcher(TraceEncoder(), BatchSettings(max_batch_bytes=1024))
    small, big = Generation(id="small", start_time_ns=1, end_time_ns=2, model="m"), full_record(2, completion="z" * 4000)
    assert b.add(small) == []
    first, second = b.add(big)  # closes the small one for room, then the big one on its own
    assert (first.ids, first.reason, second.ids, second.reason) == ([small.id], "bytes", [big.id], "bytes")
    assert b.records == 0 and b.flush() is None


def test_closes_by_age():
    clock = Clock()
    b = Batcher(TraceEncoder(), BatchSettings(flush_interval_s=0.5), clock)
    assert b.due_at() is None and b.flush_if_due() is None
    b.add(full_record(1))
    clock.now += 0.3
    b.add(full_record(2))
    assert b.due_at() == 100.5 and b.flush_if_due() is None  # age counts from the first record
    clock.now += 0.2
    batch = b.flush_if_due()
    assert batch.records == 2 and batch.reason == "interval" and batch.opened_at == 100.0


def test_a_record_that_cannot_be_encoded_leaves_the_batch_alone():
    b = Batcher(TraceEncoder(), BatchSettings())
    b.add(full_record(1))
    with pytest.raises(EncodeError):
        b.add(full_record(2, trace={"bad": object()}))
    assert b.records == 1 and b.flush().body == encode_traces([full_record(1)])


@pytest.mark.parametrize(
    "kwargs, path",
    [({"max_batch_records": 0}, "max_batch_records"), ({"max_batch_bytes": 10}, "max_batch_bytes"), ({"flush_interval_s": 0}, "flush_interval_s")],
)
def test_bad_settings(kwargs, path):
    with pytest.raises(ConfigError) as info:
        BatchSettings(**kwargs)
    assert info.value.path == path


def test_repr():
    b = Batcher(TraceEncoder(), BatchSettings(max_batch_records=2), Clock())
    b.add(full_record(1))
    assert repr(b).startswith("<Batcher records=1 bytes=") and "oldest=0.0s" in repr(b)


@pytest.mark.parametrize("limits", [(3, 4 * 1024 * 1024), (1000, 20 * 1024), (7, 30 * 1024)])
def test_add_many_closes_the_same_batches_as_add(impl, limits):
    records, bad = [full_record(i) for i in range(40)], full_record(99, trace={"x": object()})
    stream = records[:10] + [bad] + records[10:]
    settings = BatchSettings(max_batch_records=limits[0], max_batch_bytes=limits[1])
    one = Batcher(impl.TraceEncoder(), settings, Clock())
    expected = []
    for r in stream:
        try:
            expected += one.add(r)
        except EncodeError:
            pass
    many = Batcher(impl.TraceEncoder(), settings, Clock())
    got, invalid = [], []
    for chunk in (stream[:5], stream[5:23], stream[23:]):
        closed, errs = many.add_many(chunk)
        got += closed
        invalid += errs
    assert [(b.ids, b.body, b.reason) for b in got] == [(b.ids, b.body, b.reason) for b in expected]
    assert [r.id for r, _ in invalid] == [bad.id] and isinstance(invalid[0][1], EncodeError)
    assert many.records == one.records and many.flush().body == one.flush().body
