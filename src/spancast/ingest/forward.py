"""Forwards the spans of POST /v1/traces that are not LLM calls, unchanged, to the OTLP destinations.

With ``server.non_llm_spans = "forward"``, the agent, tool, chain and HTTP spans around the LLM calls
reach the OTLP destinations (otel-collector and its vendor presets) as they came: the same ids,
attributes, events, links, resource and scope, re-encoded in each destination's encoding. Such spans
may carry prompts (input.value, tool arguments) and are sent as they are, so only a destination that
takes every record as it is gets them: none with privacy mode, redaction, an API-key allowlist, filter
rules or sampling, and none whose route speaks a vendor's own API (Weave's calls, Opik's REST). Media in
them is not stripped.

Each destination has a Sender of its own (the pipeline's: retries, Retry-After, 413 splits, adaptive
concurrency) and a bound on the encoded bytes it holds (server.forward_max_bytes); what does not fit is
dropped and counted (queue_full), like everything a Sender cannot deliver. The SpanIn objects a batch keeps
for a 413 split are shared by every destination's batch and not counted: about 3x the spans' JSON size
(measured on content-heavy tool spans), once, for as long as one destination holds them. Protobuf out of an OTLP
JSON request needs the otlp extra, as protobuf in does.
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from typing import Any

import orjson

from ..destinations.base import Payload
from ..pipeline.batcher import Batch
from ..pipeline.retry import RetryPolicy
from ..pipeline.sender import Sender
from ..pipeline.stats import DestinationStats
from .spans import SpanIn

__all__ = ["Forwarder", "encode_spans"]


def _hex_to_b64(doc: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"):
        if doc.get(key):
            doc[key] = base64.b64encode(bytes.fromhex(doc[key])).decode()
    for link in doc.get("links") or ():
        _hex_to_b64(link)


def _b64_to_hex(doc: dict[str, Any]) -> None:
    for key in ("traceId", "spanId", "parentSpanId"):
        if doc.get(key):
            doc[key] = base64.b64decode(doc[key]).hex()
    for link in doc.get("links") or ():
        _b64_to_hex(link)


def _groups(spans: Sequence[SpanIn]) -> list[tuple[Any, list[SpanIn]]]:
    """Spans by their (resource, scope) group, in request order."""
    groups: dict[int, tuple[Any, list[SpanIn]]] = {}
    for span in spans:
        groups.setdefault(id(span.group), (span.group, []))[1].append(span)
    return list(groups.values())


def _take(message: Any, raw: Any) -> None:
    """raw into message: a parsed message (protobuf's reader), or the bytes it came in (the native reader's)."""
    if isinstance(raw, bytes):
        message.MergeFromString(raw)
    else:
        message.CopyFrom(raw)


def encode_spans(spans: Sequence[SpanIn], encoding: str) -> bytes:
    """One ExportTraceServiceRequest holding these spans as they came, as protobuf or OTLP JSON."""
    if not spans:
        return b""
    if isinstance(spans[0].raw, dict):  # read from OTLP JSON
        doc = {"resourceSpans": [
            {"resource": group.raw_resource or {}, "schemaUrl": group.schema_url,
             "scopeSpans": [{"scope": group.raw_scope or {}, "schemaUrl": group.scope_schema_url,
                             "spans": [s.raw for s in members]}]}
            for group, members in _groups(spans)]}
        if encoding == "json":
            return orjson.dumps(doc)
        from google.protobuf import json_format
        from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

        doc = orjson.loads(orjson.dumps(doc))  # a copy whose ids may be rewritten
        try:  # fields the ingest never read (links' ids, counts, flags) are checked only here
            for rs in doc["resourceSpans"]:
                for span in rs["scopeSpans"][0]["spans"]:
                    _hex_to_b64(span)
            request = json_format.ParseDict(doc, ExportTraceServiceRequest(), ignore_unknown_fields=True)
        except (json_format.Error, TypeError, ValueError) as exc:
            raise ValueError(f"a span cannot be re-encoded as protobuf: {exc}") from None
        return request.SerializeToString()
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    request = ExportTraceServiceRequest()
    for group, members in _groups(spans):
        rs = request.resource_spans.add()
        _take(rs.resource, group.raw_resource)
        rs.schema_url = group.schema_url
        ss = rs.scope_spans.add()
        _take(ss.scope, group.raw_scope)
        ss.schema_url = group.scope_schema_url
        for s in members:
            _take(ss.spans.add(), s.raw)
    if encoding != "json":
        return request.SerializeToString()
    from google.protobuf import json_format

    doc = json_format.MessageToDict(request, use_integers_for_enums=True)
    for rs in doc.get("resourceSpans", ()):
        for ss in rs.get("scopeSpans", ()):
            for span in ss.get("spans", ()):
                _b64_to_hex(span)
    return orjson.dumps(doc)


class _SpanEncoder:
    """What a Sender's 413 split needs of an encoder, for spans: append_many, then finish."""

    def __init__(self, encoding: str) -> None:
        self.encoding = encoding
        self._spans: list[SpanIn] = []

    def append_many(self, items: list, start: int, max_records: int, max_bytes: int, errors: list) -> tuple[int, None]:
        end = min(len(items), start + max_records)
        self._spans.extend(items[start:end])
        return end, None

    def finish(self) -> bytes:
        spans, self._spans = self._spans, []
        return encode_spans(spans, self.encoding)


class _Forwarding:
    """A destination as a Sender sees it, carrying spans instead of records (its request, auth, compression)."""

    def __init__(self, destination: Any) -> None:
        self.destination = destination
        self.name = destination.name
        self.settings = destination.settings
        self.compressor = destination.compressor
        self.transport = "http"
        self.encoding = destination.encoding
        self.secret_headers = destination.secret_headers  # what scrub masks in the receiver's answers
        self.secret_values = destination.secret_values

    def payloads(self, body: bytes, records: Any = ()) -> list[Payload]:
        return [Payload(body)]  # spans already encoded: one request, whatever the destination cuts records into

    def build_request(self, payload: Payload, wire: bytes, content_encoding: str | None) -> Any:
        return self.destination.build_request(payload, wire, content_encoding)

    def classify(self, status: int, headers: Any, body: bytes) -> Any:
        return self.destination.classify(status, headers, body)

    def new_encoder(self) -> _SpanEncoder:
        return _SpanEncoder(self.encoding)

    def __repr__(self) -> str:
        return f"<Forwarding {self.name}>"


def forwards_to(destination: Any) -> bool:
    """Whether a destination gets forwarded spans: enabled, OTLP over HTTP, and a route that passes every
    record as it is (no privacy mode, redaction, API-key allowlist, filter rules or sampling): spans are
    forwarded unchanged, so a destination that asks for less than everything gets none of them."""
    from ..destinations.otlp import OtlpDestination

    # Weave's calls and Opik's REST routes are destination classes of their own, not OtlpDestinations
    if not (isinstance(destination, OtlpDestination) and destination.transport == "http"
            and destination.requests_per_batch == 1 and destination.settings.enabled):
        return False
    route = destination.route
    return (not route.privacy_mode and not route.redaction and route.api_key_hashes is None
            and (route.filter_rules is None or not route.filter_rules.enabled) and route.sampling_rate >= 1.0)


class Forwarder:
    """One Sender per forwarding destination; forward() hands each the spans of one request."""

    def __init__(self, destinations: Sequence[Any], retry: RetryPolicy | None = None,
                 max_bytes: int = 64 * 1024 * 1024) -> None:
        self.targets = [_Forwarding(d) for d in destinations if forwards_to(d)]
        self.retry = retry or RetryPolicy()
        self.max_bytes = max_bytes
        self.stats = {t.name: DestinationStats(t.name) for t in self.targets}
        self.senders: list[tuple[_Forwarding, Sender]] = []

    async def start(self) -> None:
        for target in self.targets:
            sender = Sender(target, self.stats[target.name], retry=self.retry)
            await sender.start()
            self.senders.append((target, sender))

    def forward(self, spans: list[SpanIn]) -> int:
        """Send these spans to every forwarding destination; returns how many at least one of them took (each
        destination counts its own drops: queue_full when it has no room, invalid_record when they cannot be
        encoded for it)."""
        if not self.senders:
            return 0
        bodies: dict[str, bytes] = {}
        taken = False
        for target, sender in self.senders:
            stats = self.stats[target.name]
            stats.received += len(spans)
            try:
                body = bodies.get(target.encoding)
                if body is None:
                    body = bodies[target.encoding] = encode_spans(spans, target.encoding)
            except ImportError:  # protobuf out of a JSON request, without the otlp extra
                stats.drop("invalid_record", len(spans))
                stats.last_error = "forwarding as protobuf needs the otlp extra: pip install 'spancast[otlp]'"
                continue
            except ValueError:  # protobuf's message may quote the span's values: a fixed one instead
                stats.drop("invalid_record", len(spans))
                stats.last_error = ("a span cannot be re-encoded as protobuf: a field the ingest does not read "
                                    "(links, counts, flags) is malformed")
                continue
            if sender.bytes_in_flight + len(body) > self.max_bytes:
                stats.drop("queue_full", len(spans))
                continue
            sender.submit(Batch(body, list(spans), "records", 0.0))
            taken = True
        return len(spans) if taken else 0

    async def close(self, timeout_s: float) -> None:
        """Deliver what is in flight within timeout_s (one deadline for all), then let go of the sessions."""
        await asyncio.gather(*(sender.drain(timeout_s) for _, sender in self.senders))
        for _, sender in self.senders:
            await sender.close()

    def __repr__(self) -> str:
        return f"<Forwarder to=[{', '.join(t.name for t in self.targets)}] max_bytes={self.max_bytes}>"
