"""Validation at the door: what decode_records accepts, every destination's encoder takes; what it refuses, it names."""

from __future__ import annotations

import msgspec
import pytest

from conftest import load_contract
from spancast.destinations import REGISTRY, make_destination
from spancast.record import decode_records
from spancast.record_checks import MAX_NESTING

BASE = {"id": "gen-1", "model": "m", "start_time_ns": 1_700_000_000_000_000_000, "end_time_ns": 1_700_000_001_000_000_000}


def destinations():
    """One configured destination of every type (the contract's settings, aimed nowhere)."""
    out = []
    for kind in sorted(REGISTRY):
        contract = load_contract(kind)
        if contract is not None:
            out.append(make_destination(contract.config("http://127.0.0.1:9")))
        elif kind == "file":
            out.append(make_destination({"type": "file", "directory": "unused"}))
        elif kind == "redis":
            out.append(make_destination({"type": "redis", "url": "redis://127.0.0.1:9/0", "stream": "s"}))
    return out


DESTINATIONS = destinations()


def nested(levels: int, leaf=1):
    """A value of that many nested containers, objects and lists in turn, an object outermost."""
    value = leaf
    for i in range(levels, 0, -1):
        value = {"k": value} if i % 2 else [value]
    return value


class Raw(str):
    """JSON text spliced in as is (msgspec cannot even write what is too deep to read)."""


def refused_by(record) -> list[str]:
    """The destinations whose encoder refuses the record."""
    refused = []
    for destination in DESTINATIONS:
        errors: list = []
        destination.new_encoder().append_many([record], 0, 10, 1 << 40, errors)
        if errors:
            refused.append(f"{destination.type}: {errors[0][1]}")
    return refused


AT_THE_LIMIT = [
    {"trace": nested(MAX_NESTING - 1)},  # the trace object itself is the first level
    {"model_parameters": nested(MAX_NESTING - 1)},
    {"messages": [{"role": "user", "content": nested(MAX_NESTING - 2)}]},
    {"tool_calls": [nested(MAX_NESTING - 1)]},
    {"model_parameters": {"big": 2**64 - 1, "small": -(2**63)}},
    {"prompt_tokens": 2**63 - 2, "completion_tokens": 1},
    {"start_time_ns": (2**32 - 1) * 10**9, "end_time_ns": (2**32 - 1) * 10**9 + 999_999_999},
]
PAST_THE_LIMIT = [
    ({"trace": nested(MAX_NESTING + 1)}, "trace.k[0]"),  # paths are named three levels down
    ({"trace": Raw('{"x": ' + "[" * 1000 + "]" * 1000 + "}")}, "trace"),  # too deep even to decode
    ({"model_parameters": nested(300)}, "model_parameters.k[0]"),
    ({"messages": [{"role": "user", "content": nested(MAX_NESTING - 1)}]}, "messages[0].content"),
    ({"tool_calls": [nested(MAX_NESTING)]}, "tool_calls[0].k"),
    ({"model_parameters": {"big": 2**64}}, "model_parameters.big"),
    ({"trace": {"small": -(2**63) - 1}}, "trace.small"),
    ({"prompt_tokens": 2**63 - 1, "completion_tokens": 1}, "total_tokens"),
    ({"start_time_ns": 2**32 * 10**9, "end_time_ns": 2**32 * 10**9}, "start_time_ns"),
]


@pytest.mark.parametrize("fields", AT_THE_LIMIT, ids=lambda f: ",".join(f))
def test_what_the_door_lets_in_every_encoder_takes(fields):
    result = decode_records(msgspec.json.encode({**BASE, **fields}))
    assert result.errors == [] and len(result.records) == 1
    assert refused_by(result.records[0]) == []


@pytest.mark.parametrize(("fields", "field"), PAST_THE_LIMIT, ids=lambda f: f if isinstance(f, str) else ",".join(f))
def test_what_some_encoder_would_refuse_is_refused_at_the_door_with_its_field(fields, field):
    raw = {k: v for k, v in fields.items() if isinstance(v, Raw)}
    bad = msgspec.json.encode({**BASE, **{k: v for k, v in fields.items() if k not in raw}})
    for key, text in raw.items():
        bad = bad[:-1] + f',"{key}":{text}}}'.encode()
    good = msgspec.json.encode({**BASE, "id": "gen-2"})
    for body in (bad + b"\n" + good, b"[" + bad + b"," + good + b"]"):  # NDJSON and an array alike
        result = decode_records(body)
        assert [r.id for r in result.records] == ["gen-2"]  # the good record beside it still goes
        (error,) = result.errors
        assert (error.index, error.field) == (0, field)
