"""The transport interface: how one built request reaches its receiver (HTTP, a local file, a Redis stream).

A transport carries the request it is given and says what came of it; it never retries, waits for a slot
or splits (the delivery loop does), and never raises for the receiver's errors or the network's: those
become a Decision. The destination names its transport (``Destination.transport``); the sender, where
the chain is composed, builds it (``sender.make_transport``). The three:

- ``"http"``: :class:`~spancast.pipeline.transport_http.HttpTransport`, one keep-alive aiohttp session;
- ``"file"``: :class:`~spancast.pipeline.files.FileTransport`, appends in a worker thread;
- ``"redis"``: :class:`~spancast.pipeline.redis_transport.RedisTransport`, one pipeline of XADDs a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, runtime_checkable

from .retry import Action, Decision

if TYPE_CHECKING:
    from ..destinations.base import Request

__all__ = ["Transport", "Sent", "OUTCOMES"]

#: How a request is counted (stats.request_done) by the verdict on its answer.
OUTCOMES = {Action.DELIVERED: "ok", Action.PENDING: "pending", Action.SPLIT: "too_large", Action.RETRY: "retry",
            Action.PERMANENT: "permanent"}


@dataclass(frozen=True, slots=True)
class Sent:
    """What one request came to: the verdict, and how it is counted when no answer came ("timeout",
    "error"; None: by the verdict, OUTCOMES)."""

    decision: Decision
    outcome: str | None = None

    @property
    def counted_as(self) -> str:
        return self.outcome or OUTCOMES[self.decision.action]

    def __repr__(self) -> str:
        return f"<Sent {self.counted_as} {self.decision!r}>"


@runtime_checkable
class Transport(Protocol):
    """Carries requests to one destination's receiver: start() on the loop that sends, then send(), then close()."""

    async def start(self) -> None: ...

    async def send(self, request: Request) -> Sent:
        """Carry one request and judge what came back; raises only for a bug or cancellation."""
        ...

    async def close(self) -> None: ...
