"""The non-spancast contenders: opentelemetry-proto filled in place, the OpenTelemetry SDK exporter path, orjson dicts."""

from __future__ import annotations

import hashlib
import json
from typing import Any, Sequence

import orjson
from google.protobuf import json_format
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.attributes import BoundedAttributes
from opentelemetry.sdk.util.instrumentation import InstrumentationScope
from opentelemetry.trace import SpanContext, SpanKind, TraceFlags, set_span_in_context
from opentelemetry.trace.status import Status, StatusCode

from spancast import __version__ as SPANCAST_VERSION
from spancast.codec import shapes
from spancast.codec.plan import GENAI_OPERATIONS, GENAI_PROVIDERS
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
SPAN_KIND_INTERNAL = 1
SPAN_KIND_CLIENT = 3
STATUS_OK = 1
_RESERVED = frozenset(TRACE_KEYS)
_INTS = (
    ("gen_ai.usage.input_tokens", "prompt_tokens"),
    ("gen_ai.usage.output_tokens", "completion_tokens"),
    ("gen_ai.usage.total_tokens", "total_tokens"),
    ("gen_ai.usage.cache_read.input_tokens", "cached_tokens"),
    ("gen_ai.usage.cache_creation.input_tokens", "cache_write_tokens"),
    ("gen_ai.usage.cache_write.input_tokens", "cache_write_tokens"),
    ("gen_ai.usage.reasoning.output_tokens", "reasoning_tokens"),
)


# ---------------------------------------------------------------- the attributes spancast emits (gen_ai flavour)


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


def record_attributes(rec: Any) -> list[tuple[str, Any]]:
    """A hand-written mirror of the gen_ai plan's generation span (spancast/codec/plan.py):
    (key, str|int|float|bool|list[str]). The message parts come from spancast.codec.shapes, as the
    encoders' do; the JSON is orjson's."""
    out: list[tuple[str, Any]] = [("gen_ai.operation.name", GENAI_OPERATIONS.get(rec.operation, rec.operation))]
    provider = rec.provider
    if provider is not None:
        out.append(("gen_ai.system", provider.lower()))
        out.append(("gen_ai.provider.name", GENAI_PROVIDERS.get(provider) or provider.lower()))
    out.append(("gen_ai.request.model", rec.model))
    out.append(("gen_ai.response.model", rec.model if rec.response_model is None else rec.response_model))
    out.append(("gen_ai.response.id", rec.id))
    if rec.finish_reason is not None:
        out.append(("gen_ai.response.finish_reasons", [rec.finish_reason]))
    for key, value in (("gen_ai.response.native_finish_reason", rec.native_finish_reason),
                       ("gen_ai.conversation.id", rec.session_id)):
        if value is not None:
            out.append((key, value))
    for key, field in _INTS:
        value = getattr(rec, field)
        if value is not None:
            out.append((key, value))
    if rec.total_cost is not None:
        out.append(("gen_ai.usage.cost", float(rec.total_cost)))
    costs = {k: float(v) for k, v in (("input_cost", rec.input_cost), ("output_cost", rec.output_cost),
                                      ("total_cost", rec.total_cost)) if v is not None}
    if costs:  # json's float repr, as spancast's (orjson writes 1.7e-05 as 0.000017)
        out.append(("mlflow.llm.cost", json.dumps(costs, separators=(",", ":"))))
    if rec.time_to_first_token_ms is not None:
        out.append(("gen_ai.response.time_to_first_chunk", rec.time_to_first_token_ms * 0.001))
    if rec.streamed is not None:
        out.append(("gen_ai.request.stream", bool(rec.streamed)))
    if rec.model_parameters is not None:
        for k, v in rec.model_parameters.items():
            out.append(("gen_ai.request." + k, v))
    for key, value in (("error.type", rec.error_type), ("gen_ai.response.cancelled", rec.cancelled),
                       ("gen_ai.api_key.name", rec.api_key_name)):
        if value is not None:
            out.append((key, value))
    if rec.trace is not None:
        for k, v in rec.trace.items():
            if k not in _RESERVED:
                out.append(("trace.metadata." + k, v))
    messages = shapes.genai_input(rec)
    if messages is not None:
        out.append(("gen_ai.input.messages", _json(messages)))
    answer = shapes.genai_output(rec)
    if answer is not None:
        out.append(("gen_ai.output.messages", _json(answer)))
    if rec.completion is not None:
        out.append(("output.value", rec.completion))
        out.append(("output.mime_type", "text/plain"))
    return out


def root_attributes(rec: Any) -> list[tuple[str, Any]]:
    """The trace root's attributes (the workloads' records each name their own trace: a root each)."""
    return [(k, v) for k, v in (("user.id", rec.user), ("session.id", rec.session_id)) if v is not None]


def span_name(rec: Any) -> str:
    return (rec.trace or {}).get("generation_name") or rec.model


def root_name(rec: Any) -> str:
    return (rec.trace or {}).get("trace_name") or rec.model


def sdk_call(tracer: Any) -> Any:
    """What an app pays per generation through the SDK: attributes, a span, its status, its end."""
    start_span, client, ok = tracer.start_span, SpanKind.CLIENT, Status(StatusCode.OK)

    def call(rec: Any) -> None:
        root = start_span(root_name(rec), attributes=dict(root_attributes(rec)), start_time=rec.start_time_ns)
        context = set_span_in_context(root)
        span = start_span(span_name(rec), context=context, kind=client, attributes=dict(record_attributes(rec)),
                          start_time=rec.start_time_ns)
        span.set_status(ok)
        span.end(end_time=rec.end_time_ns)
        root.set_status(ok)
        root.end(end_time=rec.end_time_ns)

    return call


def span_id(rec: Any, kind: bytes = b"") -> bytes:
    """8 bytes derived from the record id (spancast hashes the id too, with its own hash)."""
    return hashlib.blake2b(kind + rec.id.encode(), digest_size=8).digest()


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
        trace_id = bytes.fromhex(trace_id_hex(rec))
        for name, kind, ident, parent, attrs in (
            (root_name(rec), SPAN_KIND_INTERNAL, span_id(rec, b"root"), None, root_attributes(rec)),
            (span_name(rec), SPAN_KIND_CLIENT, span_id(rec), span_id(rec, b"root"), record_attributes(rec)),
        ):
            span = spans.add()
            span.trace_id = trace_id
            span.span_id = ident
            if parent is not None:
                span.parent_span_id = parent
            span.name = name
            span.kind = kind
            span.start_time_unix_nano = rec.start_time_ns
            span.end_time_unix_nano = rec.end_time_ns
            attributes = span.attributes
            for key, value in attrs:
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
        trace_id = int(trace_id_hex(rec), 16)
        root = SpanContext(trace_id=trace_id, span_id=int.from_bytes(span_id(rec, b"root"), "big"), is_remote=False,
                           trace_flags=TraceFlags(TraceFlags.SAMPLED))
        own = SpanContext(trace_id=trace_id, span_id=int.from_bytes(span_id(rec), "big"), is_remote=False,
                          trace_flags=TraceFlags(TraceFlags.SAMPLED))
        for name, context, parent, kind, pairs in (
            (root_name(rec), root, None, SpanKind.INTERNAL, root_attributes(rec)),
            (span_name(rec), own, root, SpanKind.CLIENT, record_attributes(rec)),
        ):
            attrs = {k: tuple(v) if isinstance(v, list) else v for k, v in pairs}
            out.append(
                ReadableSpan(
                    name=name,
                    context=context,
                    parent=parent,
                    resource=resource,
                    attributes=BoundedAttributes(attributes=attrs, immutable=False),
                    kind=kind,
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
        root_id = span_id(rec, b"root").hex()
        spans.append(
            {
                "traceId": trace_id_hex(rec),
                "spanId": root_id,
                "name": root_name(rec),
                "kind": SPAN_KIND_INTERNAL,
                "startTimeUnixNano": str(rec.start_time_ns),
                "endTimeUnixNano": str(rec.end_time_ns),
                "attributes": [{"key": k, "value": _any(v)} for k, v in root_attributes(rec)],
                "status": {"code": STATUS_OK},
            }
        )
        spans.append(
            {
                "traceId": trace_id_hex(rec),
                "spanId": span_id(rec).hex(),
                "parentSpanId": root_id,
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
