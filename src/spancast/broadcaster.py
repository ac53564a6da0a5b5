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
import os
import threading
import weakref
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from ._loop import new_loop
from .connection import ConnectionResult, check_connection, preview
from .destinations import Destination, make_destination
from .errors import ConfigError
from .pipeline.backlog import Backlog, SizeEstimate
from .pipeline.batcher import BatchSettings
from .pipeline.intake import Intake
from .pipeline.lane import Lane
from .pipeline.limiter import AdaptiveLimit
from .pipeline.retry import RetryPolicy
from .pipeline.spool import Spool, SpoolSettings, check_directory
from .pipeline.stats import DestinationStats

__all__ = ["Broadcaster"]

DRAIN_CHUNK = 1024  # records taken per loop turn (the intake's lock is held meanwhile: emit waits)
# While records flow, the drainer comes back after this long instead of letting the next emit wake the
# loop: a wake-up per emit would cost every caller a syscall.
LINGER_S = 0.001
_LIVE: weakref.WeakSet[Broadcaster] = weakref.WeakSet()


class Broadcaster:
    """Delivers generation records to the configured destinations."""

    def __init__(
        self,
        destinations: Sequence[Mapping[str, Any] | Destination],
        *,
        max_batch_records: int = 512,
        max_batch_bytes: int = 4 * 1024 * 1024,
        flush_interval_s: float = 1.0,
        intake_max_records: int = 200_000,
        intake_max_bytes: int = 512 * 1024 * 1024,
        overflow: str = "drop_newest",
        block_timeout_s: float = 1.0,
        max_queued_records: int = 200_000,
        max_queued_bytes: int = 512 * 1024 * 1024,
        max_memory_bytes: int = 1024 * 1024 * 1024,
        initial_concurrency: int = 4,
        max_concurrency: int = 32,
        retry: RetryPolicy | None = None,
        shutdown_timeout_s: float = 10.0,
        use_uvloop: bool = True,
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
        self.backlog = Backlog()
        self.sizes = SizeEstimate()
        self._memory_full = False  # the drain stopped at max_memory_bytes: resume when a lane frees some
        self._spool_full = False  # the drain stopped at the spool's max_bytes: resume when it lets go of some
        self.spool: Spool | None = None
        self._replay: asyncio.Task[None] | None = None
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
        """Hand a record over; True when it was queued. Never blocks on the network."""
        if self.state != "running":
            if self._forked:
                self._restart_after_fork()
            else:
                self.intake.dropped += 1  # not running: counted like a full intake
                return False
        return self.intake.put(record)

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
        if self._replay is not None:
            self._replay.cancel()  # what it did not re-inject stays in the older run's segments
            await asyncio.gather(self._replay, return_exceptions=True)
        self._drain(repeat=False, everything=True)
        # Every lane gets the whole remaining time at once: a hung one cannot eat a healthy one's share.
        await asyncio.gather(*(lane.close(deadline - loop.time()) for lane in self.lanes))
        if self.spool is not None:
            self.spool.close()  # what the deadline left undelivered stays spooled for the next start
        self.state = "closed"

    # ------------------------------------------------------------ the loop side

    async def _setup(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.lanes = [
            Lane(d, self.backlog, self.batch, self.retry, AdaptiveLimit(self.initial_concurrency, 1, self.max_concurrency),
                 self.max_queued_records, self.max_queued_bytes, loop, on_progress=self._on_lane_progress)
            for d in self.destinations if d.settings.enabled  # disabled: no lane, so it receives nothing
        ]
        self.backlog.cursors = list(self.lanes)
        if self.spool_settings is not None:
            check_directory(self.spool_settings.directory)
            self.spool = Spool(self.spool_settings, [lane.destination.name for lane in self.lanes])
            self.spool.open(loop)
            self._run_watchers.append(self.spool.settled)
            self._settle_watchers.append(self._spool_release)
        if self._settle_watchers or self._run_watchers:
            for lane in self.lanes:
                lane.track(self._on_settled)
        for lane in self.lanes:
            await lane.start()
        self.intake.connect(lambda: loop.call_soon_threadsafe(self._drain))
        self.state = "running"
        if len(self.intake):
            loop.call_soon(self._drain)
        if self.spool is not None and self.spool.old:
            live = frozenset(lane.destination.name for lane in self.lanes)
            self.spool.replaying = True  # from now: /readyz must not say ready before the task first runs
            self._replay = loop.create_task(self.spool.replay(self._inject, live))

    def _drain(self, repeat: bool = True, everything: bool = False) -> None:
        """Move records from the intake to the backlog and let every lane encode what its sender can take.

        Stops at max_memory_bytes (after the lanes furthest behind skipped their oldest records) and
        resumes when a lane frees memory; the intake's overflow policy covers the wait. flush and close
        take everything (it is in memory already, in the intake)."""
        lanes, backlog, intake = self.lanes, self.backlog, self.intake
        took = False
        while True:
            limit = DRAIN_CHUNK
            if not everything:
                # Once stopped at the cap, wait for an eighth of it to be free: not a chunk per record.
                want = self.max_memory_bytes // 8 if self._memory_full else 1
                room = self._memory_room(want)
                if room < want:
                    self._memory_full = True
                    return
                limit = min(limit, max(1, int(room // self.sizes.record_bytes)))  # overshoot by one record at most
            self._memory_full = False
            spool = self.spool
            if spool is not None and not everything and spool.full():
                # The pipeline's overflow policy, applied to the spool: make room by dropping its oldest
                # records, or stop taking, so that the intake fills and its policy applies.
                if self.intake.policy != "drop_oldest" or not spool.drop_oldest():
                    self._spool_full = True
                    return
            if spool is not None and not everything:  # the spool overshoots its cap by a record at most
                limit = min(limit, max(1, int((spool.settings.max_bytes - spool.nbytes) // self.sizes.record_bytes)))
            self._spool_full = False
            records = intake.take(limit)
            if records:
                took = True
                nbytes = self.sizes.chunk_bytes(records)
                # The intake shares the memory cap: what the backlog and the bodies hold is not free for it.
                intake.set_record_bytes(self.sizes.record_bytes, self.max_memory_bytes - self.memory_bytes())
                if spool is not None:
                    spool.append(backlog.end, records)  # on disk before any of it is sent
                backlog.append(records, nbytes, self.loop.time())  # type: ignore[union-attr]
                for lane in lanes:
                    lane.receive(len(records))
                for lane in lanes:
                    lane.pump()
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
        emit order, and replayed records only join while the intake is empty)."""
        return self.backlog.end + len(self.intake)

    def _on_settled(self, lane: Lane, spans: list[tuple[int, int]]) -> None:
        for watcher in self._run_watchers:
            watcher(lane.destination.name, spans)
        low = min((lane.progress.low for lane in self.lanes if lane.progress is not None), default=self.backlog.end)
        if low > self.settled_low:
            self.settled_low = low
            for watcher in self._settle_watchers:
                watcher(low)

    def _spool_release(self, low: int) -> None:
        assert self.spool is not None
        self.spool.release(low)
        if self._spool_full and self.loop is not None and not self.spool.full():
            self.loop.call_soon(self._drain)

    def _inject(self, records: list[Any], only: frozenset[str]) -> bool:
        """Replayed records, for some destinations only; False (nothing done) while live records wait
        in the intake or memory is short: replay goes behind live traffic."""
        if self.state != "running" or len(self.intake) or self._memory_full:
            return False
        nbytes = self.sizes.chunk_bytes(records)
        if self._memory_room(nbytes) < nbytes:
            return False
        assert self.spool is not None and self.loop is not None
        self.spool.append(self.backlog.end, records, only)
        self.backlog.append(records, nbytes, self.loop.time(), only)
        lanes = [lane for lane in self.lanes if lane.destination.name in only]
        for lane in lanes:
            lane.receive(len(records))
        for lane in lanes:
            lane.pump()
        self.backlog.trim()
        return True

    def memory_bytes(self) -> int:
        """Estimated bytes the pipeline holds: the backlog once, plus every lane's encoded bodies."""
        return self.backlog.nbytes + sum(lane.encoded_bytes() for lane in self.lanes)

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
        if self._memory_full and self.loop is not None:  # the drain decides whether there is room now
            self.loop.call_soon(self._drain)

    def stats(self) -> dict[str, Any]:
        """Counters per destination (consistent: taken on the loop) and the intake's."""
        on_loop_thread = self._thread is not None and threading.current_thread() is self._thread
        if self.loop is not None and self._own_loop and self.state in ("running", "closing") and not on_loop_thread:
            future = asyncio.run_coroutine_threadsafe(_call(self._snapshot), self.loop)
            return future.result(5)
        return self._snapshot()

    def _snapshot(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "intake": {"queued": len(self.intake), "bytes": self.intake.bytes, "dropped": self.intake.dropped,
                       "max_records": self.intake.max_records, "max_bytes": self.intake.max_bytes},
            "destinations": {},
        }
        if self.spool is not None:
            out["spool"] = self.spool.stats()
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
