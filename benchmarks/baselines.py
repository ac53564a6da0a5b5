"""The non-spancast contenders: opentelemetry-proto filled in place, the OpenTelemetry SDK exporter path, orjson dicts."""

from __future__ import annotations

import hashlib
from typing import Any, Sequence

import orjson
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags
from opentelemetry.trace.status import Status, StatusCode

from spancast import __version__ as SPANCAST_VERSION
from spancast.record import TRACE_KEYS

__all__ = [
    "record_attributes",
    "sdk_call",
    "proto_request",
    "proto_encode",
    "proto_to_json",
    "sdk_spans",
    "sdk_encode",
    "sdk_to_json",
    "otlp_dict",
    "orjson_encode",
]

SERVICE_NAME = "spancast"
SCOPE_NAME = "spancast"
DEFAULT_NAME = "LLM Generation"
SPAN_KIND_CLIENT = 3
STATUS_OK = 1
_RESERVED = frozenset(TRACE_KEYS)
_INTS = (
    ("gen_ai.usage.input_tokens", "prompt_tokens"),
    ("gen_ai.usage.output_tokens", "completion_tokens"),
    ("gen_ai.usage.total_tokens", "total_tokens"),
    ("gen_ai.usage.input_tokens.cached", "cached_tokens"),
    ("gen_ai.usage.input_tokens.cache_write", "cache_write_tokens"),
    ("gen_ai.usage.output_tokens.reasoning", "reasoning_tokens"),
)
_COSTS = (
    ("gen_ai.usage.input_cost", "input_cost"),
    ("gen_ai.usage.output_cost", "output_cost"),
    ("gen_ai.usage.total_cost", "total_cost"),
)


# ---------------------------------------------------------------- the attributes spancast emits (gen_ai flavour)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def record_attributes(rec: Any) -> list[tuple[str, Any]]:
    """A hand-written mirror of the gen_ai plan (spancast/codec/plan.py): (key, str|int|float|bool|list[str])."""
    out: list[tuple[str, Any]] = [("gen_ai.operation.name", rec.operation)]
    provider = rec.provider
    if provider is not None:
        out.append(("gen_ai.system", provider.lower()))
        out.append(("gen_ai.provider.name", provider))
    out.append(("gen_ai.request.model", rec.model))
    out.append(("gen_ai.response.model", rec.model if rec.response_model is None else rec.response_model))
    out.append(("gen_ai.response.id", rec.id))
    if rec.finish_reason is not None:
        out.append(("gen_ai.response.finish_reasons", [rec.finish_reason]))
    if rec.native_finish_reason is not None:
        out.append(("gen_ai.response.native_finish_reason", rec.native_finish_reason))
    for key, field in _INTS:
        value = getattr(rec, field)
        if value is not None:
            out.append((key, value))
    for key, field in _COSTS:
        value = getattr(rec, field)
        if value is not None:
            out.append((key, float(value)))
    if rec.time_to_first_token_ms is not None:
        out.append(("gen_ai.server.time_to_first_token", rec.time_to_first_token_ms * 0.001))
    if rec.streamed is not None:
        out.append(("gen_ai.request.stream", bool(rec.streamed)))
    if rec.cancelled is not None:
        out.append(("gen_ai.response.cancelled", bool(rec.cancelled)))
    if rec.model_parameters is not None:
        for k, v in rec.model_parameters.items():
            out.append(("gen_ai.request." + k, v))
    for key, value in (
        ("error.type", rec.error_type),
        ("user.id", rec.user),
        ("session.id", rec.session_id),
        ("gen_ai.api_key.name", rec.api_key_name),
    ):
        if value is not None:
            out.append((key, value))
    if rec.trace is not None:
        for k, v in rec.trace.items():
            if k not in _RESERVED:
                out.append(("trace.metadata." + k, v))
    prompt = {k: v for k, v in (("messages", rec.messages), ("prompt", rec.prompt)) if v is not None}
    if prompt:
        out.append(("gen_ai.prompt", _json(prompt)))
    completion = {
        k: v
        for k, v in (("completion", rec.completion), ("reasoning", rec.reasoning), ("toolCalls", rec.tool_calls))
        if v is not None
    }
    if completion:
        out.append(("gen_ai.completion", _json(completion)))
    return out


def span_name(rec: Any) -> str:
    trace = rec.trace or {}
    return trace.get("generation_name") or trace.get("trace_name") or DEFAULT_NAME


def sdk_call(tracer: Any) -> Any:
    """What an app pays per generation through the SDK: attributes, a span, its status, its end."""
    start_span, client, ok = tracer.start_span, SpanKind.CLIENT, Status(StatusCode.OK)

    def call(rec: Any) -> None:
        span = start_span(span_name(rec), kind=client, attributes=dict(record_attributes(rec)),
                          start_time=rec.start_time_ns)
        span.set_status(ok)
        span.end(end_time=rec.end_time_ns)

    return call


def span_id(rec: Any) -> bytes:
    """8 bytes derived from the record id (spancast hashes the id too, with its own hash)."""
    return hashlib.blake2b(rec.id.encode(), digest_size=8).digest()


def trace_id_hex(rec: Any) -> str:
    """The record's W3C trace id (the workloads always carry a valid one)."""
    return rec.trace["trace_id"].lower()


# ---------------------------------------------------------------- opentelemetry-proto messages filled in place


def _set_any(value_msg: Any, value: Any) -> None:
    kind = type(value)
    if kind is str:
        value_msg.string_value = value
    elif kind is bool:
        value_msg.bool_value = value
    elif kind is int:
        value_msg.int_value = value
    elif kind is float:
        value_msg.double_value = value
    elif kind is list or kind is tuple:
        values = value_msg.array_value.values
        for item in value:
            _set_any(values.add(), item)
    elif value is not None:
        value_msg.string_value = _json(value)


def proto_request(records: Sequence[Any]) -> ExportTraceServiceRequest:
    """Build the ExportTraceServiceRequest from records: attributes, JSON content, ids, all per call."""
    request = ExportTraceServiceRequest()
    resource_spans = request.resource_spans.add()
    kv = resource_spans.resource.attributes.add()
    kv.key = "service.name"
    kv.value.string_value = SERVICE_NAME
    scope_spans = resource_spans.scope_spans.add()
    scope_spans.scope.name = SCOPE_NAME
    scope_spans.scope.version = SPANCAST_VERSION
    spans = scope_spans.spans
    for rec in records:
        span = spans.add()
        span.trace_id = bytes.fromhex(trace_id_hex(rec))
        span.span_id = span_id(rec)
        span.name = span_name(rec)
        span.kind = SPAN_KIND_CLIENT
        span.start_time_unix_nano = rec.start_time_ns
        span.end_time_unix_nano = rec.end_time_ns
        attributes = span.attributes
        for key, value in record_attributes(rec):
            kv = attributes.add()
            kv.key = key
            _set_any(kv.value, value)
        span.status.code = STATUS_OK
    return request


def proto_encode(records: Sequence[Any]) -> bytes:
    return proto_request(records).SerializeToString()


def proto_to_json(records: Sequence[Any]) -> bytes:
    """proto3 JSON (MessageToJson, compact): base64 ids and enum names, so not OTLP JSON."""
    return json_format.MessageToJson(proto_request(records), indent=None).encode()


# ---------------------------------------------------------------- the OpenTelemetry SDK exporter path


def sdk_spans(records: Sequence[Any]) -> list[ReadableSpan]:
    """Pre-built SDK spans carrying the same attributes (content as the same JSON strings); not timed."""
    resource = Resource({"service.name": SERVICE_NAME})
    scope = InstrumentationScope(SCOPE_NAME, SPANCAST_VERSION)
    out = []
    for rec in records:
        attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in record_attributes(rec)}
        context = SpanContext(
            trace_id=int(trace_id_hex(rec), 16),
            span_id=int.from_bytes(span_id(rec), "big"),
            is_remote=False,
            trace_flags=TraceFlags(TraceFlags.SAMPLED),
        )
        out.append(
            ReadableSpan(
                name=span_name(rec),
                context=context,
                parent=None,
                resource=resource,
                attributes=BoundedAttributes(attributes=attrs, immutable=False),
                kind=SpanKind.CLIENT,
                status=Status(StatusCode.OK),
                start_time=rec.start_time_ns,
                end_time=rec.end_time_ns,
                instrumentation_scope=scope,
            )
        )
    return out


def sdk_encode(spans: Sequence[ReadableSpan]) -> bytes:
    """What OTLPSpanExporter does per batch before the HTTP/gRPC send."""
    return encode_spans(spans).SerializeToString()


def sdk_to_json(spans: Sequence[ReadableSpan]) -> bytes:
    """The SDK has no OTLP JSON exporter: encode_spans + proto3 JSON (not OTLP JSON)."""
    return json_format.MessageToJson(encode_spans(spans), indent=None).encode()


# ---------------------------------------------------------------- orjson on hand-built OTLP JSON dicts


def _any(value: Any) -> dict:
    kind = type(value)
    if kind is str:
        return {"stringValue": value}
    if kind is bool:
        return {"boolValue": value}
    if kind is int:
        return {"intValue": str(value)}  # OTLP JSON: 64-bit integers as strings
    if kind is float:
        return {"doubleValue": value}
    if kind is list or kind is tuple:
        return {"arrayValue": {"values": [_any(item) for item in value]}}
    if value is None:
        return {}
    return {"stringValue": _json(value)}


def otlp_dict(records: Sequence[Any]) -> dict:
    """The OTLP JSON request as plain dicts: hex ids, lowerCamelCase keys, integer enums, int64 as strings."""
    spans = []
    for rec in records:
        spans.append(
            {
                "traceId": trace_id_hex(rec),
                "spanId": span_id(rec).hex(),
                "name": span_name(rec),
                "kind": SPAN_KIND_CLIENT,
                "startTimeUnixNano": str(rec.start_time_ns),
                "endTimeUnixNano": str(rec.end_time_ns),
                "attributes": [{"key": k, "value": _any(v)} for k, v in record_attributes(rec)],
                "status": {"code": STATUS_OK},
            }
        )
    return {
        "resourceSpans": [
            {
                "resource": {"attributes": [{"key": "service.name", "value": {"stringValue": SERVICE_NAME}}]},
                "scopeSpans": [{"scope": {"name": SCOPE_NAME, "version": SPANCAST_VERSION}, "spans": spans}],
            }
        ]
    }


def orjson_encode(records: Sequence[Any]) -> bytes:
    return orjson.dumps(otlp_dict(records))
