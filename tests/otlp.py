"""Test helpers: parse encoder output with the reference implementation (opentelemetry-proto)."""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def parse_pb(data: bytes) -> ExportTraceServiceRequest:
    msg = ExportTraceServiceRequest()
    msg.ParseFromString(bytes(data))  # data may be a pooled Body (bytes-like); protobuf wants bytes
    return msg


def parse_otlp_json(data: bytes) -> ExportTraceServiceRequest:
    """OTLP JSON -> message: ids are hex in OTLP JSON but base64 in proto3 JSON, so convert them first."""
    doc = json.loads(data)
    for rs in doc.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
    msg = ExportTraceServiceRequest()
    json_format.ParseDict(doc, msg)
    return msg


def parse(data: bytes, fmt: str) -> ExportTraceServiceRequest:
    return parse_pb(data) if fmt == "protobuf" else parse_otlp_json(data)


def spans(msg: ExportTraceServiceRequest) -> list:
    return [span for rs in msg.resource_spans for ss in rs.scope_spans for span in ss.spans]


def any_value(v) -> tuple[str, Any]:
    """An AnyValue as (type, python value), so a test can check the type as well as the value."""
    kind = v.WhichOneof("value")
    if kind is None:
        return ("null", None)
    if kind == "array_value":
        return ("array", [any_value(x) for x in v.array_value.values])
    if kind == "kvlist_value":
        return ("kvlist", {kv.key: any_value(kv.value) for kv in v.kvlist_value.values})
    return (kind.removesuffix("_value"), getattr(v, kind))


def attrs(span) -> dict[str, tuple[str, Any]]:
    keys = [kv.key for kv in span.attributes]
    assert len(keys) == len(set(keys)), f"duplicate attribute keys: {keys}"
    return {kv.key: any_value(kv.value) for kv in span.attributes}


def as_dict(msg) -> dict:
    """A comparable form (NaN-safe: NaN becomes the string 'NaN')."""
    return json_format.MessageToDict(msg, preserving_proto_field_name=True)
