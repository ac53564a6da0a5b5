"""The public facade: a Broadcaster takes records from emit() and delivers them to every destination.

Plain code: ``start()`` runs an event loop (uvloop when installed) on a background thread; ``emit``
is thread-safe and O(1); ``flush`` and ``close`` wait at most their timeout. Asyncio code: ``async
with Broadcaster(...)`` runs on the caller's loop, with ``aflush`` / ``aclose``. Either way one
shutdown deadline covers draining, in-flight requests and retries, and what it leaves is counted.
After fork() the child's broadcaster starts afresh on its first emit; the parent's queue stays
with the parent.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._loop import new_loop
from ._ratelog import RateLimitedLog
from .connection import ConnectionResult, check_connection, preview
from .destinations import Destination, make_destination
from .errors import ConfigError
from .record import Generation
from .pipeline import defaults
from .pipeline.backlog import Backlog, SizeEstimate
from .pipeline.batcher import BatchSettings
from .pipeline.bodyshare import BodyShare
from .pipeline.intake import Intake
from .pipeline.lane import Lane, pump_together
from .pipeline.limiter import AdaptiveLimit
from .pipeline.retry import RetryPolicy
from .pipeline.spool import Spool, SpoolSettings, check_directory
from .pipeline.spool_disk import Disk
from .pipeline.spooling import SpoolLink
from .pipeline.snapshot import StatsSnapshot
from .pipeline.stats import DestinationStats

__all__ = ["Broadcaster"]

SPAN_CACHE_SHARE = 8  # the span caches may hold up to max_memory_bytes / this
DRAIN_CHUNK = 1024  # records taken per loop turn (the intake's lock is held meanwhile: emit waits)
# While records flow, the drainer comes back after this long instead of letting the next emit wake the
# loop: a wake-up per emit would cost every caller a syscall.
LINGER_S = 0.001
# While the drain waits for room, it looks again this often even if nothing told it to: a missed wake-up
# must not leave records in the intake for good.
STALL_CHECK_S = 1.0
log = logging.getLogger("spancast")
_LIVE: weakref.WeakSet[Broadcaster] = weakref.WeakSet()


class Broadcaster:
    """Delivers generation records to the configured destinations."""

    def __init__(
        self,
        destinations: Sequence[Mapping[str, Any] | Destination],
        *,
        max_batch_records: int = defaults.MAX_BATCH_RECORDS,
        max_batch_bytes: int = defaults.MAX_BATCH_BYTES,
        flush_interval_s: float = defaults.FLUSH_INTERVAL_S,
        intake_max_records: int = defaults.INTAKE_MAX_RECORDS,
        intake_max_bytes: int = defaults.INTAKE_MAX_BYTES,
        overflow: str = defaults.OVERFLOW,
        block_timeout_s: float = defaults.BLOCK_TIMEOUT_S,
        max_queued_records: int = defaults.MAX_QUEUED_RECORDS,
        max_queued_bytes: int = defaults.MAX_QUEUED_BYTES,
        max_memory_bytes: int = defaults.MAX_MEMORY_BYTES,
        initial_concurrency: int = defaults.INITIAL_CONCURRENCY,
        max_concurrency: int = defaults.MAX_CONCURRENCY,
        retry: RetryPolicy | None = None,
        shutdown_timeout_s: float = defaults.SHUTDOWN_TIMEOUT_S,
        use_uvloop: bool = defaults.USE_UVLOOP,
        spool: SpoolSettings | Mapping[str, Any] | None = None,
    ) -> None:
        self.destinations = [make_destination(d, f"destinations[{i}]") for i, d in enumerate(destinations)]
        names = [d.name for d in self.destinations]
        for i, name in enumerate(names):
            if name in names[:i]:
                raise ConfigError(f"destinations[{i}].name", f"{name!r} is used twice; give each destination a name")
        self.batch = BatchSettings(max_batch_records, max_batch_bytes, flush_interval_s)
        self.retry = retry or RetryPolicy()
        AdaptiveLimit(initial_concurrency, 1, max_concurrency)  # checks the numbers now, not on the loop
        self.initial_concurrency, self.max_concurrency = initial_concurrency, max_concurrency
        for key, value in (("max_queued_records", max_queued_records), ("max_queued_bytes", max_queued_bytes),
                           ("max_memory_bytes", max_memory_bytes), ("shutdown_timeout_s", shutdown_timeout_s)):
            if not value > 0:
                raise ConfigError(key, f"must be > 0, got {value}")
        self.max_queued_records, self.max_queued_bytes = max_queued_records, max_queued_bytes
        self.max_memory_bytes = max_memory_bytes
        self.shutdown_timeout_s = shutdown_timeout_s
        self.use_uvloop = use_uvloop
        if spool is not None and not isinstance(spool, SpoolSettings):
            spool = SpoolSettings(**spool)
        self.spool_settings: SpoolSettings | None = spool
        self.spool_disk: Disk | None = None  # the spool's file layer (tests put a fault-injecting one here)
        self.invalid = 0  # objects emit() refused because they are not a Generation
        self._invalid_log = RateLimitedLog(log)
        self._intake_args = (intake_max_records, overflow, block_timeout_s, intake_max_bytes)
        self.intake = Intake(*self._intake_args)
        self._reset()
        _LIVE.add(self)

    @classmethod
    def from_config(cls, config: Any = None, **overrides: Any) -> Broadcaster:
        """A Broadcaster for a configuration file (TOML or OpenRouter JSON), a parsed Config, or None
        for the embedded default (a local ``file`` destination); keywords override [pipeline]."""
        from .config import Config, default_config, load_config

        if config is None:
            config = default_config()
        elif not isinstance(config, Config):
            config = load_config(config)
        return cls(config.destinations, **{**config.broadcaster_kwargs(), **overrides})

    def _reset(self) -> None:
        self.lanes: list[Lane] = []
        self.span_caches: dict = {}  # (format, flavor, value cut) -> the span bytes lanes of that rendering share
        self.body_shares: list[BodyShare] = []  # compressed bodies shared by lanes that send the same bytes
        self._pump_in_turns = False  # some lanes share span bytes: they encode new records in turns
        self.backlog = Backlog()
        self.sizes = SizeEstimate()
        # Why the drain stopped taking records ("memory", "queues", "spool"), or None: what makes room wakes it.
        self._stalled: str | None = None
        self._stall_timer: asyncio.TimerHandle | None = None
        self._wake_pending = False
        self._replay_turn = True  # re-sent records may take the next chunk even while live ones wait
        self.spool: Spool | None = None
        self.spooling: SpoolLink | None = None
        self.summary: dict[str, Any] | None = None  # what close() left: per destination, logged at exit
        self._settle_watchers: list[Callable[[int], None]] = []
        self._run_watchers: list[Callable[[str, list[tuple[int, int]]], None]] = []
        self.settled_low = 0  # every record before this position is settled for every destination
        self.loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._own_loop = False
        self.state = "new"  # new -> running -> closing -> closed
        self._forked = False

    # ------------------------------------------------------------ plain code

    def start(self) -> Broadcaster:
        """Run the pipeline on its own thread; returns once it accepts records."""
        if self.state != "new":
            raise RuntimeError(f"Broadcaster is {self.state}; start() runs once")
        ready = threading.Event()
        failure: list[BaseException] = []

        def run() -> None:
            loop = new_loop(self.use_uvloop)
            asyncio.set_event_loop(loop)
            try:
                loop.run_until_complete(self._setup(loop))
            except BaseException as exc:  # noqa: BLE001 - handed to the starting thread
                failure.append(exc)
                ready.set()
                loop.close()
                return
            ready.set()
            try:
                loop.run_forever()
            finally:
                loop.run_until_complete(loop.shutdown_asyncgens())
                loop.close()

        self._own_loop = True
        self._thread = threading.Thread(target=run, name="spancast", daemon=True)
        self._thread.start()
        ready.wait()
        if failure:
            self.state = "closed"
            raise failure[0]
        atexit.register(self._at_exit)
        return self

    def emit(self, record: Any) -> bool:
        """Hand a record over; True when it was queued. Never blocks on the network. Anything but a
        Generation is refused (False), counted in stats()["intake"]["invalid"] and logged (once a minute
        per type)."""
        if record.__class__ is not Generation and not isinstance(record, Generation):
            self.invalid += 1
            kind = type(record).__name__
            self._invalid_log(logging.ERROR, kind, "spancast: emit() takes a spancast.Generation, got %s: refused", kind)
            return False
        if self.state != "running":
            if self._forked:
                self._restart_after_fork()
            else:
                self.intake.dropped += 1  # not running: counted like a full intake
                return False
        return self.intake.put(record)

    def emit_many(self, records: list[Generation]) -> int:
        """Hand over records decode_records made (Generations all: not checked one by one), as many as fit
        now, in order, whatever the overflow policy: never blocks, never drops a queued record. Returns how
        many were taken; the rest are the caller's to answer for (spancast serve refuses them by position)."""
        if self.state != "running":
            if not self._forked:
                return 0
            self._restart_after_fork()
        return self.intake.put_many(records)

    def flush(self, timeout_s: float | None = None) -> bool:
        """Send what is queued and wait for it, at most timeout_s; True when nothing is left in flight."""
        timeout = self.shutdown_timeout_s if timeout_s is None else timeout_s
        if self.state != "running" or self.loop is None:
            return False
        if not self._own_loop:
            raise RuntimeError("in asyncio code, await aflush()")
        future = asyncio.run_coroutine_threadsafe(self.aflush(timeout), self.loop)
        return future.result(timeout + 5)

    def close(self, timeout_s: float | None = None) -> None:
        """Stop taking records, deliver what is queued within timeout_s, count what is left, stop."""
        if self.state in ("closing", "closed") or self.loop is None:
            self.state = "closed"
            return
        if not self._own_loop:
            raise RuntimeError("in asyncio code, await aclose()")
        timeout = self.shutdown_timeout_s if timeout_s is None else timeout_s
        future = asyncio.run_coroutine_threadsafe(self.aclose(timeout), self.loop)
        future.result(timeout + 5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        if self._thread is not None:
            self._thread.join(5)
        atexit.unregister(self._at_exit)

    def __enter__(self) -> Broadcaster:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _at_exit(self) -> None:
        self.close(self.shutdown_timeout_s)

    # ------------------------------------------------------------ asyncio code

    async def astart(self) -> Broadcaster:
        if self.state != "new":
            raise RuntimeError(f"Broadcaster is {self.state}; start runs once")
        await self._setup(asyncio.get_running_loop())
        return self

    async def __aenter__(self) -> Broadcaster:
        return await self.astart()

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def aflush(self, timeout_s: float | None = None) -> bool:
        timeout = self.shutdown_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        self._drain(repeat=False, everything=True)
        for lane in self.lanes:
            lane.flush()
        idle = await asyncio.gather(*(lane.wait_idle(deadline - loop.time()) for lane in self.lanes))
        return all(idle)

    async def aclose(self, timeout_s: float | None = None) -> None:
        if self.state != "running":
            self.state = "closed"
            return
        self.state = "closing"
        timeout = self.shutdown_timeout_s if timeout_s is None else timeout_s
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        if self.spooling is not None:
            await self.spooling.stop()
        if self._stall_timer is not None:
            self._stall_timer.cancel()
            self._stall_timer = None
        self._drain(repeat=False, everything=True)
        # Every lane gets the whole remaining time at once: a hung one cannot eat a healthy one's share.
        await asyncio.gather(*(lane.close(deadline - loop.time()) for lane in self.lanes))
        for cache in self.span_caches.values():
            cache.clear()  # it holds records no lane will take any more
        for share in self.body_shares:
            share.clear()
        if self.spool is not None:
            self.spool.close()  # what the deadline left undelivered stays spooled for the next start
        self.state = "closed"
        self._log_summary()

    def _log_summary(self) -> None:
        """Per destination: delivered, dropped by reason, left in the spool; a warning when any were lost."""
        summary: dict[str, Any] = {}
        for lane in self.lanes:
            s = lane.stats
            summary[lane.destination.name] = {
                "delivered": s.delivered, "dropped": dict(s.dropped),
                "left_in_spool": self.spooling.left(lane.destination.name) if self.spooling is not None else 0}
        self.summary = summary
        lost = self.lost_records()
        for name, d in summary.items():
            drops = ", ".join(f"{reason} {n}" for reason, n in sorted(d["dropped"].items())) or "none"
            spooled = f", left in the spool {d['left_in_spool']}" if self.spool is not None else ""
            log.log(logging.WARNING if d["dropped"] else logging.INFO,
                    "spancast: at exit, %s: delivered %d, dropped %s%s", name, d["delivered"], drops, spooled)
        if self.intake.dropped or self.invalid:
            log.warning("spancast: at exit, emit() had refused %d records (intake full or closed) and %d objects "
                        "that were not a Generation", self.intake.dropped, self.invalid)
        if lost:
            log.warning("spancast: %d accepted records were lost (dropped above, not kept in a spool)", lost)

    def lost_records(self) -> int:
        """Records taken and then dropped, for any destination (kept in a spool is not lost)."""
        return sum(sum(lane.stats.dropped.values()) for lane in self.lanes)

    # ------------------------------------------------------------ the loop side

    async def _setup(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lanes = [
            Lane(d, self.backlog, self.batch, self.retry, AdaptiveLimit(self.initial_concurrency, 1, self.max_concurrency),
                 self.max_queued_records, self.max_queued_bytes, loop, on_progress=self._on_lane_progress,
                 span_caches=self.span_caches)
            for d in self.destinations if d.settings.enabled  # disabled: no lane, so it receives nothing
        ]
        self.backlog.cursors = list(self.lanes)
        groups: dict[tuple, list[Lane]] = {}
        for lane in self.lanes:
            if lane.body_group is not None:
                groups.setdefault(lane.body_group, []).append(lane)
        self.body_shares = [self._share_bodies(group) for group in groups.values() if len(group) > 1]
        self._pump_in_turns = any(cache.members > 1 for cache in self.span_caches.values())
        for cache in self.span_caches.values():
            # Lanes of a group drift apart in a burst (each at its destination's pace): what the first holds
            # for the last grows with the drift. An eighth of the memory cap, which counts it (memory_bytes).
            cache.max_bytes = self.max_memory_bytes // SPAN_CACHE_SHARE
        if self.spool_settings is not None:
            check_directory(self.spool_settings.directory)
            self.spool = Spool(self.spool_settings, [lane.destination.name for lane in self.lanes], self.spool_disk)
            self.spool.open(loop)
            self._run_watchers.append(self.spool.settled)
            self._settle_watchers.append(self._spool_release)
        if self._settle_watchers or self._run_watchers:
            for lane in self.lanes:
                lane.track(self._on_settled)
        if self.spool is not None:
            self.spooling = SpoolLink(self, self.spool)
        for lane in self.lanes:
            await lane.start()
        self.intake.connect(lambda: loop.call_soon_threadsafe(self._drain))
        self.state = "running"
        if len(self.intake):
            loop.call_soon(self._drain)
        if self.spooling is not None:
            self.spooling.start(loop)

    def _drain(self, repeat: bool = True, everything: bool = False) -> None:
        """Move records from the intake to the backlog and let every lane encode what its sender can take.

        Takes only what there is room for (memory, the destinations' queues, the spool: _room) and stops
        when there is none, until what makes room wakes it (the intake's overflow policy covers the
        wait). flush and close take everything (it is in memory already, in the intake)."""
        self._wake_pending = False
        lanes, backlog, intake, spool = self.lanes, self.backlog, self.intake, self.spool
        took = False
        while True:
            limit = DRAIN_CHUNK if everything else self._room()
            if not limit:
                self._stall()
                return
            records = intake.take(limit)
            if records:
                if spool is not None and not spool.append(backlog.end, records):  # on disk before any is sent
                    if self.state == "running":  # the disk failed: they wait in the intake for it
                        intake.unget(records)
                        self._stalled = "spool"
                        self._stall()
                        return
                    spool.counts["unspooled_records"] += len(records)  # closing: sent without a copy on disk
                took = True
                self._replay_turn = True
                nbytes = self.sizes.chunk_bytes(records)
                # The intake shares the memory cap: what the backlog and the bodies hold is not free for it.
                intake.set_record_bytes(self.sizes.record_bytes, self.max_memory_bytes - self.memory_bytes())
                backlog.append(records, nbytes, self.loop.time())  # type: ignore[union-attr]
                for lane in lanes:
                    lane.receive(len(records))
                pump_together(lanes, self._pump_in_turns)
                backlog.trim()
            if len(intake):
                if repeat:  # more came in: come back after pending I/O has had its turn
                    self.loop.call_soon(self._drain)  # type: ignore[union-attr]
                    return
                continue
            if took and repeat:
                self.loop.call_later(LINGER_S, self._drain)  # type: ignore[union-attr]
                return
            if intake.settle():
                return

    def _room(self) -> int:
        """How many records the drain may take now (0: none, and _stalled says why)."""
        stalled, sizes = self._stalled, self.sizes
        # Once stopped at a cap, wait for an eighth of it to be free: not a drain per freed record.
        want = self.max_memory_bytes // 8 if stalled == "memory" else 1
        room = self._memory_room(want)
        if room < want:
            self._stalled = "memory"
            return 0
        limit = min(DRAIN_CHUNK, max(1, int(room // sizes.record_bytes)))  # overshoot by one record at most
        if self.lanes:
            # The destination with the most room decides: one with less skips its oldest records (counted,
            # or given back to the spool), so a slow destination never costs a fast one a record.
            queue = max(lane.queue_room(sizes.record_bytes) for lane in self.lanes)
            want = max(1, min(DRAIN_CHUNK, self.max_queued_records // 8)) if stalled == "queues" else 1
            if queue < want:
                self._stalled = "queues"
                return 0
            limit = min(limit, queue)
        spool = self.spool
        if spool is not None:
            if spool.full() and spool.error is None and self.intake.policy == "drop_oldest":
                while spool.full() and self.spooling.drop_oldest():  # type: ignore[union-attr]
                    pass
            if spool.problem() is not None:  # a disk error, or full: records wait for room
                self._stalled = "spool"
                return 0
            limit = min(limit, max(1, int(spool.room() // sizes.record_bytes)))  # overshoot by a record at most
        self._stalled = None
        return limit

    def _stall(self) -> None:
        if self._stall_timer is None and self.loop is not None and self.state == "running":
            self._stall_timer = self.loop.call_later(STALL_CHECK_S, self._stall_check)

    def _stall_check(self) -> None:
        self._stall_timer = None
        if self._stalled is not None and self.state == "running":
            self._drain()

    def _wake_drain(self) -> None:
        """Something made room: let the drain look (once, however many times this is called meanwhile)."""
        if not self._wake_pending and self.loop is not None and self.state == "running":
            self._wake_pending = True
            self.loop.call_soon(self._drain)

    def refusing(self) -> str | None:
        """Why records cannot be taken now (the spool: a disk error, or full), or None."""
        if self.spool is not None and self._stalled == "spool":
            return self.spool.problem()
        if self.spool is not None and self.spool.error is not None:
            return self.spool.error.reason
        return None

    # ------------------------------------------------------------ settled positions (spool, stream workers)

    def watch_settled(self, on_low: Callable[[int], None] | None = None,
                      on_runs: Callable[[str, list[tuple[int, int]]], None] | None = None) -> None:
        """Before start: on_low(position) whenever every record before position is settled for every
        destination (delivered, or refused for good, or routed out: see pipeline/ledger.py), and
        on_runs(destination, [(start, end), ...]) for each run one destination settles. Positions
        count records in the order the pipeline took them, from 0; next_position says which one the
        next emit() from the loop's own thread will get."""
        if self.state != "new":
            raise RuntimeError("watch_settled() goes before start()")
        if on_low is not None:
            self._settle_watchers.append(on_low)
        if on_runs is not None:
            self._run_watchers.append(on_runs)

    @property
    def next_position(self) -> int:
        """The position the next record emitted from the loop's thread will have (records are taken in
        emit order; replayed records join between two drain chunks, never inside one)."""
        return self.backlog.end + len(self.intake)

    def _on_settled(self, lane: Lane, spans: list[tuple[int, int]]) -> None:
        for watcher in self._run_watchers:
            watcher(lane.destination.name, spans)
        low = min((lane.progress.low for lane in self.lanes if lane.progress is not None), default=self.backlog.end)
        if low > self.settled_low:
            self.settled_low = low
            for watcher in self._settle_watchers:
                watcher(low)

    def _share_bodies(self, lanes: list[Lane]) -> BodyShare:
        """One compressed copy of each body these alike lanes all send (pipeline/bodyshare.py); at most an
        eighth of the memory cap, which counts it (memory_bytes)."""
        share = BodyShare(lanes[0].destination.compressor, len(lanes), self.max_memory_bytes // SPAN_CACHE_SHARE)
        for lane in lanes:
            lane.sender.delivery.bodies = share
        return share

    def _spool_release(self, low: int) -> None:
        assert self.spooling is not None
        self.spooling.release(low)

    def memory_bytes(self) -> int:
        """Estimated bytes the pipeline holds: the backlog once, every lane's encoded bodies, the shared spans."""
        return (self.backlog.nbytes + sum(lane.encoded_bytes() for lane in self.lanes)
                + sum(cache.bytes for cache in self.span_caches.values())
                + sum(share.bytes for share in self.body_shares))

    def _memory_room(self, want: int) -> int:
        """Bytes left under max_memory_bytes. When fewer than want, lanes behind the furthest-ahead one
        skip their oldest backlog records, but only those no lane further ahead needs: a lane that
        keeps up never loses records to one that does not. What that cannot free waits in the intake."""
        room = self.max_memory_bytes - self.memory_bytes()
        if room >= want:
            return room
        lead = max(lane.cursor for lane in self.lanes)
        for lane in sorted(self.lanes, key=lambda lane: lane.cursor):
            if lane.cursor < lead:
                lane.skip_bytes(want - room, limit=lead)
                self.backlog.trim()
                room = self.max_memory_bytes - self.memory_bytes()
                if room >= want:
                    break
        return room

    def _on_lane_progress(self) -> None:
        self.backlog.trim()
        if self._stalled in ("memory", "queues"):  # the drain decides whether there is room now
            self._wake_drain()

    def stats(self) -> StatsSnapshot:
        """Counters per destination (consistent: taken on the loop) and the intake's."""
        on_loop_thread = self._thread is not None and threading.current_thread() is self._thread
        if self.loop is not None and self._own_loop and self.state in ("running", "closing") and not on_loop_thread:
            future = asyncio.run_coroutine_threadsafe(_call(self._snapshot), self.loop)
            return future.result(5)
        return self._snapshot()

    def _snapshot(self) -> StatsSnapshot:
        out: StatsSnapshot = {
            "intake": {"queued": len(self.intake), "bytes": self.intake.bytes, "dropped": self.intake.dropped,
                       "invalid": self.invalid, "max_records": self.intake.max_records, "max_bytes": self.intake.max_bytes,
                       "refusing": self.refusing()},
            "destinations": {},
        }
        if self.spooling is not None:
            out["spool"] = self.spooling.stats()
        out["backlog"] = {"records": len(self.backlog), "bytes": self.backlog.nbytes, "memory_bytes": self.memory_bytes(),
                          "max_memory_bytes": self.max_memory_bytes}
        for lane in self.lanes:
            s = lane.stats
            out["destinations"][lane.destination.name] = {
                "received": s.received,
                "filtered": s.filtered,
                "sampled_out": s.sampled_out,
                "queued": s.queued,
                "queued_bytes": lane.backlog.bytes_from(lane.cursor) + lane.batcher.bytes,
                "oldest_queued_age_s": lane.oldest_queued_age_s(),
                "in_flight": s.in_flight,
                "in_flight_bytes": lane.sender.bytes_in_flight,
                "spooled": s.spooled,
                "given_back": dict(s.given_back),
                "delivered": s.delivered,
                "delivered_bytes": s.delivered_bytes,
                "retried": s.retried,
                "dropped": dict(s.dropped),
                "batches": dict(s.batches),
                "concurrency_limit": s.concurrency_limit,
                "last_error": s.last_error,
            }
        return out

    # ------------------------------------------------------------ test connection and preview

    def destination(self, name: str) -> Any:
        for d in self.destinations:
            if d.name == name:
                return d
        known = ", ".join(d.name for d in self.destinations)
        raise KeyError(f"no destination named {name!r}; configured: {known}")

    def test_connection(self, name: str, timeout_s: float = 10.0) -> ConnectionResult:
        """Send OpenRouter's connection test to one destination; ok or failed, status, latency, hint."""
        destination = self.destination(name)
        if self.loop is not None and self.state in ("running", "closing"):
            if not self._own_loop:
                raise RuntimeError("in asyncio code, await atest_connection()")
            future = asyncio.run_coroutine_threadsafe(check_connection(destination, timeout_s), self.loop)
            return future.result(timeout_s + 5)
        return asyncio.run(check_connection(destination, timeout_s))

    async def atest_connection(self, name: str, timeout_s: float = 10.0) -> ConnectionResult:
        return await check_connection(self.destination(name), timeout_s)

    def preview(self, record: Any, name: str) -> dict[str, Any]:
        """The exact request one destination would receive for this record (secrets masked, body as JSON)."""
        return preview(self.destination(name), record)

    def destination_stats(self) -> dict[str, DestinationStats]:
        return {lane.destination.name: lane.stats for lane in self.lanes}

    # ------------------------------------------------------------ fork

    def _restart_after_fork(self) -> None:
        self._reset()
        self.intake = Intake(*self._intake_args)
        self.start()

    def __repr__(self) -> str:
        names = ", ".join(d.name for d in self.destinations)
        return f"<Broadcaster {self.state} destinations=[{names}] {self.intake!r}>"


async def _call(fn: Any) -> Any:
    return fn()


def _after_fork_in_child() -> None:
    for broadcaster in list(_LIVE):
        if broadcaster.state in ("running", "closing"):  # its loop thread did not survive the fork
            broadcaster.state = "forked"
            broadcaster._forked = True


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)
