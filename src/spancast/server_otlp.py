"""POST /v1/traces: OTLP/HTTP trace ingest for spancast serve, answered as OTLP/HTTP requires.

Takes application/x-protobuf (the otlp extra) or application/json, gzip, deflate or zstd, with the
same token, limits and deadlines as /v1/generations. LLM spans become records (spancast.ingest);
the others are counted and dropped, or forwarded unchanged to the OTLP destinations
(server.non_llm_spans = "forward", ingest/forward.py).

Answers, in the request's own encoding (protobuf or JSON):

    200  ExportTraceServiceResponse; partial_success names the spans that could not be used
         (rejected_spans, and error_message: "span 3 (resourceSpans[0].scopeSpans[0].spans[3]): field: reason; ...")
    400  a body that is no ExportTraceServiceRequest        401  missing or wrong token
    413  over server.max_body_bytes, before or after decompression
    415  another content type or encoding, or protobuf without the otlp extra
    503  shutting down, the spool cannot take records, or the intake has no room for all of the
         request's records (nothing is taken: OTLP clients retry the whole request); Retry-After
Errors carry a google.rpc.Status (code, message), as protobuf or as JSON.

ExportTraceServiceResponse and Status are written here without protobuf objects:
    ExportTraceServiceResponse  1 partial_success (LEN) -> 1 rejected_spans (VARINT)  2 error_message (LEN)
    google.rpc.Status           1 code (VARINT)  2 message (LEN)
"""

from __future__ import annotations

import logging
from collections import Counter
from typing import Any

import orjson
from aiohttp import web

from .codec.wire import len_field, utf8, varint
from .ingest import PROTOBUF_MISSING, BodyError, protobuf_available, read_traces
from .server_body import BodyRefusal, read_body

__all__ = ["TracesRoute", "SPAN_OUTCOMES", "success_body"]

PROTOBUF, JSON = "application/x-protobuf", "application/json"
#: How the spans of /v1/traces ended (spancast_ingest_spans_total{outcome}).
SPAN_OUTCOMES = ("generation", "rejected", "refused", "not_llm_dropped", "not_llm_forwarded", "attempt_folded")
_MAX_ERRORS_NAMED = 10
_MAX_MESSAGE_CHARS = 2000
# google.rpc.Code of each HTTP status answered
_RPC_CODES = {400: 3, 401: 16, 408: 4, 413: 8, 415: 3, 500: 13, 503: 14}


def _status_body(fmt: str, status: int, message: str) -> bytes:
    code = _RPC_CODES.get(status, 2)
    if fmt == PROTOBUF:
        return bytes([0x08]) + varint(code) + len_field(0x12, utf8(message))
    return orjson.dumps({"code": code, "message": message})


def success_body(fmt: str, rejected: int, message: str) -> bytes:
    if fmt == PROTOBUF:
        if not rejected:
            return b""
        inner = bytes([0x08]) + varint(rejected) + len_field(0x12, utf8(message))
        return len_field(0x0A, inner)
    if not rejected:
        return b"{}"
    return orjson.dumps({"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}})


def _errors_message(errors: list[tuple[int, str, str, str]], extra: str = "") -> str:
    named = [f"span {i} ({where}): {field}: {reason}" for i, where, field, reason in errors[:_MAX_ERRORS_NAMED]]
    if len(errors) > _MAX_ERRORS_NAMED:
        named.append(f"and {len(errors) - _MAX_ERRORS_NAMED} more")
    message = "; ".join(([extra] if extra else []) + named)
    return message[:_MAX_MESSAGE_CHARS]


class TracesRoute:
    """The handler of POST /v1/traces for one Server; counts every span by outcome."""

    def __init__(self, server: Any, forwarder: Any = None) -> None:
        self.server = server
        self.forwarder = forwarder
        self.spans: Counter[str] = Counter({outcome: 0 for outcome in SPAN_OUTCOMES})

    def answer(self, fmt: str, status: int, message: str, headers: dict[str, str] | None = None) -> web.Response:
        return web.Response(body=_status_body(fmt, status, message), status=status, content_type=fmt, headers=headers)

    async def handle(self, request: web.Request) -> web.Response:
        fmt = PROTOBUF if request.content_type == PROTOBUF else JSON
        try:
            return await self._handle(request, fmt)
        except Exception as exc:  # a bug: the client gets a 500, the log one line per cause and minute
            self.server._log(logging.ERROR, "traces:" + type(exc).__name__, "spancast: POST /v1/traces failed: %s: %s",
                             type(exc).__name__, str(exc)[:200])
            return self.answer(fmt, 500, f"internal error ({type(exc).__name__}); the spans were not taken")

    async def _handle(self, request: web.Request, fmt: str) -> web.Response:
        server = self.server
        gate = server.gate(request)
        if gate is not None:
            status, message, headers = gate
            return self.answer(fmt, status, message, headers)
        if request.content_type not in (PROTOBUF, JSON):
            return self.answer(fmt, 415, f"unsupported content type {request.content_type!r}; send {PROTOBUF} or {JSON}")
        if fmt == PROTOBUF and not protobuf_available():
            return self.answer(fmt, 415, PROTOBUF_MISSING)
        try:
            body = await read_body(request, server.max_body_bytes, server.body_timeout_s)
        except BodyRefusal as refusal:
            answer = self.answer(fmt, refusal.status, refusal.message)
            if refusal.close:
                answer.force_close()
            return answer
        status, message, rejected, headers = await self.take(body, fmt)
        if status != 200:
            return self.answer(fmt, status, message, headers)
        return web.Response(body=success_body(fmt, rejected, message), content_type=fmt)

    async def take(self, body: bytes, fmt: str) -> tuple[int, str, int, dict[str, str] | None]:
        """One ExportTraceServiceRequest, read, mapped and handed to the pipeline: (200, the partial success's
        message, rejected spans, None), or (400 or 503, why, 0, headers). Shared by HTTP and gRPC."""
        server = self.server
        if not body.strip():  # an empty request is a valid one (OpenRouter's webhook test sends it)
            return 200, "", 0, None
        try:
            ingested = read_traces(body, fmt)
        except BodyError as exc:
            return 400, str(exc)[:_MAX_MESSAGE_CHARS], 0, None
        records = [record for _, record in ingested.records]
        broadcaster = server.broadcaster
        intake = broadcaster.intake
        retry = {"Retry-After": str(server.retry_after_s)}
        if records and intake.capacity - len(intake) < len(records):
            self.spans["refused"] += len(records)
            return 503, f"queue full: no room for {len(records)} records; retry later", 0, retry
        emitted = broadcaster.emit_many(records)  # room was checked: fewer only if the pipeline stopped meanwhile
        refused = len(records) - emitted
        spans = self.spans
        spans["generation"] += emitted  # taken, whatever the spool says next
        spans["refused"] += refused
        spans["rejected"] += len(ingested.errors)
        spans["attempt_folded"] += ingested.folded
        if emitted:
            problem = await server.durable()
            if problem is not None:
                spans["not_llm_dropped"] += len(ingested.other)  # the client sends the request again
                return 503, problem, 0, retry
        if ingested.other:
            forwarded = self.forwarder.forward(ingested.other) if self.forwarder is not None else 0
            spans["not_llm_forwarded"] += forwarded
            spans["not_llm_dropped"] += len(ingested.other) - forwarded
        extra = f"{refused} records refused: the pipeline is stopping" if refused else ""
        rejected = len(ingested.errors) + refused
        return 200, _errors_message(ingested.errors, extra) if rejected else "", rejected, None

    def __repr__(self) -> str:
        counts = " ".join(f"{k}={v}" for k, v in self.spans.items() if v)
        return f"<TracesRoute forward={'on' if self.forwarder is not None else 'off'} {counts}>"
