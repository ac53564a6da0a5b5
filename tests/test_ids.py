"""Destinations never collide: the ids spancast derives differ per destination, ids the caller gave stay."""

from __future__ import annotations

import json
import re
import time

import msgspec
import pytest

from conftest import full_record, load_contract
from sinkthread import SinkThread
from spancast import Broadcaster, Generation, ProviderAttempt
from spancast.codec.ids import id_salt, salted
from spancast.destinations import REGISTRY, make_destination
from spancast.testing.sink import OtlpSink

# 32 or 16 hex digits, a UUID, or a 64-bit id in decimal as a JSON string (Datadog): what may be an id.
_ID = re.compile(r"(?<![0-9a-fA-F-])(?:[0-9a-f]{32}|[0-9a-f]{16}|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})"
                 r"(?![0-9a-fA-F-])|(?<=\")\d{15,20}(?=\")")
#: Types whose bodies carry no id spancast derives: why.
DERIVES_NONE = {
    "raindrop": "event_id is the generation id, as Raindrop documents",
    "redis": "the record itself goes to the stream; the workers' destinations derive ids",
}
HEX_TRACE = "4bf92f3577b34da6a3ce929d0e0e4736"
HEX_PARENT = "00f067aa0ba902b7"


def config(kind: str, name: str, **extra) -> dict:
    if kind == "file":
        return {"type": "file", "name": name, "directory": "/nonexistent/spancast-ids", **extra}
    if kind == "redis":
        return {"type": "redis", "name": name, "url": "redis://127.0.0.1:9/0", **extra}
    return load_contract(kind).config("https://backend.example", name=name, **extra)


def body_text(kind: str, name: str, record: Generation, **extra) -> str:
    b = Broadcaster([config(kind, name, **extra)])
    shown = b.preview(record, name)
    assert shown["sent"], shown
    return json.dumps(shown["body"]) + shown["url"]


def ids_in(text: str) -> set[str]:
    return set(_ID.findall(text))


def derived_record(trace: dict) -> Generation:
    now = time.time_ns()  # Datadog refuses records older than a day
    return full_record(3, start_time_ns=now - 1_000_000, end_time_ns=now, trace=trace,
                       provider_attempts=[ProviderAttempt(provider="OpenAI", status=503, latency_ms=5.0)])


@pytest.fixture(params=sorted(REGISTRY))
def kind(request):
    return request.param


@pytest.mark.parametrize("trace", [
    {"span_name": "agent-step"},  # trace id from the generation id, an intermediate span
    {"trace_id": "workflow_12345", "parent_span_id": "step-7", "span_name": "agent-step"},  # non-hex ids, hashed
    # the caller's hex trace id stays, but what is derived from it does not: the trace root's span id, Opik's
    # trace of the shared trace_id
    {"trace_id": HEX_TRACE, "trace_name": "checkout", "span_name": "agent-step"},
    {"trace_name": "checkout"},  # a root span of the record's own trace
], ids=["from-generation-id", "non-hex-given", "hex-trace-given", "trace-name"])
def test_two_destinations_of_one_type_derive_different_ids(kind, trace):
    record = derived_record(trace)
    # The record's own ids and times, and the settings' (Sentry's project id), are not derived.
    given = msgspec.json.encode(record).decode() + json.dumps(config(kind, "full"))
    own = ids_in(given) | set(re.findall(r"\d{15,20}", given))
    a = ids_in(body_text(kind, "full", record)) - own
    b = ids_in(body_text(kind, "private", record)) - own
    if kind in DERIVES_NONE:
        assert a == b == set(), DERIVES_NONE[kind]
        return
    assert a and b, "a body without derived ids: the pattern above misses this type's ids"
    assert a.isdisjoint(b)
    again = ids_in(body_text(kind, "full", record)) - own
    assert again == a  # the same destination derives the same ids every time (redelivery dedupes)


@pytest.mark.parametrize("kind, extra", [
    ("clickhouse", {"schema": "openrouter"}),  # OpenRouter's table: its TRACE_ID and SPAN_ID columns
    # the contracts configure the OTLP routes (the kind fixture's); Opik's REST route (a shared trace_id's trace,
    # the span_name span) and Weave's calls derive their own UUIDs
    ("opik", {"route": "rest"}),
    ("weave", {"route": "calls"}),
    ("otel-collector", {"flavor": "openrouter"}),  # no root span: the generation is the trace's
    ("otel-collector", {"flavor": "openinference"}),
])
def test_other_renderings_of_a_type_derive_different_ids_too(kind, extra):
    record = derived_record({"trace_id": "workflow_12345", "trace_name": "checkout", "span_name": "agent-step"})
    given = msgspec.json.encode(record).decode() + json.dumps(config(kind, "full", **extra))
    own = ids_in(given) | set(re.findall(r"\d{15,20}", given))
    a = ids_in(body_text(kind, "full", record, **extra)) - own
    b = ids_in(body_text(kind, "private", record, **extra)) - own
    assert a and b and a.isdisjoint(b)


def test_ids_the_caller_gave_in_hex_stay_verbatim(kind):
    record = derived_record({"trace_id": HEX_TRACE, "parent_span_id": HEX_PARENT})
    for name in ("full", "private"):
        text = body_text(kind, name, record)
        shown = text if kind != "datadog" else text + str(int(HEX_PARENT, 16))
        assert HEX_TRACE in shown and (HEX_PARENT in shown or str(int(HEX_PARENT, 16)) in shown), name


def test_the_salt_is_the_names_and_spelled_out():
    assert id_salt("langfuse") == id_salt("langfuse") != id_salt("langfuse-private")
    assert 0 <= id_salt("x") < 2**64
    assert make_destination(config("otel-collector", "a")).id_salt == id_salt("a")
    assert make_destination(config("otel-collector", "")).id_salt == id_salt("otel-collector")  # the default name
    assert salted("gen-1", 0) == "gen-1" and salted("gen-1", 255) == "gen-1#00000000000000ff"


def test_two_collector_destinations_on_one_backend_keep_all_their_spans():
    """A full copy and a privacy-mode copy to one receiver (one backend, two projects): every span of
    each arrives under an id of its own, so neither can overwrite the other's."""
    now = time.time_ns()
    records = [full_record(i, start_time_ns=now, end_time_ns=now + 1, trace=trace,
                           provider_attempts=[ProviderAttempt(provider="A", status=500)])
               for i, trace in enumerate([None, {"trace_id": "workflow-1", "span_name": "step"},
                                          {"trace_id": HEX_TRACE, "parent_span_id": HEX_PARENT}])]
    with SinkThread(OtlpSink()) as sink:
        destinations = [
            {"type": "otel-collector", "name": name, "endpoint": sink.url, "privacy_mode": name == "private",
             "resource": {"project": name}}
            for name in ("full", "private")
        ]
        with Broadcaster(destinations) as b:
            for record in records:
                b.emit(record)
            assert b.flush(10)
    by_project: dict[str, list[dict]] = {"full": [], "private": []}
    for received in sink.received:
        project = "private" if b"private" in received.body else "full"
        by_project[project] += received.spans
    # a generation and an attempt each; the second record has a step span and a root (its id derived from
    # the trace id, so salted); the third hangs under the caller's span, whose trace has its root already
    per_copy = 2 + (1 + 1 + 2) + 2
    for spans in by_project.values():
        assert len(spans) == per_copy
    span_ids = [s["span_id"] for spans in by_project.values() for s in spans]
    assert len(span_ids) == len(set(span_ids)) == 2 * per_copy
    traces = {name: {s["trace_id"] for s in spans} for name, spans in by_project.items()}
    assert traces["full"] & traces["private"] == {HEX_TRACE}  # the caller's own hex trace id is kept
    private_text = "".join(json.dumps(s["attributes"]) for s in by_project["private"])
    assert "OTLP is the OpenTelemetry Protocol" not in private_text


def test_an_empty_trace_id_or_parent_span_id_is_absent_for_every_destination(kind):
    """'' groups nothing and names no span: every renderer (the OTLP twins, the event APIs, the warehouses,
    S3) derives the ids it derives when the key is not there at all, not a trace shared by every such record
    and a parent no span has. (Where the trace object is sent as data, its empty keys stay in it.)"""
    record = derived_record({"span_name": "agent-step", "feature": "x"})
    empty = msgspec.structs.replace(record, trace={"trace_id": "", "parent_span_id": "", "span_name": "agent-step",
                                                   "feature": "x"})
    # the bodies only: Snowflake's URL holds a fresh requestId
    shown, absent = (json.dumps(Broadcaster([config(kind, "d")]).preview(r, "d")["body"]) for r in (empty, record))
    assert ids_in(shown) == ids_in(absent)
    if kind not in DERIVES_NONE:
        assert ids_in(absent)  # there are derived ids to compare
