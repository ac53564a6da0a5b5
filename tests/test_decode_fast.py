"""One-pass decoding: the JSON limits scan's twins agree on any bytes, and decode_records gives the same
records and errors whether a body takes the one-call path or the record-by-record one."""

from __future__ import annotations

import json

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spancast import decode_records, record_checks
from spancast.codec import _scan
from spancast.pipeline.intake import Intake
from spancast.record import _decode_whole

from conftest import IMPLS, full_record


json_docs = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids, max_size=4),
    max_leaves=30,
)
tricky = st.sampled_from([b'"', b"\\", b'\\"', b"[", b"]", b"{", b"}", b"4294967295999999999",
                          b"4294967296000000000", b"12345678901234567890", b"-1", b".5e7", b"\n", b"\xff"])


def both(data: bytes):
    from spancast.codec import implementation

    return [implementation(name).json_limits(data) for name in IMPLS]


@given(st.lists(tricky | st.binary(max_size=8), max_size=40).map(b"".join))
@settings(max_examples=400, deadline=None)
def test_twins_agree_on_any_bytes(data):
    results = both(data)
    assert all(r == results[0] for r in results)


@given(json_docs)
@settings(max_examples=200, deadline=None)
def test_twins_measure_json_as_written(doc):
    data = json.dumps(doc).encode()
    results = both(data)
    assert all(r == results[0] for r in results)


def test_the_scan_finds_depth_and_wide_integers_outside_strings_only():
    from spancast.codec import json_limits

    assert json_limits(b'{"a": [1, {"b": "[[[[{{"}]}') == (3, False)
    assert json_limits(b'{"a": "\\"[[[", "b": [[]]}') == (3, False)  # an escaped quote does not end the string
    assert json_limits(b'{"a": "x\\\\", "b": [[]]}') == (3, False)  # an escaped backslash does
    assert json_limits(b'{"t": 4294967295999999999}') == (1, False)  # TIME_MAX_NS itself
    assert json_limits(b'{"t": 4294967296000000000}') == (1, True)
    assert json_limits(b'{"t": "123456789012345678901234"}') == (1, False)  # in a string: not a number
    assert json_limits(b'[' * 200) == (200, False) and json_limits(b"") == (0, False)


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
    # the limits are record_checks' own
    assert record_checks.MAX_NESTING == 128 and _scan.TIME_MAX_DIGITS == str(record_checks.TIME_MAX_NS).encode()


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
