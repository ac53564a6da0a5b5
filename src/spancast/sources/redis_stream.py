"""The Redis Streams source of ``spancast worker``: one consumer of a consumer group, XACKing what every destination settled.

Any number of workers on any number of machines share a stream by joining the same group (created
with MKSTREAM, from the stream's start, when missing). Each reads with XREADGROUP, decodes every
entry into a Generation and emits it into a Broadcaster on its own loop, remembering which pipeline
position each entry got (``broadcaster.next_position``, read before each emit on the loop thread).
An entry is XACKed once every destination has *settled* its record (delivered, refused for good, or
routed out: ``Broadcaster.watch_settled``); one whose delivery was not settled (retries exhausted,
the shutdown deadline, a crash) stays pending, and XAUTOCLAIM hands it to a worker again once it has
been idle for ``min_idle_s``: at-least-once. An entry that is not a valid record is counted, logged
once per field, and XACKed (it would fail the same way on every worker).

Backpressure: a worker reads only while its intake has room, the pipeline's memory is under its
caps and fewer than ``max_unacked`` entries await their XACK, so memory never grows with the stream.
SIGTERM / SIGINT stop the reading; the pipeline drains within its shutdown deadline; what settled
is XACKed; the rest stays pending for another worker.
"""

from __future__ import annotations

import asyncio
import logging
import os
import socket
from dataclasses import dataclass
from typing import Any

import msgspec

from ..record import Generation, decode_records
from .stream_acks import AckBook

__all__ = ["StreamWorker", "WorkerSettings"]

log = logging.getLogger("spancast.worker")
ACK_CHUNK = 1000  # ids per XACK
PAUSE_S = 0.02  # how often a paused reader looks for room again (settling wakes it sooner)
BACKOFF_S = (0.1, 5.0)  # Redis unreachable: first and longest wait before the next try
_decoder = msgspec.json.Decoder(Generation)


def default_consumer() -> str:
    return f"{socket.gethostname()}-{os.getpid()}"


@dataclass(frozen=True, slots=True)
class WorkerSettings:
    stream: str
    group: str
    consumer: str
    min_idle_s: float = 120.0  # pending this long (a dead or stuck worker's entry): claimed by another
    batch: int = 500  # entries per XREADGROUP / XAUTOCLAIM at most
    max_unacked: int = 20_000  # entries read but not yet XACKed at most: reading pauses there
    field: str = "record"  # the entry field holding the record's JSON (the redis destination's field)
    block_ms: int = 250  # how long one XREADGROUP waits for new entries (and a stop, for it to return)

    def __post_init__(self) -> None:
        if self.batch < 1 or self.max_unacked < 1 or self.min_idle_s <= 0 or self.block_ms < 1:
            raise ValueError("batch, max_unacked, min_idle_s and block_ms must be positive")


class StreamWorker:
    """Moves a consumer group's entries into a Broadcaster and XACKs them as they settle."""

    def __init__(self, client: Any, broadcaster: Any, settings: WorkerSettings) -> None:
        self.client, self.broadcaster, self.settings = client, broadcaster, settings
        self.read = self.acked = self.claimed = self.invalid = self.trimmed = self.pauses = 0
        self._progress = asyncio.Event()  # something settled: a paused reader looks again
        self.book = AckBook(lambda: broadcaster.lanes, self._progress.set)
        self._ack_lock = asyncio.Lock()
        self._stop = asyncio.Event()
        self._logged_fields: set[str] = set()
        self._outage = False
        self._field = settings.field.encode()
        broadcaster.watch_settled(on_low=self.book.on_low, on_runs=self.book.on_runs)

    # ------------------------------------------------------------ running

    async def run(self, stop: asyncio.Event) -> int:
        """Join the group, start the pipeline, consume until stop is set, then drain and XACK what settled.
        0 after a stop; 1 when Redis refused the worker for good meanwhile (it drains all the same)."""
        s, b = self.settings, self.broadcaster
        await self._ensure_group()
        await b.astart()
        longest = b.retry.max_retry_elapsed_s + b.batch.flush_interval_s
        if s.min_idle_s < longest:
            log.warning("min_idle_s %.0fs is shorter than a batch's retries may take (%.0fs): another worker may "
                        "claim entries still being retried here, and deliver them twice", s.min_idle_s, longest)
        tasks = [asyncio.create_task(self._reader()), asyncio.create_task(self._claimer())]
        acker = asyncio.create_task(self._acker())
        stopper = asyncio.create_task(stop.wait())
        done, _ = await asyncio.wait([stopper, acker, *tasks], return_when=asyncio.FIRST_COMPLETED)
        failure = next((t.exception() for t in done if t is not stopper and not t.cancelled() and t.exception()), None)
        if failure is not None:
            log.error("stopping: redis refused the worker: %s", failure)
        stopper.cancel()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + b.shutdown_timeout_s
        log.info("stopping: draining within %.1fs", b.shutdown_timeout_s)
        self._stop.set()
        self._progress.set()
        _, late = await asyncio.wait(tasks, timeout=max(0.0, deadline - loop.time()))
        for task in late:  # an XREADGROUP past the deadline: what it took stays pending, for another worker
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await b.aclose(max(0.0, deadline - loop.time()))
        await self._flush_acks(timeout_s=5.0)  # after the acker's XACK in progress, if any (the lock)
        acker.cancel()
        await asyncio.gather(acker, return_exceptions=True)
        await self._leave_group()
        log.info("stopped: %r", self)
        return 0 if failure is None else 1

    async def _ensure_group(self) -> None:
        import redis.exceptions as rx

        s = self.settings
        try:
            await self.client.xgroup_create(s.stream, s.group, id="0", mkstream=True)
            log.info("created consumer group %s on %s (from the stream's start)", s.group, s.stream)
        except rx.ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _leave_group(self) -> None:
        """A consumer with nothing pending leaves the group (DELCONSUMER would drop pending entries: not then)."""
        s = self.settings
        try:
            mine = await self.client.xpending_range(s.stream, s.group, min="-", max="+", count=1, consumername=s.consumer)
            if not mine:
                await self.client.xgroup_delconsumer(s.stream, s.group, s.consumer)
        except Exception as exc:  # noqa: BLE001 - tidying only: the entries are safe either way
            log.debug("could not leave the group: %s", exc)

    # ------------------------------------------------------------ reading and claiming

    async def _reader(self) -> None:
        s = self.settings
        cursor: bytes | str = "0"  # first this consumer's own pending entries (a restart under the same name)
        while not self._stop.is_set():
            count = await self._room(s.max_unacked)
            if not count:
                return
            reply = await self._call(self.client.xreadgroup, s.group, s.consumer, {s.stream: cursor}, count=count,
                                     block=None if cursor == "0" else s.block_ms)
            entries = _entries(reply)
            if cursor != ">":
                if not entries:
                    cursor = ">"
                    continue
                cursor = entries[-1][0]
            self._take(entries)

    async def _claimer(self) -> None:
        s = self.settings
        idle_ms = int(s.min_idle_s * 1000)
        while not self._stop.is_set():
            start: bytes | str = "0-0"
            while not self._stop.is_set():
                # Claims may exceed max_unacked up to twice: this worker's own given-up entries come back
                # this way, and they replace their older attempt.
                count = await self._room(2 * s.max_unacked)
                if not count:
                    return
                reply = await self._call(self.client.xautoclaim, s.stream, s.group, s.consumer, idle_ms,
                                         start_id=start, count=count)
                if reply is None:
                    continue
                start, entries = reply[0], reply[1]
                if len(reply) > 2 and reply[2]:  # trimmed away while pending: gone, and off the list now
                    self.trimmed += len(reply[2])
                    log.warning("%d pending entries were trimmed from %s before delivery (maxlen too small?)",
                                len(reply[2]), s.stream)
                self._take(entries, claimed=True)
                if start in (b"0-0", "0-0"):
                    break
            try:  # again when half of min_idle_s has passed, or at the stop
                await asyncio.wait_for(self._stop.wait(), max(0.2, s.min_idle_s / 2))
            except TimeoutError:
                pass

    async def _room(self, max_unacked: int) -> int:
        """How many entries to read now: waits while the intake, the memory caps or max_unacked leave
        room for fewer than half a batch; 0 once stopping."""
        s, b = self.settings, self.broadcaster
        intake = b.intake
        want = max(1, min(s.batch, max_unacked) // 2)
        paused = False
        while not self._stop.is_set():
            free_bytes = min(b.max_memory_bytes, b.max_queued_bytes) - b.memory_bytes() - intake.bytes
            room = min(s.batch, intake.capacity - len(intake), max_unacked - len(self.book),
                       int(free_bytes // intake.record_bytes))
            if room >= want:
                return room
            if not paused:
                paused = True
                self.pauses += 1
            self._progress.clear()
            try:
                await asyncio.wait_for(self._progress.wait(), PAUSE_S)
            except TimeoutError:
                pass
        return 0

    async def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """fn(*args) against Redis; None after an outage error (logged once per outage, then a backoff)."""
        import redis.exceptions as rx

        delay = BACKOFF_S[0]
        while not self._stop.is_set():
            try:
                result = await fn(*args, **kwargs)
            except rx.ResponseError as exc:
                if "NOGROUP" not in str(exc):
                    raise  # WRONGTYPE, NOPERM, ...: not something waiting fixes
                log.warning("the group %s is gone (the stream was deleted?): creating it again", self.settings.group)
                await self._call(self._ensure_group)
                continue
            except (rx.ConnectionError, rx.TimeoutError, OSError) as exc:
                if not self._outage:
                    log.warning("redis: %s; retrying until it answers", exc)
                self._outage = True
                try:
                    await asyncio.wait_for(self._stop.wait(), delay)
                except TimeoutError:
                    pass
                delay = min(delay * 2, BACKOFF_S[1])
                continue
            if self._outage:
                log.info("redis answers again")
                self._outage = False
            return result
        return None

    def _take(self, entries: list[Any], claimed: bool = False) -> None:
        """Decode entries and emit them; each gets its position (synchronous: no emit can come between)."""
        b, book = self.broadcaster, self.book
        for entry_id, fields in entries:
            if claimed:
                self.claimed += 1
            else:
                self.read += 1
            if not fields:  # deleted from the stream (trimmed) while it was pending: nothing to deliver
                self.trimmed += 1
                book.done(entry_id)
                continue
            # str keys when the URL asks for decode_responses
            record = self._decode(entry_id, fields.get(self._field, fields.get(self.settings.field)))
            if record is None:
                book.done(entry_id)  # it would fail the same way on every worker: off the pending list
                continue
            book.forget(entry_id)  # claimed back (its retries ran out here): this attempt replaces that one
            position = b.next_position
            if b.emit(record):
                if b.lanes:
                    book.hold(position, entry_id)
                else:
                    book.done(entry_id)  # no enabled destination: settled at once
            # else: not taken; it stays pending and comes back through XAUTOCLAIM

    def _decode(self, entry_id: bytes, raw: bytes | str | None) -> Generation | None:
        if raw is not None:
            try:
                return _decoder.decode(raw)
            except (msgspec.DecodeError, msgspec.ValidationError, UnicodeDecodeError):
                pass
        self.invalid += 1
        if raw is None:
            field, reason = self.settings.field, "the entry has no such field"
        else:
            errors = decode_records(raw).errors
            field, reason = (errors[0].field, errors[0].reason) if errors else ("<record>", "not a record")
        if field not in self._logged_fields:
            self._logged_fields.add(field)
            log.warning("invalid entry %s: %s: %s (XACKed; later ones with this field are counted, not logged)",
                        _text(entry_id), field, reason)
        return None

    # ------------------------------------------------------------ XACK

    async def _acker(self) -> None:
        while True:
            await self.book.has_ready.wait()
            self.book.has_ready.clear()
            await self._flush_acks()

    async def _flush_acks(self, timeout_s: float | None = None) -> None:
        """XACK every ready entry; timeout_s (the last flush) gives up on an outage: those stay pending."""
        import redis.exceptions as rx

        s, book = self.settings, self.book
        async with self._ack_lock:  # one flush at a time: two must not take the same ids
            while book.ready:
                ids = book.take(ACK_CHUNK)
                try:
                    done = await asyncio.wait_for(self.client.xack(s.stream, s.group, *ids), timeout_s)
                except (rx.ConnectionError, rx.TimeoutError, OSError, TimeoutError) as exc:
                    if timeout_s is not None:
                        log.warning("redis: %s; %d settled entries stay pending", exc, len(book.ready))
                        return
                    if await self._call(self.client.ping) is None:  # waits out the outage (logged there)
                        return  # stopping: the last flush takes over
                    continue
                book.acked(len(ids))
                self.acked += done  # an entry another worker acked first counts there
        self._progress.set()

    def __repr__(self) -> str:
        s = self.settings
        return (f"<StreamWorker stream={s.stream} group={s.group} consumer={s.consumer} read={self.read} "
                f"acked={self.acked} claimed={self.claimed} invalid={self.invalid} trimmed={self.trimmed} "
                f"unacked={len(self.book)} pauses={self.pauses}>")


def _entries(reply: Any) -> list[Any]:
    """The (id, fields) pairs of an XREADGROUP reply of one stream (RESP2 list or RESP3 dict)."""
    if not reply:
        return []
    if isinstance(reply, dict):
        (entries,) = reply.values()
        return entries[0] if entries and isinstance(entries[0], list) else entries
    return reply[0][1]


def _text(entry_id: Any) -> str:
    return entry_id.decode() if isinstance(entry_id, bytes) else str(entry_id)
