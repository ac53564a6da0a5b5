"""The native OTLP protobuf reader against its twin, protobuf's own parser walked (ingest/otlp_proto.py).

Requests are built with opentelemetry-proto (the reference) from random spans: every AnyValue kind,
nested arrays and kvlists, events, status, several resources and scopes, ids of wrong sizes; both readers
must give the same spans, problems and groups, and the raw bytes the native one keeps must parse to the
message the other keeps. Random and damaged bytes: both refuse them, or both read the same.
"""

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

pytest.importorskip("opentelemetry.proto")  # the test extra, always installed by tests/run

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest  # noqa: E402
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, InstrumentationScope, KeyValue  # noqa: E402
from opentelemetry.proto.resource.v1.resource_pb2 import Resource  # noqa: E402
from opentelemetry.proto.trace.v1.trace_pb2 import Span  # noqa: E402

from spancast.ingest import otlp_proto  # noqa: E402
from spancast.ingest.otlp_json import BodyError  # noqa: E402

texts = st.text(max_size=12)
scalars = st.one_of(
    st.builds(lambda v: AnyValue(string_value=v), texts),
    st.builds(lambda v: AnyValue(bool_value=v), st.booleans()),
    st.builds(lambda v: AnyValue(int_value=v), st.integers(min_value=-(2**63), max_value=2**63 - 1)),
    st.builds(lambda v: AnyValue(double_value=v), st.floats(allow_nan=False)),
    st.builds(lambda v: AnyValue(bytes_value=v), st.binary(max_size=12)),
    st.just(AnyValue()),
)


def _array(values):
    v = AnyValue()
    v.array_value.values.extend(values)
    return v


def _kvlist(pairs):
    v = AnyValue()
    v.kvlist_value.values.extend(KeyValue(key=k, value=x) for k, x in pairs)
    return v


any_values = st.recursive(scalars, lambda inner: st.one_of(
    st.builds(_array, st.lists(inner, max_size=3)),
    st.builds(_kvlist, st.lists(st.tuples(texts, inner), max_size=3)),
), max_leaves=8)
key_values = st.lists(st.builds(lambda k, v: KeyValue(key=k, value=v), st.sampled_from(["a", "b", "gen_ai.x", ""]) | texts,
                                any_values), max_size=4)
ids = st.one_of(st.just(b""), st.binary(min_size=16, max_size=16), st.binary(min_size=8, max_size=8), st.binary(max_size=20))


@st.composite
def spans(draw):
    span = Span(trace_id=draw(ids), span_id=draw(ids), parent_span_id=draw(ids), name=draw(texts),
                kind=draw(st.integers(min_value=0, max_value=5)),
                start_time_unix_nano=draw(st.integers(min_value=0, max_value=2**64 - 1)),
                end_time_unix_nano=draw(st.integers(min_value=0, max_value=2**64 - 1)), trace_state=draw(texts))
    span.attributes.extend(draw(key_values))
    for _ in range(draw(st.integers(min_value=0, max_value=2))):
        event = span.events.add(name=draw(texts), time_unix_nano=draw(st.integers(min_value=0, max_value=2**64 - 1)))
        event.attributes.extend(draw(key_values))
    if draw(st.booleans()):
        span.status.code = draw(st.integers(min_value=0, max_value=2))
        span.status.message = draw(texts)
    if draw(st.booleans()):
        span.links.add(trace_id=draw(ids), span_id=draw(ids))
    return span


@st.composite
def requests(draw):
    request = ExportTraceServiceRequest()
    for _ in range(draw(st.integers(min_value=0, max_value=3))):
        rs = request.resource_spans.add(schema_url=draw(texts))
        if draw(st.booleans()):
            rs.resource.CopyFrom(Resource(attributes=draw(key_values)))
        for _ in range(draw(st.integers(min_value=0, max_value=2))):
            ss = rs.scope_spans.add(schema_url=draw(texts))
            if draw(st.booleans()):
                ss.scope.CopyFrom(InstrumentationScope(name=draw(texts), version=draw(texts)))
            ss.spans.extend(draw(st.lists(spans(), max_size=3)))
    return request.SerializeToString()


def _plain(span):
    g = span.group
    return (span.index, span.where, span.trace_id, span.span_id, span.parent_span_id, span.name, span.kind,
            span.start_ns, span.end_ns, span.attrs, span.status_code, span.status_message, span.events,
            g.resource, g.scope, g.schema_url, g.scope_schema_url)


def _message(cls, raw):
    return cls.FromString(raw) if isinstance(raw, bytes) else raw


def assert_same(body: bytes) -> None:
    wire_spans, wire_problems = otlp_proto._read_wire(body)
    parsed_spans, parsed_problems = otlp_proto._read_parsed(body)
    assert [_plain(s) for s in wire_spans] == [_plain(s) for s in parsed_spans]
    assert [(i, w, p.field, p.reason) for i, w, p in wire_problems] == \
        [(i, w, p.field, p.reason) for i, w, p in parsed_problems]
    for w, p in zip(wire_spans, parsed_spans):
        assert isinstance(w.raw, bytes) and Span.FromString(w.raw) == p.raw
        assert _message(Resource, w.group.raw_resource) == p.group.raw_resource
        assert _message(InstrumentationScope, w.group.raw_scope) == p.group.raw_scope


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests())
def test_the_native_reader_reads_what_protobuf_reads(body):
    assert_same(body)


def _outcome(read, body):
    try:
        spans, problems = read(body)
    except BodyError:
        return "refused"
    return [_plain(s) for s in spans], [(i, w, p.field, p.reason) for i, w, p in problems]


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(requests(), st.data())
def test_damaged_bytes_are_refused_by_both_or_read_alike(body, data):
    if body:  # one byte changed, or the body cut short
        if data.draw(st.booleans()):
            i = data.draw(st.integers(min_value=0, max_value=len(body) - 1))
            body = body[:i] + bytes([data.draw(st.integers(min_value=0, max_value=255))]) + body[i + 1:]
        else:
            body = body[:data.draw(st.integers(min_value=0, max_value=len(body) - 1))]
    assert _outcome(otlp_proto._read_wire, body) == _outcome(otlp_proto._read_parsed, body)


@pytest.mark.parametrize("body", [b"\x0a", b"\x0a\x05\x12", b"\xff" * 11, b"\x0b", b"\x0a\x02\x12\x80"])
def test_malformed_bodies_are_one_body_error_in_both(body):
    for read in (otlp_proto._read_wire, otlp_proto._read_parsed):
        with pytest.raises(BodyError, match="not an ExportTraceServiceRequest"):
            read(body)


def test_nan_and_the_selected_reader():
    request = ExportTraceServiceRequest()
    span = request.resource_spans.add().scope_spans.add().spans.add(name="x")
    span.attributes.add(key="n", value=AnyValue(double_value=math.nan))
    body = request.SerializeToString()
    (wire,), _ = otlp_proto._read_wire(body)
    (parsed,), _ = otlp_proto._read_parsed(body)
    assert math.isnan(wire.attrs["n"]) and math.isnan(parsed.attrs["n"])
    assert otlp_proto.read_protobuf.__module__ == otlp_proto.__name__
    (selected,), _ = otlp_proto.read_protobuf(body)
    assert isinstance(selected.raw, bytes) is (otlp_proto._native is not None)
