"""Reads an OTLP/HTTP protobuf ExportTraceServiceRequest into SpanIn, with opentelemetry-proto (the otlp extra).

With the native extension, its reader walks the wire bytes in place (native/otlpread.pxi, ~5x less CPU
a span); else protobuf's upb backend parses in C and _read_parsed walks the parsed message once: the twin
(tests/test_otlp_read.py holds the two to the same spans). The native reader keeps a span, resource and
scope as the bytes they came in (forward.py parses those it forwards). Without the extra, ``available()``
is False and serve answers protobuf bodies with 415 naming the extra (OTLP JSON needs nothing).
"""

from __future__ import annotations

import base64
from typing import Any

from ..codec import IMPL, implementation
from .otlp_json import BodyError
from .spans import Group, SpanIn, SpanProblem

__all__ = ["available", "read_protobuf", "MISSING"]

MISSING = "OTLP protobuf needs the otlp extra: pip install 'spancast[otlp]' (or send OTLP JSON, Content-Type: application/json)"

try:
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
except ImportError:  # the extra is not installed
    ExportTraceServiceRequest = None  # type: ignore[assignment,misc]
    DecodeError = Exception  # type: ignore[assignment,misc]


_native: Any = implementation("native") if IMPL == "native" else None


def available() -> bool:
    return ExportTraceServiceRequest is not None


_SCALARS = frozenset({"string_value", "int_value", "double_value", "bool_value"})


def value_of(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind in _SCALARS:
        return getattr(v, kind)
    if kind == "array_value":
        return [value_of(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: value_of(kv.value) for kv in v.kvlist_value.values}
    if kind == "bytes_value":
        return base64.b64encode(v.bytes_value).decode()
    return None


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: value_of(kv.value) for kv in kvs}


def _id(raw: bytes, size: int, name: str) -> str:
    if not raw:
        return ""
    if len(raw) != size:
        raise SpanProblem(name, f"expected {size} bytes, got {len(raw)}")
    return raw.hex()


def read_protobuf(body: bytes) -> tuple[list[SpanIn], list[tuple[int, str, SpanProblem]]]:
    """(the spans that could be read, [(index, where, problem) for the ones that could not])."""
    if ExportTraceServiceRequest is None:
        raise RuntimeError(MISSING)
    return _read_wire(body) if _native is not None else _read_parsed(body)


def _read_wire(body: bytes) -> tuple[list[SpanIn], list[tuple[int, str, SpanProblem]]]:
    """read_protobuf by the native reader."""
    try:
        rows = _native.read_otlp_protobuf(body)
    except _native.OtlpWireError as exc:
        raise BodyError(f"not an ExportTraceServiceRequest: {exc}") from None
    spans: list[SpanIn] = []
    problems: list[tuple[int, str, SpanProblem]] = []
    groups: dict[int, Group] = {}
    for index, (r, s, k, g, span, raw) in enumerate(rows):
        group = groups.get(id(g))
        if group is None:
            group = groups[id(g)] = Group(g[0], g[1], g[2], g[3], g[4], g[5])
        where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{k}]"
        trace_id, span_id, parent, name, kind, start, end, attrs, code, message, events = span
        try:
            spans.append(SpanIn(index, where, _id(trace_id, 16, "traceId"), _id(span_id, 8, "spanId"),
                                _id(parent, 8, "parentSpanId"), name, kind, start, end, attrs, code, message,
                                events, group, raw))
        except SpanProblem as exc:
            problems.append((index, where, exc))
    return spans, problems


def _read_parsed(body: bytes) -> tuple[list[SpanIn], list[tuple[int, str, SpanProblem]]]:
    """read_protobuf by protobuf's parser: the native reader's twin."""
    try:
        request = ExportTraceServiceRequest.FromString(body)
    except (DecodeError, ValueError) as exc:
        raise BodyError(f"not an ExportTraceServiceRequest: {exc}") from None
    spans: list[SpanIn] = []
    problems: list[tuple[int, str, SpanProblem]] = []
    index = 0
    for r, rs in enumerate(request.resource_spans):
        resource = attributes(rs.resource.attributes)
        for s, ss in enumerate(rs.scope_spans):
            group = Group(resource, ss.scope.name, rs.resource, ss.scope, rs.schema_url, ss.schema_url)
            for k, span in enumerate(ss.spans):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{k}]"
                try:
                    spans.append(SpanIn(
                        index, where, _id(span.trace_id, 16, "traceId"), _id(span.span_id, 8, "spanId"),
                        _id(span.parent_span_id, 8, "parentSpanId"), span.name, span.kind,
                        span.start_time_unix_nano, span.end_time_unix_nano, attributes(span.attributes),
                        span.status.code, span.status.message,
                        [(e.name, e.time_unix_nano, attributes(e.attributes)) for e in span.events], group, span))
                except SpanProblem as exc:
                    problems.append((index, where, exc))
                index += 1
    return spans, problems
