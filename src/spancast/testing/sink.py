"""A local OTLP/HTTP receiver for tests and benchmarks: checks each request as a backend would, answers as scripted.

Checks, in the order a real receiver applies them: the path (404) and method (405), the expected
headers such as the auth header (401 when an Authorization-like header is wrong or missing, 400
otherwise), the content type (415), the content encoding (gzip or zstd, else 415), and that the
body decodes as an ExportTraceServiceRequest with opentelemetry-proto (400). Every refusal is kept
in ``problems`` so a test can assert there were none.

Answers come from a script, one reply per request, then ``default``: a status (with headers and a
body), an OTLP partial success, a connection reset, a stall (held until the stall ends or the
sink stops), or an echo of the request (a status with the request line, headers and body as its body). Needs the ``test`` extra (opentelemetry-proto) to decode bodies.
"""

from __future__ import annotations

import asyncio
import base64
import gzip
import json
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping

from aiohttp import web

__all__ = ["Expect", "Reply", "Received", "OtlpSink"]

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
_AUTH_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "dd-api-key", "x-sentry-auth", "wandb-api-key"})


@dataclass(frozen=True)
class Expect:
    """What a request must look like to be accepted."""

    path: str = "/v1/traces"  # ending in "*": any path starting with what comes before it (object keys)
    method: str = "POST"
    headers: Mapping[str, str] = field(default_factory=dict)  # name (any case) -> exact value
    content_types: frozenset[str] = frozenset({PROTOBUF, JSON})
    # A vendor's own auth rule: the request headers -> None when acceptable, else why not (answered 401).
    auth: Callable[[Mapping[str, str]], str | None] | None = None
    # For bodies that are not OTLP (event APIs, rows): the decompressed body and its content type -> the
    # generation ids it carries; ValueError when the vendor would refuse it (answered 400). A key
    # carried in the body (PostHog's api_key) is checked here too.
    decode: Callable[[bytes, str], list[str]] | None = None


@dataclass(frozen=True)
class Reply:
    """One scripted answer."""

    kind: str = "status"  # status | partial | reset | stall | echo
    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    rejected_spans: int = 0
    message: str = ""
    stall_s: float | None = None  # None: until the sink stops
    body_first: bool = False  # echo: the request's body before its headers

    @staticmethod
    def ok() -> Reply:
        return Reply()

    @staticmethod
    def error(status: int, retry_after_s: float | None = None, body: bytes = b"") -> Reply:
        headers = {"Retry-After": f"{retry_after_s:g}"} if retry_after_s is not None else {}
        return Reply("status", status, headers, body)

    @staticmethod
    def partial(rejected_spans: int, message: str = "rejected") -> Reply:
        return Reply("partial", 200, rejected_spans=rejected_spans, message=message)

    @staticmethod
    def reset() -> Reply:
        return Reply("reset")

    @staticmethod
    def stall(seconds: float | None = None) -> Reply:
        return Reply("stall", stall_s=seconds)

    @staticmethod
    def echo(status: int, body_first: bool = False) -> Reply:
        """Answer with this status and a body repeating the request: its line, headers and body (a
        debugging proxy, a WAF page, an API quoting the key it refused); body_first puts the body first."""
        return Reply("echo", status, body_first=body_first)


@dataclass
class Received:
    """One accepted request, decoded."""

    headers: dict[str, str]
    content_type: str
    encoding: str | None
    wire_bytes: int
    body: bytes  # decompressed
    spans: list[dict[str, Any]]  # trace_id, span_id, parent_span_id (hex), name, attributes
    raw: bytes = b""  # as it came over the wire (compressed when it was)
    ids: list[str] = field(default_factory=list)  # generation ids, when Expect.decode read the body
    path_qs: str = ""  # the path and query it was sent to (object keys)

    def generation_ids(self) -> list[str]:
        if self.ids:
            return list(self.ids)
        return [s["attributes"]["gen_ai.response.id"] for s in self.spans if "gen_ai.response.id" in s["attributes"]]


def _any_value(v: Any) -> Any:
    kind = v.WhichOneof("value")
    if kind == "array_value":
        return [_any_value(x) for x in v.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: _any_value(kv.value) for kv in v.kvlist_value.values}
    return getattr(v, kind) if kind else None


def decode_otlp(body: bytes, content_type: str) -> list[dict[str, Any]]:
    """The spans of an ExportTraceServiceRequest in either encoding; ValueError when it does not decode."""
    from google.protobuf import json_format
    from google.protobuf.message import DecodeError
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest

    msg = ExportTraceServiceRequest()
    try:
        if content_type == PROTOBUF:
            msg.ParseFromString(body)
        else:
            doc = json.loads(body) if body.strip() else {}
            for rs in doc.get("resourceSpans", []):  # OTLP JSON ids are hex; proto3 JSON wants base64
                for ss in rs.get("scopeSpans", []):
                    for span in ss.get("spans", []):
                        for key in ("traceId", "spanId", "parentSpanId"):
                            if span.get(key):
                                span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
            json_format.ParseDict(doc, msg)
    except (DecodeError, json_format.ParseError, ValueError, AttributeError, TypeError) as exc:
        raise ValueError(f"body is not an ExportTraceServiceRequest: {exc}") from exc
    return [
        {
            "trace_id": s.trace_id.hex(),
            "span_id": s.span_id.hex(),
            "parent_span_id": s.parent_span_id.hex(),
            "name": s.name,
            "attributes": {kv.key: _any_value(kv.value) for kv in s.attributes},
        }
        for rs in msg.resource_spans
        for ss in rs.scope_spans
        for s in ss.spans
    ]


def _partial_body(rejected: int, message: str, content_type: str) -> bytes:
    from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceResponse

    if content_type == JSON:
        return json.dumps({"partialSuccess": {"rejectedSpans": str(rejected), "errorMessage": message}}).encode()
    resp = ExportTraceServiceResponse()
    resp.partial_success.rejected_spans = rejected
    resp.partial_success.error_message = message
    return resp.SerializeToString()


class OtlpSink:
    """An aiohttp server on 127.0.0.1 that receives OTLP traces; start() it on the test's event loop."""

    def __init__(self, expect: Expect | None = None, default: Reply | None = None, host: str = "127.0.0.1"):
        self.expect = expect or Expect()
        self.default = default or Reply.ok()
        self.host = host
        self.port = 0
        self.received: list[Received] = []
        self.problems: list[tuple[int, str]] = []
        self.replies: list[Reply] = []  # what each request got, in order
        self._script: deque[Reply] = deque()
        self._runner: web.AppRunner | None = None
        self._changed: asyncio.Condition | None = None
        self._stopping: asyncio.Event | None = None

    # ------------------------------------------------------------ lifecycle

    async def start(self) -> OtlpSink:
        self._changed = asyncio.Condition()
        self._stopping = asyncio.Event()
        app = web.Application(client_max_size=256 * 1024 * 1024)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        # Bodies are decompressed here, as a backend would, so that unknown encodings get a 415.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, auto_decompress=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, 0)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self

    async def stop(self) -> None:
        if self._stopping is not None:
            self._stopping.set()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> OtlpSink:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}{self.expect.path}"

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    # ------------------------------------------------------------ scripting and reading

    def script(self, *replies: Reply) -> None:
        """Answer the next requests with these replies, in order; then with the default."""
        self._script.extend(replies)

    def generation_ids(self) -> list[str]:
        return [g for r in self.received for g in r.generation_ids()]

    async def wait_for(self, condition: Callable[[OtlpSink], bool], timeout_s: float = 10.0) -> None:
        """Wait until condition(sink) holds, re-checked after every request; TimeoutError otherwise."""
        assert self._changed is not None, "start() the sink first"
        async with self._changed:
            await asyncio.wait_for(self._changed.wait_for(lambda: condition(self)), timeout_s)

    # ------------------------------------------------------------ the handler

    async def _refuse(self, status: int, reason: str) -> web.Response:
        self.problems.append((status, reason))
        await self._notify()
        return web.Response(status=status, text=reason)

    async def _notify(self) -> None:
        assert self._changed is not None
        async with self._changed:
            self._changed.notify_all()

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        expect = self.expect
        if not (request.path.startswith(expect.path[:-1]) if expect.path.endswith("*") else request.path == expect.path):
            return await self._refuse(404, f"no route {request.path}")
        if request.method != expect.method:
            return await self._refuse(405, f"method {request.method}")
        for name, value in expect.headers.items():
            if request.headers.get(name) != value:
                status = 401 if name.lower() in _AUTH_HEADERS else 400
                return await self._refuse(status, f"header {name} missing or wrong")
        if expect.auth is not None:
            why = expect.auth(request.headers)
            if why is not None:
                return await self._refuse(401, f"auth: {why}")
        content_type = request.content_type
        if content_type not in expect.content_types:
            return await self._refuse(415, f"content type {content_type}")
        raw = await request.read()
        encoding = request.headers.get("Content-Encoding")
        ids: list[str] = []
        try:
            body = _decompress(raw, encoding)
            if expect.decode is not None:
                spans, ids = [], expect.decode(body, content_type)
            else:
                spans = decode_otlp(body, content_type)
        except LookupError as exc:
            return await self._refuse(415, str(exc))
        except (ValueError, OSError) as exc:
            return await self._refuse(400, str(exc))
        reply = self._script.popleft() if self._script else self.default
        self.replies.append(reply)
        if reply.kind == "reset":
            # Read but never answered: the client sees the connection drop and cannot know the outcome.
            self.received.append(Received(dict(request.headers), content_type, encoding, len(raw), body, spans, raw, ids,
                                          request.path_qs))
            await self._notify()
            assert request.transport is not None
            request.transport.abort()
            raise asyncio.CancelledError
        if reply.kind == "stall":
            assert self._stopping is not None
            try:
                await asyncio.wait_for(self._stopping.wait(), reply.stall_s)
            except asyncio.TimeoutError:
                pass
        accepted = reply.kind == "partial" or 200 <= reply.status < 300
        if accepted:
            self.received.append(Received(dict(request.headers), content_type, encoding, len(raw), body, spans, raw, ids,
                                          request.path_qs))
        await self._notify()
        if reply.kind == "echo":
            return web.Response(status=reply.status, body=_echo(request, body, reply.body_first))
        if reply.kind == "partial":
            return web.Response(body=_partial_body(reply.rejected_spans, reply.message, content_type), content_type=content_type)
        return web.Response(status=reply.status, headers=dict(reply.headers), body=reply.body)

    def __repr__(self) -> str:
        return (
            f"<OtlpSink {self.url if self.port else 'not started'} received={len(self.received)} "
            f"problems={len(self.problems)} scripted={len(self._script)}>"
        )


def _echo(request: web.Request, body: bytes, body_first: bool) -> bytes:
    """The request as a debugging proxy repeats it: the request line (URL and query), each header, the body."""
    lines = [f"{request.method} {request.path_qs} HTTP/1.1"] + [f"{k}: {v}" for k, v in request.headers.items()]
    head = ("\n".join(lines) + "\n\n").encode("utf-8", "replace")
    return body + b"\n\n" + head if body_first else head + body


def _decompress(raw: bytes, encoding: str | None) -> bytes:
    if not encoding or encoding == "identity":
        return raw
    if encoding == "gzip":
        return gzip.decompress(raw)
    if encoding == "zstd":
        import zstandard

        try:
            return zstandard.ZstdDecompressor().decompress(raw, max_output_size=512 * 1024 * 1024)
        except zstandard.ZstdError as exc:
            raise ValueError(f"zstd: {exc}") from exc
    raise LookupError(f"content encoding {encoding}")
