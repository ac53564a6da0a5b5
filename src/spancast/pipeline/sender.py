"""Delivers one destination's closed batches over a keep-alive aiohttp session, as many at once as the
adaptive limit allows, retrying what can be retried and counting every record it cannot deliver.

A batch waiting to be retried gives its slot back first. A Retry-After pauses the whole destination.
A batch the receiver accepted but has not finished (PENDING, Snowflake's 202) is followed at the URL
the destination names, with its poll_request(), never sent again, for up to retry.max_pending_s.
A 413 splits the batch and sends the halves (re-encoded from its records); a lone record that is
still too large is dropped. Permanent errors are logged once per status with an excerpt of the
response body, never with a header value; every reason kept or logged is scrubbed of the destination's
secrets first (spancast.scrub), since receivers echo requests in their errors.

A batch goes out as the destination declares (spancast.destinations.base): its payloads, each compressed
once (the shared step), then one request per payload built from the bytes as sent, in order. Each of
those requests has a retry budget of its own; one taken is not sent again, on a retry nor after a 413 on
a later one (the halves start where the batch was).

Every request that went out is counted by outcome with its latency (from the moment it is sent, not
from the wait for a slot): sends and re-sends, each part of a batch that takes several, each poll of
a pending batch, the file destination's appends and the redis destination's XADD pipelines; one cut
short by shutdown is not. A batch's size (records, and its bytes as sent, as counted in delivered_bytes)
is observed once, when its first request goes out.
"""

from __future__ import annotations

import asyncio
import dataclasses
import functools
import logging
import random
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import aiohttp
from aiohttp.payload import BytesPayload

from ..scrub import scrub
from .batcher import Batch
from .files import FileTransport
from .limiter import AdaptiveLimit, ConcurrencyLimiter
from .retry import Action, Decision, RetryPolicy, decide_error
from .stats import DestinationStats

if TYPE_CHECKING:
    from ..destinations.base import Destination

__all__ = ["Sender"]

log = logging.getLogger("spancast")
EXCERPT_CHARS = 200
_OUTCOMES = {Action.DELIVERED: "ok", Action.PENDING: "pending", Action.SPLIT: "too_large", Action.RETRY: "retry",
             Action.PERMANENT: "permanent"}


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
        self.retry = retry or RetryPolicy()
        self.limiter = ConcurrencyLimiter(limit)
        self.rng = rng or random.Random()
        self.session: aiohttp.ClientSession | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._logged: set[int] = set()
        self.bytes_in_flight = 0  # bodies (and their compressed copies) held by batches not yet done
        self.waiting = 0  # batches compressing or waiting for a slot (not sending, not sleeping before a retry)
        # Called when a batch gets its slot or is done: the lane encodes its next batch then, not before.
        self.on_progress = on_progress
        # Given the positions of records settled here for good (a spool lets them go): see ledger.py.
        self.on_settled: Callable[[list[int]], None] | None = None
        # With a spool: given the positions of records given up here (and why), which the spool re-sends
        # later instead of their being dropped.
        self.on_given_up: Callable[[list[int], str], None] | None = None
        # What is not HTTP (a local file; a Redis stream: one pipeline of XADDs per batch) has a transport
        # of its own: send(body) -> Decision, never raising for the receiver's errors, and close().
        self.local: Any = None
        if destination.transport == "file":
            self.local = FileTransport(destination)
        elif destination.transport == "redis":
            from .redis_transport import RedisTransport

            self.local = RedisTransport(destination)
        stats.concurrency_limit = self.limiter.limit

    async def start(self) -> None:
        connector = aiohttp.TCPConnector(
            limit=self.limiter.adaptive.maximum, keepalive_timeout=30, ttl_dns_cache=300, enable_cleanup_closed=True
        )
        timeout = aiohttp.ClientTimeout(total=self.destination.settings.timeout_s)
        self.session = aiohttp.ClientSession(connector=connector, timeout=timeout, auto_decompress=True)

    def submit(self, batch: Batch) -> None:
        """Start delivering a closed batch; returns at once."""
        self.stats.in_flight += batch.records
        self.bytes_in_flight += len(batch.body)
        self.waiting += 1
        batch.waiting = True
        task = asyncio.get_running_loop().create_task(self._deliver(batch))
        self._tasks.add(task)
        task.add_done_callback(functools.partial(self._done, batch))

    def _done(self, batch: Batch, task: asyncio.Task[None]) -> None:
        # A task cancelled before its first step never runs a line of _deliver: its records are
        # counted here, and everything the task held is let go here.
        self._tasks.discard(task)
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
        if self.local is not None:
            await self.local.close()
        if self.session is not None:
            await self.session.close()
            self.session = None

    # ------------------------------------------------------------ one batch

    async def _deliver(self, batch: Batch) -> None:
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
                    self._split(batch)
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
            cancelled = True  # counted as shutdown_deadline by _done
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
            wire = None if k < batch.part else await destination.compressor.compress_async(payload.body)
            if wire is not None and wire is not payload.body:
                batch.compressed_bytes += len(wire)
                self.bytes_in_flight += len(wire)
            wires.append(wire)
        batch.payloads, batch.wires = payloads, wires

    async def _attempt(self, batch: Batch, poll_url: str | None = None) -> Decision:
        """Send the batch's next request (or, while it is pending, ask at poll_url how it is going) and judge
        the answer. A batch whose destination cuts it into several payloads (Opik: traces, then spans) sends
        them in order, one per attempt."""
        if batch.wires is None:
            await self._prepare(batch)
        assert batch.payloads is not None and batch.wires is not None
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
        if poll_url is None:  # asking after a pending batch is not another attempt to send it
            batch.attempts += 1
        if batch.first_attempt_at is None:
            batch.first_attempt_at = time.monotonic()
        decision: Decision | None = None
        outcome: str | None = None  # when it is not the decision's own (no answer came)
        sent_at: float | None = None
        try:
            # Built only now, holding the slot: a signed request (S3's SigV4) is as fresh as it can be. The
            # destination gets the exact bytes sent, so whatever signs the body signs the wire.
            if poll_url is not None:
                request, data = self.destination.poll_request(poll_url), None
            else:
                request = self.destination.build_request(batch.payloads[batch.part], batch.wires[batch.part],
                                                         self.destination.compressor.content_encoding)
                data = _payload(request.body)
            headers = dict(request.headers)
            if poll_url is None and not batch.observed:  # its first request, even when it takes several
                batch.observed = True
                self.stats.batch_sent(batch.records, batch.wire_bytes)
            sent_at = time.perf_counter()
            if self.local is not None:
                decision = _scrubbed(await self.local.send(request.body), self.destination)
                return decision
            assert self.session is not None, "start() the sender first"
            async with self.session.request(request.method, request.url, data=data, headers=headers) as resp:
                body = await resp.content.read(64 * 1024)
                decision = self.destination.classify(resp.status, resp.headers, body)
                if decision.action is Action.PERMANENT:
                    # The destination's own reason (S3: "NoSuchBucket: ...") and the receiver's words
                    own = "" if decision.reason == f"HTTP {resp.status}" else decision.reason
                    said = excerpt(body, self.destination, headers, request.url)
                    decision = Decision(decision.action, decision.status,
                                        reason=": ".join(p for p in (own, said) if p) or decision.reason)
                # Whatever the receiver said, echoed in a reason, is kept (last_error) and logged: scrubbed.
                decision = _scrubbed(decision, self.destination, headers, request.url)
        except TimeoutError:
            decision, outcome = decide_error("timeout"), "timeout"
        except (aiohttp.ClientError, OSError) as exc:
            decision, outcome = Decision(Action.RETRY, None, None, False, describe_connection_error(exc)), "error"
        except asyncio.CancelledError:
            sent_at = None  # shutdown cut it short: it has no outcome
            raise
        finally:
            overloaded = decision is not None and decision.overload
            self.limiter.release(success=decision is not None and decision.action is Action.DELIVERED, overload=overloaded)
            self.stats.concurrency_limit = self.limiter.limit
            if sent_at is not None:  # a bug after the request went out still leaves it failed: "error"
                outcome = outcome or (_OUTCOMES[decision.action] if decision is not None else "error")
                self.stats.request_done(outcome, time.perf_counter() - sent_at)
        return decision

    def _delivered(self, batch: Batch, decision: Decision) -> None:
        rejected = min(decision.rejected_spans, batch.records)  # one span or more per record: at most all
        self.stats.delivered += batch.records - rejected
        self.stats.delivered_bytes += batch.wire_bytes  # as sent: compressed, every request of the batch
        if rejected:
            self.stats.drop("partial_success", rejected)
            self.stats.last_error = f"partial success: {rejected} rejected: {decision.reason}"[:300]

    def _split(self, batch: Batch) -> None:
        if batch.records == 1:
            self.stats.drop("too_large", 1)
            self.stats.last_error = "HTTP 413 for a single record"
            return
        half = batch.records // 2
        batch.settles = False  # its halves settle its records
        positions = batch.positions
        for lo, hi in ((0, half), (half, batch.records)):
            part = batch.items[lo:hi]
            where = positions[lo:hi] if positions is not None else None
            # Re-encoded from the records: one may be refused now that was not then (Datadog: it aged
            # past 24 hours meanwhile); it is counted, the others go on.
            encoder = self.destination.new_encoder()
            errors: list = []
            encoder.append_many(part, 0, len(part), 1 << 62, errors)
            if errors:
                bad = {k for k, _ in errors}
                for _, exc in errors:
                    self.stats.drop(getattr(exc, "drop_reason", "invalid_record"), 1)
                    self.stats.last_error = f"re-encoding a split batch: {exc}"[:300]
                part = [r for k, r in enumerate(part) if k not in bad]
                if where is not None:
                    if self.on_settled is not None:
                        self.on_settled([where[k] for k in sorted(bad)])
                    where = [p for k, p in enumerate(where) if k not in bad]
            if part:
                self.stats.batches["split"] += 1
                # The requests before the one refused were taken for every record of this batch: its halves
                # start at the refused one (Opik: a 413 on the spans sends the halves' spans, not their traces).
                self.submit(Batch(encoder.finish(), part, "split", batch.opened_at, positions=where, part=batch.part))

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
        return f"<Sender {self.destination.name} busy={self.busy} {self.limiter!r}>"


def excerpt(body: bytes, destination: Any, headers: Any = None, url: str | None = None) -> str:
    """The start of a receiver's answer as spancast keeps it: scrubbed of the destination's secrets
    before it is cut (a secret cut in two would keep its start)."""
    return scrub(body.decode("utf-8", "replace"), destination, headers, url)[:EXCERPT_CHARS].strip()


def _scrubbed(decision: Decision, destination: Any, headers: Any = None, url: str | None = None) -> Decision:
    if not decision.reason:
        return decision
    reason = scrub(decision.reason, destination, headers, url)
    return decision if reason == decision.reason else dataclasses.replace(decision, reason=reason)


#: Bodies from this size on are written after the headers, not joined to them (see _Body).
SEPARATE_WRITE_BYTES = 64 * 1024


class _Body(BytesPayload):
    """A large body written on its own: aiohttp otherwise joins the request head and the body into one
    new bytes object per request (it skips writelines before Python 3.12.9), a megabyte-sized copy
    into fresh memory for every batch."""

    async def write_with_length(self, writer: Any, content_length: int | None) -> None:
        send_headers = getattr(writer, "send_headers", None)
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
