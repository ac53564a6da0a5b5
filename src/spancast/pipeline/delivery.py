"""The delivery loop of one batch: its payloads compressed once, a concurrency slot a request, retries, polls.

A batch goes out as the destination declares (spancast.destinations.base): its payloads, each compressed
once (the shared step; once for every lane that sends the same bytes alike, bodyshare.py), then one
request per payload built from the bytes as sent, in order. Each of those requests has a retry budget
of its own; one taken is not sent again, on a retry nor after a 413 on a later one (the split step's
halves start where the batch was).

A batch waiting to be retried gives its slot back first. A Retry-After pauses the whole destination.
A batch the receiver accepted but has not finished (PENDING, Snowflake's 202) is followed at the URL
the destination names, with its poll_request(), never sent again, for up to retry.max_pending_s.
Permanent errors are logged once per status, never with a header value; every reason kept or logged
is scrubbed of the destination's secrets first (spancast.scrub), since receivers echo requests in
their errors.

Every request that went out is counted by outcome with its latency (from the moment it is sent, not
from the wait for a slot): sends and re-sends, each part of a batch that takes several, each poll of
a pending batch, the file destination's appends and the redis destination's XADD pipelines; one cut
short by shutdown is not. A batch's size (records, and its bytes as sent, as counted in delivered_bytes)
is observed once, when its first request goes out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
import time
from collections.abc import Callable
from typing import Any

from ..scrub import scrub
from .batcher import Batch
from .bodyshare import BodyShare
from .limiter import ConcurrencyLimiter
from .retry import Action, Decision, RetryPolicy
from .split import split
from .stats import DestinationStats
from .transport import Sent, Transport

__all__ = ["Delivery"]

log = logging.getLogger("spancast")


class Delivery:
    """Delivers one destination's batches through its transport; counts what each came to, and what is in flight."""

    def __init__(self, destination: Any, stats: DestinationStats, transport: Transport, limiter: ConcurrencyLimiter,
                 retry: RetryPolicy, rng: random.Random, resubmit: Callable[[Batch], None],
                 on_progress: Callable[[], None] | None = None) -> None:
        self.destination = destination
        self.stats = stats
        self.transport = transport
        self.limiter = limiter
        self.retry = retry
        self.rng = rng
        self.resubmit = resubmit  # where the halves of a split batch go
        self.bytes_in_flight = 0  # bodies (and their compressed copies) held by batches not yet done
        self.waiting = 0  # batches compressing or waiting for a slot (not sending, not sleeping before a retry)
        # Called when a batch gets its slot or is done: the lane encodes its next batch then, not before.
        self.on_progress = on_progress
        # Given the positions of records settled here for good (a spool lets them go): see ledger.py.
        self.on_settled: Callable[[list[int]], None] | None = None
        # With a spool: given the positions of records given up here (and why), which the spool re-sends
        # later instead of their being dropped.
        self.on_given_up: Callable[[list[int], str], None] | None = None
        self._logged: set[int] = set()  # statuses whose refusal was logged once already
        # Set by the broadcaster when other lanes send the same bodies with the same compression.
        self.bodies: BodyShare | None = None

    # ------------------------------------------------------------ a batch's accounting

    def admit(self, batch: Batch) -> None:
        """The batch is in flight from now on, waiting for its first slot."""
        self.stats.in_flight += batch.records
        self.bytes_in_flight += len(batch.body)
        self.waiting += 1
        batch.waiting = True

    def finish(self, batch: Batch) -> None:
        """Its task is done. One cancelled before its first step never ran a line of deliver(): its
        records are counted here, and everything it held is let go here."""
        if batch.waiting:
            batch.waiting = False
            self.waiting -= 1
        if not batch.settled:
            self._give_up(batch, "shutdown_deadline")  # a spool keeps it for the next start
            self._settle(batch)
        if self.on_progress is not None:
            self.on_progress()

    def _give_up(self, batch: Batch, reason: str) -> None:
        """The batch leaves this destination undelivered: dropped for reason, or, with a spool, given back to
        it (counted as spooled), which re-sends it later."""
        batch.settles = False
        if self.on_given_up is not None and batch.positions:
            self.on_given_up(batch.positions, reason)
        else:
            self.stats.drop(reason, batch.records)

    def _settle(self, batch: Batch) -> None:
        """The batch's records are counted (delivered or dropped): it leaves in_flight in the same step."""
        batch.settled = True
        self.stats.in_flight -= batch.records
        self.bytes_in_flight -= len(batch.body) + batch.compressed_bytes
        if self.on_settled is not None and batch.settles and batch.positions:
            self.on_settled(batch.positions)

    # ------------------------------------------------------------ the loop

    async def deliver(self, batch: Batch) -> None:
        """Send the batch until it is delivered, split, refused for good or given up."""
        cancelled = False
        poll_url: str | None = None  # set while the receiver is still working on the batch
        polls, pending_since = 0, 0.0
        try:
            while True:
                decision = await self._attempt(batch, poll_url)
                if decision.action is Action.PENDING:
                    if poll_url is None:
                        pending_since = time.monotonic()
                    poll_url = decision.poll_url
                    if poll_url is None or time.monotonic() - pending_since > self.retry.max_pending_s:
                        self._give_up(batch, "retries_exhausted")
                        self.stats.last_error = (f"still pending after {time.monotonic() - pending_since:.0f}s"
                                                 if poll_url else "pending, but the receiver gave nowhere to ask")
                        return
                    await asyncio.sleep(self.retry.poll_delay_s(polls, decision))  # without a slot
                    polls += 1
                    continue
                if decision.retry_after_s is not None:
                    self.limiter.pause(min(decision.retry_after_s, self.retry.max_retry_after_s))
                if decision.action is Action.DELIVERED:
                    if batch.payloads is not None and batch.part + 1 < len(batch.payloads):
                        # More requests make up this batch: the next one now, with a retry budget of its own
                        # (the retries its predecessors used are theirs); the parts taken are not sent again.
                        batch.part += 1
                        batch.attempts, batch.first_attempt_at = 0, None
                        continue
                    self._delivered(batch, decision)
                    return
                if decision.action is Action.SPLIT:
                    for half in split(batch, self.destination, self.stats, self.on_settled):
                        self.resubmit(half)
                    return
                if decision.action is Action.PERMANENT:
                    self._permanent(batch, decision)
                    return
                elapsed = time.monotonic() - (batch.first_attempt_at or time.monotonic())
                delay = self.retry.delay_s(batch.attempts, elapsed, decision, self.rng)
                if delay is None:
                    self._give_up(batch, "retries_exhausted")  # a spool re-sends it later
                    plural = "s" if batch.attempts != 1 else ""
                    self.stats.last_error = f"retries exhausted after {batch.attempts} attempt{plural}: {decision.reason}"
                    return
                self.stats.retried += 1
                await asyncio.sleep(delay)  # without a slot: other batches go on meanwhile
        except asyncio.CancelledError:
            cancelled = True  # counted as shutdown_deadline by finish()
            raise
        except Exception:  # a bug, not the destination: count the loss and say where it happened
            log.exception("spancast: delivering a batch to %s failed", self.destination.name)
            self.stats.drop("internal_error", batch.records)
        finally:
            if not cancelled:
                self._settle(batch)

    async def _prepare(self, batch: Batch) -> None:
        """Cut the batch into the destination's payloads and compress each, once for all attempts; the
        payloads a split half does not send (taken before its batch was split) are not compressed."""
        destination = self.destination
        payloads = destination.payloads(batch.body, batch.items)
        wires: list[Any] = []
        for k, payload in enumerate(payloads):
            if k < batch.part:
                wire = None
            elif self.bodies is not None:  # alike lanes: one compressed copy of the same bytes
                wire = await self.bodies.compress(payload.body, batch.items)
            else:
                wire = await destination.compressor.compress_async(payload.body)
            if wire is not None and wire is not payload.body:
                batch.compressed_bytes += len(wire)
                self.bytes_in_flight += len(wire)
            wires.append(wire)
        batch.payloads, batch.wires = payloads, wires

    async def _slot(self, batch: Batch) -> None:
        """Wait for a concurrency slot; the batch counts as waiting meanwhile."""
        if not batch.waiting:
            batch.waiting = True
            self.waiting += 1
        try:
            await self.limiter.acquire()
        finally:
            batch.waiting = False
            self.waiting -= 1
            if self.on_progress is not None:
                self.on_progress()

    async def _attempt(self, batch: Batch, poll_url: str | None = None) -> Decision:
        """Send the batch's next request (or, while it is pending, ask at poll_url how it is going) and judge
        the answer. A batch whose destination cuts it into several payloads (Opik: traces, then spans) sends
        them in order, one per attempt."""
        if batch.wires is None:
            await self._prepare(batch)
        assert batch.payloads is not None and batch.wires is not None
        await self._slot(batch)
        if poll_url is None:  # asking after a pending batch is not another attempt to send it
            batch.attempts += 1
        if batch.first_attempt_at is None:
            batch.first_attempt_at = time.monotonic()
        sent: Sent | None = None
        sent_at: float | None = None
        try:
            # Built only now, holding the slot: a signed request (S3's SigV4) is as fresh as it can be. The
            # destination gets the exact bytes sent, so whatever signs the body signs the wire.
            if poll_url is not None:
                request = self.destination.poll_request(poll_url)
            else:
                request = self.destination.build_request(batch.payloads[batch.part], batch.wires[batch.part],
                                                         self.destination.compressor.content_encoding)
            if poll_url is None and not batch.observed:  # its first request, even when it takes several
                batch.observed = True
                self.stats.batch_sent(batch.records, batch.wire_bytes)
            sent_at = time.perf_counter()
            sent = await self.transport.send(request)
            # Whatever the receiver said, echoed in a reason, is kept (last_error) and logged: scrubbed.
            return _scrubbed(sent.decision, self.destination, request.headers, request.url)
        except asyncio.CancelledError:
            sent_at = None  # shutdown cut it short: it has no outcome
            raise
        finally:
            decision = sent.decision if sent is not None else None
            self.limiter.release(success=decision is not None and decision.action is Action.DELIVERED,
                                 overload=decision is not None and decision.overload)
            self.stats.concurrency_limit = self.limiter.limit
            if sent_at is not None:  # a bug after the request went out still leaves it failed: "error"
                self.stats.request_done(sent.counted_as if sent is not None else "error", time.perf_counter() - sent_at)

    def _delivered(self, batch: Batch, decision: Decision) -> None:
        rejected = min(decision.rejected_spans, batch.records)  # one span or more per record: at most all
        self.stats.delivered += batch.records - rejected
        self.stats.delivered_bytes += batch.wire_bytes  # as sent: compressed, every request of the batch
        if rejected:
            self.stats.drop("partial_success", rejected)
            self.stats.last_error = f"partial success: {rejected} rejected: {decision.reason}"[:300]

    def _permanent(self, batch: Batch, decision: Decision) -> None:
        self.stats.drop("permanent_http_error", batch.records)
        # No status: not HTTP (Redis), the reason says what refused it; logged once like a status.
        said = f"HTTP {decision.status}: {decision.reason}" if decision.status is not None else decision.reason
        self.stats.last_error = said[:300]
        if (decision.status or 0) not in self._logged:
            self._logged.add(decision.status or 0)
            log.error(
                "spancast: destination %s refused a batch (not retried; later ones refused alike are counted, not"
                " logged): %s",
                self.destination.name,
                said,
            )

    def __repr__(self) -> str:
        return (f"<Delivery {self.destination.name} waiting={self.waiting} bytes_in_flight={self.bytes_in_flight}"
                f" {self.transport!r}>")


def _scrubbed(decision: Decision, destination: Any, headers: Any = None, url: str | None = None) -> Decision:
    if not decision.reason:
        return decision
    reason = scrub(decision.reason, destination, headers, url)
    return decision if reason == decision.reason else dataclasses.replace(decision, reason=reason)
