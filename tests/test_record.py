"""Decoding generation records: good ones decode, each bad one is an error naming its field."""

from __future__ import annotations

import orjson
import pytest

from spancast import Generation, RecordError, decode_records


def good(i: int, **extra) -> dict:
    return {"id": f"gen-{i}", "start_time_ns": 10, "end_time_ns": 20, "model": "openai/gpt-4o", **extra}


def test_one_object_an_array_and_ndjson():
    one = decode_records(orjson.dumps(good(1)))
    assert [r.id for r in one.records] == ["gen-1"] and one.errors == []
    arr = decode_records(orjson.dumps([good(1), good(2)]))
    assert [r.id for r in arr.records] == ["gen-1", "gen-2"]
    nd = decode_records(b"\n".join(orjson.dumps(good(i)) for i in range(3)) + b"\n")
    assert [r.id for r in nd.records] == ["gen-0", "gen-1", "gen-2"]
    pretty = decode_records(orjson.dumps(good(4), option=orjson.OPT_INDENT_2))
    assert [r.id for r in pretty.records] == ["gen-4"]
    assert decode_records(orjson.dumps(good(5)).decode()).records[0].id == "gen-5"


def test_defaults_and_total_tokens():
    rec = decode_records(orjson.dumps(good(1, prompt_tokens=3, completion_tokens=4))).records[0]
    assert (rec.operation, rec.status, rec.total_tokens) == ("chat", "ok", 7)
    assert decode_records(orjson.dumps(good(2, prompt_tokens=3, total_tokens=9))).records[0].total_tokens == 9
    assert decode_records(orjson.dumps(good(3))).records[0].total_tokens is None


@pytest.mark.parametrize(
    "record, field, reason",
    [
        (good(0, prompt_tokens="many"), "prompt_tokens", "expected `int | null`, got `str`"),
        ({"start_time_ns": 1, "end_time_ns": 2, "model": "m"}, "id", "missing required field `id`"),
        (good(0, start_time_ns=30), "end_time_ns", "end_time_ns is before start_time_ns"),
        (good(0, user="u" * 257), "user", "length <= 256"),
        (good(0, session_id="s" * 300), "session_id", "length <= 256"),
        (good(0, status="maybe"), "status", "invalid enum value 'maybe'"),
        (good(0, prompt_tokens=-1), "prompt_tokens", ">= 0"),
        (good(0, provider_attempts=[{"latency_ms": 3}]), "provider_attempts[0].provider", "missing required field"),
        (good(0, messages="hi"), "messages", "expected `array | null`"),
        (good(0, id=""), "id", "length >= 1"),
    ],
)
def test_each_bad_record_names_its_field_and_the_others_decode(record, field, reason):
    result = decode_records(orjson.dumps([good(1), record, good(2)]))
    assert [r.id for r in result.records] == ["gen-1", "gen-2"]
    (err,) = result.errors
    assert isinstance(err, RecordError) and isinstance(err, ValueError)
    assert (err.index, err.field) == (1, field)
    assert reason in err.reason
    assert str(err).startswith(f"record 1: {field}: ")


def test_invalid_utf8_fails_only_its_record():
    bad = b'{"id":"g","start_time_ns":1,"end_time_ns":2,"model":"m","trace":{"team":["ok","x\xff\xfe"]}}'
    lines = [orjson.dumps(good(0)), bad, orjson.dumps(good(2))]
    for data in (b"\n".join(lines), b"[" + b",".join(lines) + b"]"):
        result = decode_records(data)
        assert [r.id for r in result.records] == ["gen-0", "gen-2"]
        (err,) = result.errors
        assert (err.index, err.field) == (1, "trace.team[1]") and "invalid UTF-8" in err.reason


def test_a_malformed_ndjson_line_fails_only_that_line():
    data = orjson.dumps(good(0)) + b"\n{\"id\": \n" + orjson.dumps(good(2))
    result = decode_records(data)
    assert [r.id for r in result.records] == ["gen-0", "gen-2"]
    assert [e.index for e in result.errors] == [1]


def test_a_malformed_array_is_one_error():
    result = decode_records(b'[{"id": "a"}, {')
    assert result.records == [] and len(result.errors) == 1
    assert result.errors[0].index is None and "malformed JSON array" in result.errors[0].reason


def test_lone_surrogate_escape_is_a_record_error():
    result = decode_records(b'{"id":"\\ud800","start_time_ns":1,"end_time_ns":2,"model":"m"}')
    assert result.records == [] and result.errors[0].index == 0


def test_any_unicode_survives():
    text = "NUL\x00 astral 🚀 ümlaut \u2028"
    rec = decode_records(orjson.dumps(good(1, completion=text, trace={"k": text}))).records[0]
    assert rec.completion == text and rec.trace == {"k": text}


def test_records_round_trip_through_msgspec():
    import msgspec

    rec = Generation(id="g", start_time_ns=1, end_time_ns=2, model="m", prompt_tokens=1)
    assert decode_records(msgspec.json.encode(rec)).records == [rec]
    assert repr(decode_records(b"[]")) == "<DecodeResult records=0 errors=0>"


def test_invalid_utf8_names_the_field_it_is_in():
    result = decode_records(b'{"id":"gen-\xc3\x28","start_time_ns":1,"end_time_ns":2,"model":"m"}')
    assert result.records == [] and result.errors[0].field == "id"


class _Msgspec:
    """A decoder failing on invalid UTF-8 the way one msgspec release does."""

    def __init__(self, exc: Exception) -> None:
        self.exc = exc

    def decode(self, raw):
        bytes(raw).decode("utf-8")  # valid records decode as usual
        raise self.exc


@pytest.mark.parametrize("release, exc", [
    ("0.22", UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte")),  # no place named
    ("0.23", __import__("msgspec").DecodeError("Invalid UTF-8 encoded string")),
])
def test_invalid_utf8_is_named_whatever_msgspec_raises(monkeypatch, release, exc):
    """0.22 raised UnicodeDecodeError, 0.23 a DecodeError naming no field: the field is found by us."""
    from spancast import record as module

    real = module._decoder
    monkeypatch.setattr(module, "_decoder", _Msgspec(exc))
    bad = b'{"id":"g","start_time_ns":1,"end_time_ns":2,"model":"m","trace":{"team":["ok","x\xff\xfe"]}}'
    result = decode_records(b"[" + bad + b"]")
    (err,) = result.errors
    assert (err.index, err.field, err.reason) == (0, "trace.team[1]", "invalid UTF-8 at byte 80")
    monkeypatch.setattr(module, "_decoder", real)
    assert decode_records(bad).errors[0].field == "trace.team[1]"  # and with the msgspec installed
