"""One destination's lane: its batcher, its sender, its bounds and its flush timer.

Lanes never share a queue, a byte budget or a concurrency limit, so a destination that hangs or
fails fills only its own lane: records for it are dropped as queue_full at its bound while the
other lanes keep their pace.
"""

from __future__ import annotations

import asyncio
from typing import Any

from .batcher import Batcher, BatchSettings
from .limiter import AdaptiveLimit
from .retry import RetryPolicy
from .sender import Sender
from .stats import DestinationStats

__all__ = ["Lane"]


class Lane:
    def __init__(
        self,
        destination: Any,
        batch: BatchSettings,
        retry: RetryPolicy,
        limit: AdaptiveLimit,
        max_queued_records: int,
        max_queued_bytes: int,
        loop: asyncio.AbstractEventLoop,
    ) -> None:
        self.destination = destination
        self.loop = loop
        self.stats = DestinationStats(destination.name)
        self.batcher = Batcher(destination.new_encoder(), batch, clock=loop.time)
        self.sender = Sender(destination, self.stats, retry=retry, limit=limit)
        self.max_queued_records = max_queued_records
        self.max_queued_bytes = max_queued_bytes
        self._timer: asyncio.TimerHandle | None = None

    async def start(self) -> None:
        await self.sender.start()

    def add_many(self, records: list[Any]) -> None:
        """Route a chunk of records into this lane (on the loop thread): bounds, batching, sending."""
        stats = self.stats
        n = len(records)
        stats.received += n
        room = self.max_queued_records - stats.queued - stats.in_flight
        if self.bytes_held() >= self.max_queued_bytes:
            room = 0
        if room < n:
            stats.drop("queue_full", n - max(room, 0))
            records = records[: max(room, 0)]
        closed, invalid = self.batcher.add_many(records)
        for record, exc in invalid:
            stats.drop("invalid_record", 1)
            stats.last_error = f"record {getattr(record, 'id', '?')!r}: {exc}"[:300]
        for batch in closed:
            self._submit(batch)
        stats.queued = self.batcher.records
        if stats.queued and self._timer is None:
            self._timer = self.loop.call_at(self.batcher.due_at(), self._on_timer)

    def bytes_held(self) -> int:
        return self.batcher.bytes + self.sender.bytes_in_flight

    def flush(self) -> None:
        batch = self.batcher.flush()
        if batch is not None:
            self._submit(batch)
        self.stats.queued = 0

    def _submit(self, batch: Any) -> None:
        self.stats.batches[batch.reason] += 1
        self.sender.submit(batch)

    def _on_timer(self) -> None:
        # The open batch may be younger than the one this timer was armed for: then wait for its turn.
        self._timer = None
        batch = self.batcher.flush_if_due()
        if batch is not None:
            self._submit(batch)
        self.stats.queued = self.batcher.records
        due = self.batcher.due_at()
        if due is not None:
            self._timer = self.loop.call_at(due, self._on_timer)

    async def close(self, timeout_s: float) -> None:
        """Flush, then give in-flight batches until the deadline; what is left is counted as dropped."""
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.flush()
        await self.sender.drain(timeout_s)
        await self.sender.close()

    def __repr__(self) -> str:
        return f"<Lane {self.destination.name} {self.batcher!r} {self.sender!r}>"
