"""One-pass decoding: decode_records gives the same records and errors whether a body takes the one-call path
or the record-by-record one, and the record checks asked of a whole body (native and Python) agree with
record_checks.check."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spancast import decode_records, record_checks
from spancast.pipeline.intake import Intake
from spancast.record import _decode_whole

from conftest import IMPLS, full_record


def records_body(n: int) -> bytes:
    return b"\n".join(msgspec.json.encode(full_record(i)) for i in range(n))


@pytest.mark.parametrize("shape", ["ndjson", "array", "one", "ndjson-blank-lines"])
def test_good_input_takes_one_call_and_gives_the_same_records(shape):
    records = [full_record(i) for i in range(5)]
    body = {"ndjson": records_body(5), "array": msgspec.json.encode(records), "one": msgspec.json.encode(records[0]),
            "ndjson-blank-lines": b"\n\n" + records_body(5).replace(b"\n", b"\n\r\n  \n") + b"\n"}[shape]
    fast = _decode_whole(body.lstrip())
    expected = records[:1] if shape == "one" else records
    assert fast == expected
    assert decode_records(body).records == expected and decode_records(body).errors == []


def test_bad_or_limit_breaking_input_goes_record_by_record_and_is_named():
    good = msgspec.json.encode(full_record(1))
    too_deep = b'{"id":"d","start_time_ns":1,"end_time_ns":2,"model":"m","trace":{"x":' + b"[" * 130 + b"]" * 130 + b"}}"
    late = b'{"id":"l","start_time_ns":1,"end_time_ns":4294967296000000000,"model":"m"}'
    wide = b'{"id":"w","start_time_ns":1,"end_time_ns":2,"model":"m","trace":{"n":123456789012345678901234}}'
    missing = b'{"id":"x","model":"m"}'
    body = b"\n".join([good, too_deep, good, late, wide, missing])
    assert _decode_whole(body) is None
    result = decode_records(body)
    assert [r.id for r in result.records] == [full_record(1).id] * 2
    assert [(e.index, e.field) for e in result.errors] == [(1, "trace.x[0]"), (3, "end_time_ns"), (4, "trace.n"),
                                                           (5, "start_time_ns")]


def test_a_record_at_the_nesting_limit_still_takes_the_fast_path():
    at_limit = {"x": json.loads("[" * 127 + "]" * 127)}  # the trace dict is level 1: 128 levels in all
    body = msgspec.json.encode(full_record(1, trace=at_limit))
    assert record_checks.check(full_record(1, trace=at_limit)) is None
    assert _decode_whole(body) is not None


def test_put_many_takes_what_fits_in_order_and_wakes_once():
    woken = []
    intake = Intake(max_records=5)
    intake.connect(lambda: woken.append(1))
    assert intake.put_many(list(range(3))) == 3
    assert intake.put_many(list(range(3, 9))) == 2
    assert intake.put_many([9]) == 0
    assert intake.take(10) == [0, 1, 2, 3, 4] and woken == [1] and intake.dropped == 0


# -------------------------------------------------------------- record_checks asked of many records at once

edge_ints = st.sampled_from([2**63 - 1, 2**63, 2**64 - 1, 2**64, -(2**63), -(2**63) - 1, 10**30, -(10**30)])
free_values = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70) | edge_ints | st.floats() | st.text(max_size=3),
    lambda kids: st.lists(kids, max_size=3) | st.dictionaries(st.text(max_size=3), kids, max_size=3),
    max_leaves=12,
)


def nested(depth: int, leaf=1):
    """A value depth containers deep (lists and dicts in turn)."""
    value = leaf
    for level in range(depth):
        value = [value] if level % 2 else {"k": value}
    return value


record_strategy = st.builds(
    lambda i, trace, params, messages, calls, total, end, deep: full_record(
        i, trace={"v": trace, "d": nested(deep)}, model_parameters=params if isinstance(params, dict) else None,
        messages=messages, tool_calls=calls, total_tokens=total, end_time_ns=end),
    st.integers(0, 9), free_values, free_values,
    st.none() | st.lists(st.dictionaries(st.text(max_size=3), free_values, max_size=2), max_size=2),
    st.none() | st.lists(st.dictionaries(st.text(max_size=3), free_values, max_size=2), max_size=2),
    st.none() | st.sampled_from([0, 2**63 - 1, 2**63, 2**64]),
    st.sampled_from([1_732_000_001_250_000_000, record_checks.TIME_MAX_NS, record_checks.TIME_MAX_NS + 1]),
    st.sampled_from([0, 120, 126, 127, 128, 140]),
)


@given(st.lists(record_strategy, max_size=6))
@settings(max_examples=500, deadline=None)
def test_first_problem_twins_agree_with_check(records):
    from spancast.codec import implementation

    expected = next((i for i, r in enumerate(records) if record_checks.check(r) is not None), -1)
    assert [implementation(name).first_problem(records) for name in IMPLS] == [expected] * len(IMPLS)


def test_first_problem_finds_each_limit():
    from spancast.codec import implementation

    good = full_record(1)
    cases = {"wide int": full_record(2, trace={"n": [1, 2**64]}), "deep": full_record(3, trace={"x": nested(128)}),
             "late": full_record(4, end_time_ns=record_checks.TIME_MAX_NS + 1),
             "total": full_record(5, prompt_tokens=2**63 - 1, completion_tokens=1, total_tokens=None)}
    for name, bad in cases.items():
        assert record_checks.check(bad) is not None, name
        for impl in IMPLS:
            assert implementation(impl).first_problem([good, good, bad, good]) == 2, (name, impl)
    at_limit = full_record(6, trace={"x": nested(127)}, model_parameters={"n": 2**64 - 1, "m": -(2**63)})
    assert record_checks.check(at_limit) is None
    assert [implementation(impl).first_problem([at_limit]) for impl in IMPLS] == [-1] * len(IMPLS)
