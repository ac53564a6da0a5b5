"""The one intermediate both OTLP wire forms are read into: a span with plain Python attribute values.

The mapping to records (ingest/mapping.py) is written once, against this. Attribute values are
plain: string, bool, int, float, list, dict (OTLP kvlist), and bytes as base64 text (so that
everything stays JSON). Ids are lowercase hex ("" when absent). ``raw`` keeps the span as it came
(a protobuf Span or its bytes, or the OTLP JSON object) with ``group``, its resource and scope (alike),
so that spans that are not LLM calls can be forwarded unchanged.
"""

from __future__ import annotations

from typing import Any

__all__ = ["SpanIn", "Group", "SpanProblem", "KIND_NAMES", "STATUS_ERROR"]

STATUS_UNSET, STATUS_OK, STATUS_ERROR = 0, 1, 2
KIND_NAMES = ("unspecified", "internal", "server", "client", "producer", "consumer")


class Group:
    """One (resource, scope) of a request: what its spans share. ``raw_resource`` / ``raw_scope`` keep
    them as they came (protobuf messages or OTLP JSON objects), for forwarding."""

    __slots__ = ("raw_resource", "raw_scope", "resource", "schema_url", "scope", "scope_schema_url")

    def __init__(self, resource: dict[str, Any], scope: str, raw_resource: Any, raw_scope: Any,
                 schema_url: str = "", scope_schema_url: str = "") -> None:
        self.resource, self.scope = resource, scope
        self.raw_resource, self.raw_scope = raw_resource, raw_scope
        self.schema_url, self.scope_schema_url = schema_url, scope_schema_url

    def __repr__(self) -> str:
        return f"<Group scope={self.scope!r} service={self.resource.get('service.name')!r}>"


class SpanIn:
    """One span of an OTLP request, read. ``index`` is its position in the request (for errors), ``where``
    its path there (resourceSpans[0].scopeSpans[1].spans[2])."""

    __slots__ = ("attrs", "end_ns", "events", "group", "index", "kind", "name", "parent_span_id", "raw",
                 "span_id", "start_ns", "status_code", "status_message", "trace_id", "where")

    def __init__(self, index: int, where: str, trace_id: str, span_id: str, parent_span_id: str, name: str,
                 kind: int, start_ns: int, end_ns: int, attrs: dict[str, Any], status_code: int,
                 status_message: str, events: list[tuple[str, int, dict[str, Any]]], group: Group, raw: Any) -> None:
        self.index, self.where = index, where
        self.trace_id, self.span_id, self.parent_span_id = trace_id, span_id, parent_span_id
        self.name, self.kind, self.start_ns, self.end_ns = name, kind, start_ns, end_ns
        self.attrs, self.status_code, self.status_message = attrs, status_code, status_message
        self.events, self.group, self.raw = events, group, raw

    def __repr__(self) -> str:
        return (f"<SpanIn {self.index} {self.name!r} trace={self.trace_id[:8]} span={self.span_id} "
                f"parent={self.parent_span_id or '-'} attrs={len(self.attrs)}>")


class SpanProblem(Exception):
    """A span that cannot be read or used: ``field`` names the attribute or span field, ``reason`` why."""

    def __init__(self, field: str, reason: str) -> None:
        self.field, self.reason = field, reason
        super().__init__(f"{field}: {reason}")
