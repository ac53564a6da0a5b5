"""OTLP trace ingest: spans from OpenTelemetry GenAI, OpenInference and Traceloop instrumentations, or
OpenRouter's own Broadcast, read into Generation records (POST /v1/traces on spancast serve).

One request goes: wire form -> SpanIn (otlp_json.py, orjson; otlp_proto.py, opentelemetry-proto behind
the otlp extra) -> records (mapping.py, with one module per convention: genai.py, openinference.py,
traceloop.py, openrouter.py) and the spans that are not LLM calls (forward.py may send them on).
"""

from __future__ import annotations

from .mapping import Mapped, map_spans
from .otlp_json import BodyError, read_json
from .otlp_proto import MISSING as PROTOBUF_MISSING, available as protobuf_available, read_protobuf
from .spans import SpanIn

__all__ = ["BodyError", "Ingested", "PROTOBUF_MISSING", "SpanIn", "protobuf_available", "read_traces"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"


class Ingested(Mapped):
    """Mapped, plus the spans that could not be read at all (in ``errors`` too) and the total span count."""

    __slots__ = ("spans",)

    def __repr__(self) -> str:
        return f"<Ingested spans={self.spans} records={len(self.records)} errors={len(self.errors)} other={len(self.other)}>"


def read_traces(body: bytes, content_type: str) -> Ingested:
    """Read one ExportTraceServiceRequest (content_type application/x-protobuf or application/json).
    Raises BodyError when the body is no such request at all; each unusable span is an error of its own."""
    spans, problems = read_protobuf(body) if content_type == PROTOBUF else read_json(body)
    mapped = map_spans(spans)
    out = Ingested()
    out.records, out.other, out.folded = mapped.records, mapped.other, mapped.folded
    out.errors = sorted([(i, where, p.field, p.reason) for i, where, p in problems] + mapped.errors)
    out.spans = len(spans) + len(problems)
    return out
