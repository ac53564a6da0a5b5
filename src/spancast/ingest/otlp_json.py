"""Reads an OTLP/HTTP JSON ExportTraceServiceRequest (orjson, no extra) into SpanIn.

OTLP JSON as the specification has it: lowerCamelCase keys (snake_case accepted too, as the
Collector does), ids as hex, enums as integers, 64-bit integers as strings or numbers, AnyValue as
``{"stringValue": ...}`` and so on. A body that is not such a document at all is one BodyError; a
span with a bad field (an id that is not hex, a time that is not an integer) is read as far as it
goes and named in ``problems``.
"""

from __future__ import annotations

import base64
from typing import Any

import orjson

from ..errors import SpancastError
from .spans import Group, SpanIn, SpanProblem

__all__ = ["BodyError", "read_json"]


class BodyError(SpancastError, ValueError):
    """The body as a whole is not an ExportTraceServiceRequest."""


def _get(obj: dict[str, Any], camel: str, snake: str) -> Any:
    value = obj.get(camel)
    return obj.get(snake) if value is None else value


def value_of(v: Any) -> Any:
    """An OTLP JSON AnyValue as a plain value (None for an empty one)."""
    if not isinstance(v, dict):
        raise ValueError("an AnyValue must be an object")
    for key, item in v.items():
        if key == "stringValue" or key == "string_value":
            if not isinstance(item, str):
                raise ValueError("stringValue must be a string")
            return item
        if key == "intValue" or key == "int_value":
            if isinstance(item, bool) or not isinstance(item, (int, str)):
                raise ValueError("intValue must be an integer")
            return int(item)
        if key == "doubleValue" or key == "double_value":
            if isinstance(item, str):  # "NaN", "Infinity", "-Infinity"
                return float(item)
            if isinstance(item, bool) or not isinstance(item, (int, float)):
                raise ValueError("doubleValue must be a number")
            return float(item)
        if key == "boolValue" or key == "bool_value":
            if not isinstance(item, bool):
                raise ValueError("boolValue must be true or false")
            return item
        if key == "arrayValue" or key == "array_value":
            return [value_of(x) for x in _values(item, key)]
        if key == "kvlistValue" or key == "kvlist_value":
            return attributes(list(_values(item, key)))
        if key == "bytesValue" or key == "bytes_value":
            base64.b64decode(item, validate=True)  # checked, then kept as the base64 text it is
            return item
    return None


def _values(item: Any, key: str) -> Any:
    if item is None:
        return ()
    if not isinstance(item, dict):
        raise ValueError(f"{key} must be an object with values")
    values = item.get("values") or ()
    if not isinstance(values, (list, tuple)):
        raise ValueError(f"{key}.values must be a list")
    return values


def attributes(kvs: Any) -> dict[str, Any]:
    if not isinstance(kvs, list):
        raise ValueError("attributes must be a list of {key, value}")
    out: dict[str, Any] = {}
    for kv in kvs:
        key = kv.get("key") if isinstance(kv, dict) else None
        if not isinstance(key, str):
            raise ValueError("an attribute without a string key")
        try:
            out[key] = value_of(kv.get("value") or {})
        except (ValueError, TypeError) as exc:
            raise ValueError(f"attribute {key!r}: {exc}") from None
    return out


def _hex_id(value: Any, size: int, name: str) -> str:
    if value is None or value == "":
        return ""
    if not isinstance(value, str) or len(value) != 2 * size:
        raise SpanProblem(name, f"expected {2 * size} hex digits")
    try:
        bytes.fromhex(value)
    except ValueError:
        raise SpanProblem(name, f"expected {2 * size} hex digits") from None
    return value.lower()


def _time(value: Any, name: str) -> int:
    if value is None:
        return 0
    if isinstance(value, bool) or not isinstance(value, (int, str)):
        raise SpanProblem(name, "expected an integer of nanoseconds")
    try:
        number = int(value)
    except ValueError:
        raise SpanProblem(name, "expected an integer of nanoseconds") from None
    if not 0 <= number < 2**64:
        raise SpanProblem(name, "out of the fixed64 range")
    return number


def read_json(body: bytes) -> tuple[list[SpanIn], list[tuple[int, str, SpanProblem]]]:
    """(the spans that could be read, [(index, where, problem) for the ones that could not])."""
    try:
        doc = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise BodyError(f"malformed JSON: {exc}") from None
    if not isinstance(doc, dict):
        raise BodyError("expected a JSON object (an ExportTraceServiceRequest)")
    resource_spans = _get(doc, "resourceSpans", "resource_spans") or []
    if not isinstance(resource_spans, list):
        raise BodyError("resourceSpans must be a list")
    spans: list[SpanIn] = []
    problems: list[tuple[int, str, SpanProblem]] = []
    index = 0
    for r, rs in enumerate(resource_spans):
        if not isinstance(rs, dict):
            raise BodyError(f"resourceSpans[{r}] must be an object")
        raw_resource = rs.get("resource") or {}
        scope_spans = _get(rs, "scopeSpans", "scope_spans") or []
        if not isinstance(scope_spans, list) or not isinstance(raw_resource, dict):
            raise BodyError(f"resourceSpans[{r}]: resource must be an object and scopeSpans a list")
        try:
            resource = attributes(raw_resource.get("attributes") or [])
        except ValueError as exc:
            raise BodyError(f"resourceSpans[{r}].resource: {exc}") from None
        for s, ss in enumerate(scope_spans):
            if not isinstance(ss, dict) or not isinstance(ss.get("spans") or [], list):
                raise BodyError(f"resourceSpans[{r}].scopeSpans[{s}] must be an object with a list of spans")
            raw_scope = ss.get("scope") or {}
            scope_name = raw_scope.get("name") if isinstance(raw_scope, dict) else None
            group = Group(resource, scope_name if isinstance(scope_name, str) else "", rs.get("resource"),
                          ss.get("scope"), _get(rs, "schemaUrl", "schema_url") or "",
                          _get(ss, "schemaUrl", "schema_url") or "")
            for k, span in enumerate(ss.get("spans") or ()):
                where = f"resourceSpans[{r}].scopeSpans[{s}].spans[{k}]"
                try:
                    spans.append(_span(span, index, where, group))
                except SpanProblem as exc:
                    problems.append((index, where, exc))
                index += 1
    return spans, problems


def _span(span: Any, index: int, where: str, group: Group) -> SpanIn:
    if not isinstance(span, dict):
        raise SpanProblem("<span>", "expected an object")
    try:
        attrs = attributes(span.get("attributes") or [])
    except ValueError as exc:
        raise SpanProblem("attributes", str(exc)) from None
    events = []
    for event in span.get("events") or ():
        if isinstance(event, dict):
            try:
                events.append((str(event.get("name") or ""), _time(_get(event, "timeUnixNano", "time_unix_nano"),
                                                                   "events.timeUnixNano"),
                               attributes(event.get("attributes") or [])))
            except ValueError as exc:
                raise SpanProblem("events", str(exc)) from None
    status = span.get("status") or {}
    if not isinstance(status, dict):
        raise SpanProblem("status", "expected an object")
    code = status.get("code") or 0
    if isinstance(code, str):  # proto3 JSON writes enum names; OTLP JSON integers
        code = {"STATUS_CODE_OK": 1, "STATUS_CODE_ERROR": 2}.get(code, 0)
    kind = span.get("kind") or 0
    if isinstance(kind, str):
        kind = {"SPAN_KIND_INTERNAL": 1, "SPAN_KIND_SERVER": 2, "SPAN_KIND_CLIENT": 3, "SPAN_KIND_PRODUCER": 4,
                "SPAN_KIND_CONSUMER": 5}.get(kind, 0)
    name = span.get("name") or ""
    if not isinstance(name, str):
        raise SpanProblem("name", "expected a string")
    return SpanIn(
        index, where,
        _hex_id(_get(span, "traceId", "trace_id"), 16, "traceId"),
        _hex_id(_get(span, "spanId", "span_id"), 8, "spanId"),
        _hex_id(_get(span, "parentSpanId", "parent_span_id"), 8, "parentSpanId"),
        name, int(kind) if isinstance(kind, int) else 0,
        _time(_get(span, "startTimeUnixNano", "start_time_unix_nano"), "startTimeUnixNano"),
        _time(_get(span, "endTimeUnixNano", "end_time_unix_nano"), "endTimeUnixNano"),
        attrs, int(code) if isinstance(code, int) else 0, str(status.get("message") or ""), events, group, span,
    )
