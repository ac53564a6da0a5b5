"""The HTTP transport: one keep-alive aiohttp session a destination; an answer becomes the destination's verdict.

The destination classifies the answer (``classify``); a permanent refusal keeps the receiver's words (an
excerpt of its body, scrubbed of the destination's secrets before it is cut, since receivers echo requests
in their errors). No answer is a retry: a timeout (counted "timeout", and overload) or a connection error
(counted "error", described with the host and port aiohttp names).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.payload import BytesPayload

from ..scrub import scrub
from .retry import Action, Decision, decide_error
from .transport import Sent

if TYPE_CHECKING:
    from ..destinations.base import Request

__all__ = ["HttpTransport", "describe_connection_error", "excerpt", "SEPARATE_WRITE_BYTES"]

EXCERPT_CHARS = 200
#: What is read of an answer: enough for classify (partial success, error documents) and an excerpt.
MAX_ANSWER_BYTES = 64 * 1024
#: Bodies from this size on are written after the headers, not joined to them (see _Body).
SEPARATE_WRITE_BYTES = 64 * 1024


class HttpTransport:
    """Sends a destination's requests over one aiohttp session (made by start(), on the loop that sends)."""

    def __init__(self, destination: Any, max_connections: int) -> None:
        self.destination = destination
        self.max_connections = max_connections
        self.session: aiohttp.ClientSession | None = None

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.max_connections, keepalive_timeout=30, ttl_dns_cache=300, enable_cleanup_closed=True
        )
        timeout = aiohttp.ClientTimeout(total=self.destination.settings.timeout_s)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True)

    async def send(self, request: Request) -> Sent:
        assert self.session is not None, "start() the transport first"
        try:
            # An empty body (a poll's GET) is sent as none: a GET gets no Content-Length: 0.
            data = _payload(request.body) if len(request.body) else None
            async with self.session.request(request.method, request.url, data=data,
                                            headers=dict(request.headers)) as resp:
                body = await resp.content.read(MAX_ANSWER_BYTES)
                decision = self.destination.classify(resp.status, resp.headers, body)
                if decision.action is Action.PERMANENT:
                    # The destination's own reason (S3: "NoSuchBucket: ...") and the receiver's words
                    own = "" if decision.reason == f"HTTP {resp.status}" else decision.reason
                    said = excerpt(body, self.destination, request.headers, request.url)
                    decision = Decision(decision.action, decision.status,
                                        reason=": ".join(p for p in (own, said) if p) or decision.reason)
                return Sent(decision)
        except TimeoutError:  # before OSError, of which it is one
            return Sent(decide_error("timeout"), "timeout")
        except (aiohttp.ClientError, OSError) as exc:
            return Sent(Decision(Action.RETRY, None, None, False, describe_connection_error(exc)), "error")

    async def close(self) -> None:
        if self.session is not None:
            session, self.session = self.session, None
            await session.close()

    def __repr__(self) -> str:
        state = "open" if self.session is not None else "closed"
        return f"<HttpTransport {self.destination.name} {state} max_connections={self.max_connections}>"


def excerpt(body: bytes, destination: Any, headers: Any = None, url: str | None = None) -> str:
    """The start of a receiver's answer as spancast keeps it: scrubbed of the destination's secrets
    before it is cut (a secret cut in two would keep its start)."""
    return scrub(body.decode("utf-8", "replace"), destination, headers, url)[:EXCERPT_CHARS].strip()


class _Body(BytesPayload):
    """A large body written on its own: aiohttp otherwise joins the request head and the body into one
    new bytes object per request (it skips writelines before Python 3.12.9), a megabyte-sized copy
    into fresh memory for every batch."""

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        send_headers = getattr(writer, "send_headers", None)  # aiohttp's writer; absent in older releases
        if send_headers is not None:
            send_headers()
        await super().write_with_length(writer, content_length)


def _payload(body: Any) -> Any:
    if body is None:
        return None
    if not isinstance(body, (bytes, bytearray)):
        body = memoryview(body)  # a pooled Body from the native encoder; aiohttp sends memoryviews as they are
    if len(body) >= SEPARATE_WRITE_BYTES:
        return _Body(body, content_type=None)
    return body


def describe_connection_error(exc: BaseException) -> str:
    """What went wrong with a connection, naming the host and port where aiohttp knows them (the same
    words in `spancast test`, `send`'s table, logs and stats)."""
    if isinstance(exc, aiohttp.ClientConnectorDNSError):
        return f"DNS: cannot resolve {exc.host}"
    if isinstance(exc, (aiohttp.ClientConnectorCertificateError, aiohttp.ClientConnectorSSLError)):
        return f"TLS: {type(exc).__name__} from {exc.host}:{exc.port}"
    if isinstance(exc, aiohttp.ClientConnectorError):
        if isinstance(exc.os_error, ConnectionRefusedError):
            return f"connection refused by {exc.host}:{exc.port}"
        return f"connection failed to {exc.host}:{exc.port}: {exc.os_error.strerror or type(exc.os_error).__name__}"
    return f"connection: {type(exc).__name__}"
