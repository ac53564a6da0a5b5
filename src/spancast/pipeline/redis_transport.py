"""The Redis transport: a batch of the redis destination becomes one pipeline of XADDs; its errors become retry decisions.

One redis.asyncio client per destination (its pool holds a connection per batch in flight, up to
the sender's concurrency limit), created on the loop that sends. The pipeline is not a MULTI
transaction: a batch costs one round trip, and when a retryable error stops part of it, the whole
batch is sent again (delivery to the stream is at least once; the worker's destinations see any
repeat as they see a worker's redelivery). redis-py's own retries are off: the sender's retry
policy is the only one.

Errors: connection errors, timeouts, LOADING, BUSY, TRYAGAIN, READONLY (a replica during a
failover), CLUSTERDOWN, MASTERDOWN and OOM (the stream may be trimmed, or read, meanwhile) are
retried; auth (WRONGPASS, NOAUTH, NOPERM), WRONGTYPE and every other error are permanent.
"""

from __future__ import annotations

import asyncio
import time
from typing import TYPE_CHECKING, Any

from ..probe import ConnectionResult
from .retry import Action, Decision
from .transport import Sent

if TYPE_CHECKING:
    from ..destinations.base import Request

__all__ = ["RedisTransport", "check_stream", "decide_redis", "make_client"]

#: Reply codes (the error's first word) worth another attempt: the server is busy, loading, failing
#: over or short of memory, and says nothing wrong about the request.
RETRY_CODES = frozenset({"BUSY", "LOADING", "TRYAGAIN", "READONLY", "CLUSTERDOWN", "MASTERDOWN", "OOM",
                         "NOREPLICAS", "UNBLOCKED"})
OVERLOAD_CODES = frozenset({"BUSY", "LOADING", "OOM"})
_REASON_CHARS = 200


def make_client(url: str, *, username: str | None = None, password: str | None = None,
                timeout_s: float = 10.0, **extra: Any) -> Any:
    """A redis.asyncio client for url (its credentials win over username / password), without retries of its own."""
    import redis.asyncio as aioredis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return aioredis.Redis.from_url(url, username=username, password=password, socket_timeout=timeout_s,
                                   socket_connect_timeout=timeout_s, retry=Retry(NoBackoff(), 0), **extra)


def error_code(exc: BaseException) -> str:
    """The Redis reply code of an error (WRONGTYPE, LOADING, ...), or its class name when it is not a reply."""
    import redis.exceptions as rx

    code = getattr(exc, "status_code", None)  # redis-py strips the codes it maps to a class, and keeps them here
    if isinstance(code, str) and code:
        return code
    if isinstance(exc, rx.ResponseError):
        first = str(exc).split(" ", 1)[0]
        return first if first.isupper() else "ERR"
    return type(exc).__name__


def decide_redis(exc: BaseException) -> Decision:
    """The verdict on an error from Redis: retry it, or give the batch up for good (the reason never holds a credential)."""
    import redis.exceptions as rx

    code = error_code(exc)
    reason = f"redis {code}: {str(exc)[:_REASON_CHARS]}" if str(exc) else f"redis {code}"
    if isinstance(exc, (rx.AuthenticationError, rx.AuthorizationError, rx.NoPermissionError,
                        rx.AuthenticationWrongNumberOfArgsError)):
        return Decision(Action.PERMANENT, None, reason=reason)
    if isinstance(exc, (rx.TimeoutError, TimeoutError)):
        return Decision(Action.RETRY, None, None, True, reason)
    if isinstance(exc, (rx.ConnectionError, OSError)):  # BusyLoadingError (LOADING) is one
        return Decision(Action.RETRY, None, None, code in OVERLOAD_CODES, reason)
    if code in RETRY_CODES:
        return Decision(Action.RETRY, None, None, code in OVERLOAD_CODES, reason)
    return Decision(Action.PERMANENT, None, reason=reason)


class RedisTransport:
    """The redis destination's transport (spancast.pipeline.transport): each request's lines appended to its stream."""

    def __init__(self, destination: Any) -> None:
        self.destination = destination
        self.client: Any = None  # made on first use, on the loop that sends

    async def start(self) -> None:
        """Nothing to open: the client is made by the first send, on the loop that sends."""

    async def send(self, request: Request) -> Sent:
        return Sent(await self.append(request.body))

    async def append(self, body: bytes) -> Decision:
        """XADD every line of body (one record each) in one pipeline; never raises for Redis errors."""
        import redis.exceptions as rx

        s = self.destination.settings
        if self.client is None:
            self.client = make_client(s.url, username=s.username, password=s.password, timeout_s=s.timeout_s)
        pipe = self.client.pipeline(transaction=False)
        maxlen = s.maxlen or None
        for line in bytes(body).split(b"\n"):
            if line:
                pipe.xadd(s.stream, {s.field: line}, maxlen=maxlen, approximate=True)
        try:
            results = await pipe.execute(raise_on_error=False)
        except (rx.RedisError, OSError, TimeoutError) as exc:
            return decide_redis(exc)
        failed = next((r for r in results if isinstance(r, Exception)), None)
        return Decision(Action.DELIVERED, None) if failed is None else decide_redis(failed)

    async def close(self) -> None:
        if self.client is not None:
            client, self.client = self.client, None
            await client.aclose()

    def __repr__(self) -> str:
        return f"<RedisTransport {self.destination.location} {'connected' if self.client else 'idle'}>"


async def check_stream(destination: Any, timeout_s: float = 10.0) -> Any:
    """Test connection for the redis destination: PING, then the key must be a stream or absent (XADD creates it)."""
    import redis.exceptions as rx

    s = destination.settings
    start = time.monotonic()
    client = make_client(s.url, username=s.username, password=s.password, timeout_s=min(timeout_s, s.timeout_s))
    error = hint = excerpt = ""
    try:
        async with asyncio.timeout(timeout_s):
            await client.ping()
            kind = await client.type(s.stream)
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            if kind == "stream":
                excerpt = f"PONG; {s.stream} is a stream of {await client.xlen(s.stream)} entries"
            elif kind == "none":
                excerpt = f"PONG; {s.stream} does not exist yet (the first XADD creates it)"
            else:
                error = f"{s.stream} holds a {kind}, not a stream"
                hint = "XADD would fail with WRONGTYPE: choose another stream key, or remove that key"
    except (rx.AuthenticationError, rx.AuthorizationError, rx.NoPermissionError) as exc:
        error = f"redis {error_code(exc)}: {exc}"[:_REASON_CHARS]
        hint = "credentials refused: check the password (in url, password or password_file) and the ACL user"
    except (TimeoutError, rx.TimeoutError):
        error = f"timeout after {timeout_s:g}s"
        hint = "no answer in time: a firewall, a wrong port, or a stalled server"
    except (rx.ConnectionError, OSError) as exc:
        if isinstance(exc, ConnectionRefusedError) or isinstance(exc.__context__, ConnectionRefusedError):
            error, hint = f"connection refused: {exc}", "nothing listens there: check the host and port"
        else:
            error, hint = f"connection failed: {exc}", "check the host, the port, and rediss:// (TLS) against redis://"
        error = error[:_REASON_CHARS]
    except rx.RedisError as exc:
        error = f"redis {error_code(exc)}: {exc}"[:_REASON_CHARS]
    finally:
        await client.aclose()
    return ConnectionResult(destination.name, not error, None, time.monotonic() - start, excerpt, error, hint)
