"""One destination's sending chain, composed here: concurrency limit, delivery loop, 413 split, transport.

The stages, one a file (the OpenTelemetry Collector's exporterhelper is the model):

- ``limiter.py``: the adaptive concurrency limit (a slot per request in flight; Retry-After pauses all);
- ``delivery.py``: the loop of one batch: payloads compressed once, one request each, retries, polls;
- ``split.py``: a batch answered 413 becomes two halves, submitted here in its place;
- ``transport.py``: the interface the request goes through (``transport_http.py``, ``files.py``,
  ``redis_transport.py``); make_transport, here, gives a destination the one it names.

The Sender owns the tasks: submit() starts one per batch, drain() waits for them, close() ends the transport.
"""

from __future__ import annotations

import asyncio
import functools
import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from .batcher import Batch
from .delivery import Delivery
from .files import FileTransport
from .limiter import AdaptiveLimit, ConcurrencyLimiter
from .redis_transport import RedisTransport
from .retry import RetryPolicy
from .stats import DestinationStats
from .transport import Transport
from .transport_http import HttpTransport

if TYPE_CHECKING:
    from ..destinations.base import Destination

__all__ = ["Sender", "make_transport"]


def make_transport(destination: Any, max_connections: int) -> Transport:
    """The transport the destination names (max_connections: the most requests in flight at once)."""
    if destination.transport == "file":
        return FileTransport(destination)
    if destination.transport == "redis":
        return RedisTransport(destination)
    return HttpTransport(destination, max_connections)


class Sender:
    """Sends batches for one destination; start() on the event loop that will run it."""

    def __init__(
        self,
        destination: Destination,  # or what quacks like one (ingest's forwarding of spans)
        stats: DestinationStats,
        *,
        retry: RetryPolicy | None = None,
        limit: AdaptiveLimit | None = None,
        rng: random.Random | None = None,
        on_progress: Callable[[], None] | None = None,
    ) -> None:
        self.destination = destination
        self.stats = stats
        self.limiter = ConcurrencyLimiter(limit)
        self.transport = make_transport(destination, self.limiter.adaptive.maximum)
        self.delivery = Delivery(destination, stats, self.transport, self.limiter, retry or RetryPolicy(),
                                 rng or random.Random(), self.submit, on_progress)
        self._tasks: set[asyncio.Task[None]] = set()
        stats.concurrency_limit = self.limiter.limit

    # What the lane reads and sets: the delivery loop's counters and callbacks.

    @property
    def bytes_in_flight(self) -> int:
        """Bodies (and their compressed copies) held by batches not yet done."""
        return self.delivery.bytes_in_flight

    @property
    def waiting(self) -> int:
        """Batches compressing or waiting for a slot (not sending, not sleeping before a retry)."""
        return self.delivery.waiting

    @property
    def on_settled(self) -> Callable[[list[int]], None] | None:
        return self.delivery.on_settled

    @on_settled.setter
    def on_settled(self, callback: Callable[[list[int]], None] | None) -> None:
        self.delivery.on_settled = callback

    @property
    def on_given_up(self) -> Callable[[list[int], str], None] | None:
        return self.delivery.on_given_up

    @on_given_up.setter
    def on_given_up(self, callback: Callable[[list[int], str], None] | None) -> None:
        self.delivery.on_given_up = callback

    async def start(self) -> None:
        await self.transport.start()

    def submit(self, batch: Batch) -> None:
        """Start delivering a closed batch; returns at once."""
        self.delivery.admit(batch)
        task = asyncio.get_running_loop().create_task(self.delivery.deliver(batch))
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._done, batch))

    def _done(self, batch: Batch, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        self.delivery.finish(batch)

    def tasks(self) -> set[asyncio.Task[None]]:
        """The batches being delivered now (a copy)."""
        return set(self._tasks)

    @property
    def busy(self) -> int:
        """Batches being sent or waiting for a retry."""
        return len(self._tasks)

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until no batch is being sent or waiting for a retry, up to timeout_s; True if so."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max(timeout_s, 0.0)
        while self._tasks and loop.time() < deadline:  # a split adds batches while we wait
            await asyncio.wait(set(self._tasks), timeout=deadline - loop.time())
        return not self._tasks

    async def drain(self, timeout_s: float) -> None:
        """Wait for every batch to finish, up to timeout_s; the rest are cancelled and counted as
        dropped for the shutdown deadline."""
        await self.wait_idle(timeout_s)
        pending = list(self._tasks)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)

    async def close(self) -> None:
        await self.transport.close()

    def __repr__(self) -> str:
        return f"<Sender {self.destination.name} busy={self.busy} {self.limiter!r}>"
