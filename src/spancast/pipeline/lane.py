"""One destination's lane: its cursor in the shared backlog, its batcher, its sender, its bounds, its timer.

A lane encodes only as far ahead as its sender can use (AHEAD_BATCHES closed batches waiting for a
send slot), so a burst waits in the backlog as records, and the memory of sent bodies is reused
instead of piling up. Lanes never share a batcher, a byte budget or a concurrency limit: a
destination that hangs or fails falls behind alone, and past its bounds it skips its oldest
backlog records (counted as queue_full) while the other lanes keep their pace. With a spool, what a
lane gives up (skipped, retries exhausted, the shutdown deadline) is given back to the spool, which
re-sends it later, instead of dropped.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from ..codec import TraceEncoder
from ..routing.media import strip_media
from .backlog import Backlog
from .batcher import Batcher, BatchSettings
from .ledger import Progress, runs
from .limiter import AdaptiveLimit
from .retry import RetryPolicy
from .sender import Sender
from .stats import DestinationStats

__all__ = ["AHEAD_BATCHES", "PUMP_STEP", "Lane", "pump_together"]

#: Closed batches a lane keeps ready for its sender: enough that a freed slot never waits for the
#: encoder, few enough that their memory is reused rather than growing with the burst.
AHEAD_BATCHES = 2
#: Records a lane encodes before the next takes its turn when lanes pump together: lanes of one rendering
#: then meet a record while the first one's bytes of it are still in the CPU's cache (spancache.pxi).
PUMP_STEP = 128


def pump_together(lanes: list[Lane], in_turns: bool) -> None:
    """Let every lane encode what its sender can take; in_turns (lanes share span bytes), in turns of
    PUMP_STEP records."""
    if not in_turns:
        for lane in lanes:
            lane.pump()
        return
    moving = lanes
    while moving:
        moving = [lane for lane in moving if lane.pump(PUMP_STEP)]


def _body_group(destination: Any, encoder: Any, batch: BatchSettings) -> tuple | None:
    """What the lanes whose batches may be the same bytes, compressed alike, have in common (None: this
    lane's cannot be another's), for a trace encoder given the records as they are: its whole rendering
    (ids, and the resource and scope its envelope writes), the batch cut, the compression. Lanes of one
    group share compressed bodies (bodyshare.py), each body checked byte for byte first."""
    compressor, envelope = destination.compressor, encoder.envelope
    if compressor.kind == "none" or destination.requests_per_batch != 1:
        return None
    return (compressor.kind, compressor.level, encoder.format, id(encoder.plan), encoder.max_value_chars,
            encoder.id_salt, envelope.prefix, envelope.resource_field, envelope.scope_field,
            batch.max_batch_records, batch.max_batch_bytes, batch.flush_interval_s)


class Lane:
    def __init__(
        self,
        destination: Any,
        backlog: Backlog,
        batch: BatchSettings,
        retry: RetryPolicy,
        limit: AdaptiveLimit,
        max_queued_records: int,
        max_queued_bytes: int,
        loop: asyncio.AbstractEventLoop,
        on_progress: Callable[[], None] | None = None,
        span_caches: dict | None = None,
    ) -> None:
        self.destination = destination
        self.backlog = backlog
        self.cursor = backlog.end  # the next backlog position this lane has not read
        self.loop = loop
        self.stats = DestinationStats(destination.name)
        # A receiver's own limits: payload bytes (New Relic: 1 MB), records per request (one object per trace).
        cap_bytes = destination.max_batch_bytes or batch.max_batch_bytes
        cap_records = destination.max_batch_records or batch.max_batch_records
        if cap_bytes < batch.max_batch_bytes or cap_records < batch.max_batch_records:
            batch = BatchSettings(min(batch.max_batch_records, cap_records), min(batch.max_batch_bytes, cap_bytes),
                                  batch.flush_interval_s)
        encoder = destination.new_encoder()
        # Lanes whose routes hand a trace encoder the records as they are share each record's span bytes with
        # the other lanes of the same rendering (spancache.pxi), and compressed bodies (bodyshare.py).
        alike = isinstance(encoder, TraceEncoder) and destination.route.keeps_records
        if alike and span_caches is not None:
            encoder.share_spans(span_caches)
        self.body_group = _body_group(destination, encoder, batch) if alike else None
        self.batcher = Batcher(encoder, batch, clock=loop.time)
        self.sender = Sender(destination, self.stats, retry=retry, limit=limit, on_progress=self._on_sender_progress)
        self.max_queued_records = max_queued_records
        self.max_queued_bytes = max_queued_bytes
        self._on_progress = on_progress
        self._timer: asyncio.TimerHandle | None = None
        self._flush_to: int | None = None  # a flush asked for everything before this position
        self._pumping = False
        self.progress: Progress | None = None  # which positions are settled here: kept only for a spool
        self._on_settled: Callable[[Lane, list[tuple[int, int]]], None] | None = None
        self._on_given_back: Callable[[Lane, list[tuple[int, int]]], None] | None = None

    def track(self, on_settled: Callable[[Lane, list[tuple[int, int]]], None]) -> Progress:
        """Keep track of settled positions from now on; on_settled(lane, runs) hears of each new run."""
        self.progress = Progress(self.cursor)
        self._on_settled = on_settled
        self.sender.on_settled = self._settled
        return self.progress

    def give_back_to(self, on_given_back: Callable[[Lane, list[tuple[int, int]]], None]) -> None:
        """With a spool (after track()): what this lane gives up goes back to it, as runs of positions."""
        self._on_given_back = on_given_back
        self.sender.on_given_up = self._given_up

    def _given_up(self, positions: list[int], reason: str) -> None:
        self.stats.give_back(reason, len(positions))
        self._on_given_back(self, runs(sorted(positions)))  # type: ignore[misc]

    def _give_up(self, count: int, spans: list[tuple[int, int]], reason: str) -> None:
        """count records (at spans, when tracked) leave this lane undelivered: given back, or dropped."""
        if self._on_given_back is not None:
            self.stats.give_back(reason, count)
            if spans:
                self._on_given_back(self, spans)
        else:
            self.stats.drop(reason, count)

    def _settled(self, positions: list[int]) -> None:
        spans = runs(positions)
        if spans and self.progress is not None:
            self.progress.mark_runs(spans)
            self._on_settled(self, spans)  # type: ignore[misc]

    async def start(self) -> None:
        await self.sender.start()

    # ------------------------------------------------------------ records in

    @property
    def backlogged(self) -> int:
        """Records in the backlog this lane has not read yet."""
        return self.backlog.end - self.cursor

    def encoded_bytes(self) -> int:
        """Bytes of encoded bodies this lane holds: the open batch and every batch not yet done."""
        return self.batcher.bytes + self.sender.bytes_in_flight

    def bytes_held(self) -> int:
        return self.backlog.bytes_from(self.cursor) + self.encoded_bytes()

    def queue_room(self, record_bytes: float) -> int:
        """Records this lane may still queue under max_queued_records and max_queued_bytes."""
        held = self.backlogged + self.batcher.records + self.stats.in_flight
        by_bytes = (self.max_queued_bytes - self.bytes_held()) // max(record_bytes, 1.0)
        return max(0, int(min(self.max_queued_records - held, by_bytes)))

    def receive(self, n: int, redelivered: bool = False) -> None:
        """n records were just appended to the backlog: count them and keep this lane within its bounds.
        Redelivered ones (given back to the spool before) were received already: they leave spooled."""
        stats = self.stats
        if redelivered:
            stats.spooled -= n
        else:
            stats.received += n
        over = self.backlogged + self.batcher.records + stats.in_flight - self.max_queued_records
        if over > 0:
            self.skip(min(over, self.backlogged))
        excess = self.bytes_held() - self.max_queued_bytes
        if excess > 0:
            self.skip_bytes(excess)
        self._sync()

    def skip(self, n: int) -> None:
        """Give up this lane's n oldest backlog records (they stay for the other lanes)."""
        if n > 0:
            start, self.cursor = self.cursor, self.cursor + n
            mine, others = self.backlog.split_for(self.destination.name, start, self.cursor)
            if self.progress is not None:
                for a, b in others:  # replayed for other lanes: never this one's
                    self._settled(list(range(a, b)))
            self._give_up(sum(b - a for a, b in mine), mine if self.progress is not None else [], "queue_full")
            self._sync()

    def skip_bytes(self, nbytes: int, limit: int | None = None) -> None:
        """Drop this lane's oldest backlog records until at least nbytes (estimated) are let go, but
        never past position limit."""
        target = self.backlog.advance(self.cursor, nbytes)
        self.skip((target if limit is None else min(target, limit)) - self.cursor)

    def pump(self, max_records: int | None = None) -> bool:
        """Encode from the backlog while the sender has fewer than AHEAD_BATCHES batches waiting for a slot
        (at most max_records of it); True if this read any."""
        if self._pumping:
            return False
        self._pumping = True
        began = self.cursor
        try:
            batcher, sender, backlog, route = self.batcher, self.sender, self.backlog, self.destination.route
            limit = batcher.settings.max_batch_records
            name, tracked = self.destination.name, self.progress is not None
            # A route that only strips media leaves the check to the encoder, which reads each record just
            # before encoding it; a pass of its own over the slice met every record cold (+11% CPU a record).
            strip = strip_media if route.strips_media_only else None
            end = backlog.end if max_records is None else min(backlog.end, self.cursor + max_records)
            while self.cursor < end and sender.waiting < AHEAD_BATCHES:
                records, only = backlog.read_for(self.cursor, min(limit - batcher.records, end - self.cursor))
                start = self.cursor
                self.cursor += len(records)
                if only is not None and name not in only:  # replayed for other destinations
                    if tracked:
                        self._settled(list(range(start, self.cursor)))
                    continue
                # Past the cursor, a record is in the batcher or counted here: the stats stay balanced.
                kept: list[int] | None = [] if tracked else None
                records, filtered, sampled_out = route.select(records, kept, media=strip is None)
                if filtered or sampled_out:
                    self.stats.filtered += filtered
                    self.stats.sampled_out += sampled_out
                if tracked:
                    positions = [start + i for i in kept]  # type: ignore[union-attr]
                    if filtered or sampled_out:
                        taken = set(positions)
                        self._settled([p for p in range(start, self.cursor) if p not in taken])
                    closed, invalid = batcher.add_many(records, positions, strip)
                    if invalid:
                        self._settled(batcher.refused_positions)
                else:
                    closed, invalid = batcher.add_many(records, None, strip)
                for record, exc in invalid:
                    # an encoder may refuse a record for a reason of its own (Datadog: older than 24 h)
                    self.stats.drop(getattr(exc, "drop_reason", "invalid_record"), 1)
                    self.stats.last_error = f"record {getattr(record, 'id', '?')!r}: {exc}"[:300]
                for batch in closed:
                    self._submit(batch)
            if self._flush_to is not None and self.cursor >= self._flush_to:
                self._flush_to = None
                batch = batcher.flush()
                if batch is not None:
                    self._submit(batch)
            if batcher.records and self._timer is None:
                self._timer = self.loop.call_at(batcher.due_at(), self._on_timer)  # type: ignore[arg-type]
        finally:
            self._pumping = False
            self._sync()
        return self.cursor != began

    def _sync(self) -> None:
        backlog = self.backlog
        others = backlog.not_for(self.destination.name, self.cursor) if backlog.masked else 0
        self.stats.queued = self.backlogged - others + self.batcher.records

    def _submit(self, batch: Any) -> None:
        self.stats.batches[batch.reason] += 1
        self.sender.submit(batch)

    def _on_timer(self) -> None:
        # The open batch may be younger than the one this timer was armed for: then wait for its turn.
        self._timer = None
        batch = self.batcher.flush_if_due()
        if batch is not None:
            self._submit(batch)
        self.pump()

    def _on_sender_progress(self) -> None:
        self.pump()
        if self._on_progress is not None:
            self._on_progress()

    # ------------------------------------------------------------ flush and close

    def flush(self) -> None:
        """Encode and send everything in the backlog so far, then the open batch, as the sender allows."""
        self._flush_to = self.backlog.end
        self.pump()

    @property
    def idle(self) -> bool:
        return self._flush_to is None and not self.backlogged and not self.batcher.records and not self.sender.busy

    def oldest_queued_age_s(self) -> float:
        now = self.loop.time()
        taken = self.backlog.taken_at(self.cursor)
        opened = self.batcher.due_at()
        times = [t for t in (taken, None if opened is None else opened - self.batcher.settings.flush_interval_s) if t is not None]
        return max(0.0, now - min(times)) if times else 0.0

    async def wait_idle(self, timeout_s: float) -> bool:
        """Wait until everything flushed so far is done, up to timeout_s; True if it is."""
        loop = self.loop
        deadline = loop.time() + max(timeout_s, 0.0)
        while not self.idle and loop.time() < deadline:
            tasks = self.sender.tasks()
            if not tasks:  # nothing in flight to wait for: make progress now
                self.pump()
                if not self.sender.tasks():
                    break
                continue
            await asyncio.wait(tasks, timeout=deadline - loop.time(), return_when=asyncio.FIRST_COMPLETED)
        return self.idle

    async def close(self, timeout_s: float) -> None:
        """Flush, then give in-flight batches until the deadline; what is left is counted as dropped."""
        self.flush()
        await self.wait_idle(timeout_s)
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        mine, others = self.backlog.split_for(self.destination.name, self.cursor, self.backlog.end)
        left = sum(b - a for a, b in mine) + self.batcher.records
        self.cursor = self.backlog.end
        opened = self.batcher.discard()
        if self.progress is not None:
            for a, b in others:
                self._settled(list(range(a, b)))
            mine = sorted(mine + runs(opened or []))
        self._give_up(left, mine if self.progress is not None else [], "shutdown_deadline")
        self._sync()
        await self.sender.drain(0)
        await self.sender.close()

    def __repr__(self) -> str:
        return f"<Lane {self.destination.name} backlogged={self.backlogged} {self.batcher!r} {self.sender!r}>"
