"""Reading the spool back: what older runs, and this run's given-back records, still owe each destination, re-sent behind live traffic.

At start, older runs are read once, off the loop, to learn what each destination settled there, which
positions a later run already copied (a RECORDS entry's origin), and what damage cost: a damaged
stretch between two intact entries loses the positions between them, counted as lost records (those
some destination had not settled), and its segment goes to the quarantine directory once replayed. A
torn last entry of a run is a crash mid-write, whose records were never acknowledged: not damage.

Then each older segment is read again, record by record, and re-injected for the destinations that
have not settled it (inject() says False while it is not replay's turn: live records go first, but
replay gets a chunk for every live chunk, so it progresses under any load), at most
replay_records_per_s. The copies are written to this run with their origin; once they are on disk the
older segment is deleted. After that the same reader serves this run: records a destination gave back
(spool.owed) are re-sent once that destination can take them, from the segments that hold them.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import msgspec

from .ledger import Progress
from .spool import Segment, Spool
from .spool_format import DAMAGE, RECORDS, RUN, SETTLED, Records, RecordsHead, RunHead, Settled, entries

__all__ = ["Replayer", "Run", "learn"]

log = logging.getLogger("spancast.spool")

#: A destination that failed its last requests gets a probe of given-back records this often, this many:
#: once one gets through it is healthy again, and gets the rest.
PROBE_S = 5.0
PROBE_RECORDS = 100

Inject = Callable[[list[Any], frozenset[str], tuple[str, int], bool], bool]


@dataclass
class Run:
    """What one older run still owes, as learned from its segments."""

    name: str
    segments: list[Segment]
    destinations: list[str] = field(default_factory=list)
    progress: dict[str, Progress] = field(default_factory=dict)  # settled there, or carried by a later copy
    spans: list[tuple[int, int]] = field(default_factory=list)  # the positions its segments hold
    damaged: set[Path] = field(default_factory=set)
    unreadable: set[Path] = field(default_factory=set)
    corrupt: int = 0
    gaps: list[tuple[int, int]] = field(default_factory=list)  # positions lost to damage

    def owes(self, name: str, position: int) -> bool:
        return name in self.progress and not self.progress[name].settled(position)

    def pending(self, name: str, start: int | None = None, end: int | None = None) -> int:
        """Records of this run (between start and end) that destination has not got."""
        p = self.progress.get(name)
        if p is None:
            return 0
        total = 0
        for a, b in self.spans:
            a, b = max(a, start if start is not None else a), min(b, end if end is not None else b)
            total += max(0, b - a - p.count(a, b))
        return total


def learn(spool: Spool, segments: list[Segment]) -> list[Run]:
    """Read older runs' segments (off the loop: it touches no shared state but the files)."""
    runs: dict[str, Run] = {}
    for segment in segments:
        runs.setdefault(segment.run, Run(segment.run, [])).segments.append(segment)
    handoffs: list[tuple[str, int, int, list[str] | None]] = []
    for run in runs.values():
        _learn_run(spool, run, handoffs)
    for origin, a, b, only in handoffs:  # positions a later copy carries are settled where it went
        target = runs.get(origin)
        if target is not None:
            for name in only if only is not None else target.destinations:
                target.progress.setdefault(name, Progress()).mark(a, b)
    return list(runs.values())


def _learn_run(spool: Spool, run: Run, handoffs: list[tuple[str, int, int, list[str] | None]]) -> None:
    expected: int | None = None  # the position after the last record seen
    damaged = False  # damage since then: a jump in positions is records lost
    for i, segment in enumerate(run.segments):
        last = i == len(run.segments) - 1
        try:
            with spool.disk.read(str(segment.path)) as data:
                for _, kind, payload in entries(data):
                    if kind == DAMAGE:
                        if last and payload.end >= len(data):
                            log.info("spancast: %s ends in %s (a crash mid-write)", segment.path.name, payload.reason)
                            continue
                        run.corrupt += 1
                        run.damaged.add(segment.path)
                        damaged = True
                        log.warning("spancast: spool segment %s: %s at bytes %d..%d; reading goes on after it",
                                    segment.path.name, payload.reason, payload.offset, payload.end)
                        continue
                    try:
                        start, count = _read(run, segment, kind, payload, handoffs)
                    except (msgspec.DecodeError, ValueError, TypeError) as exc:  # intact bytes, unknown shape
                        run.corrupt += 1
                        run.damaged.add(segment.path)
                        damaged = True
                        log.warning("spancast: spool segment %s: an unreadable entry: %s", segment.path.name, exc)
                        continue
                    if start is None:
                        continue
                    if damaged and expected is not None and start > expected:
                        run.gaps.append((expected, start))
                    damaged = False
                    if count:
                        expected = start + count
                        if run.spans and run.spans[-1][1] == start:
                            run.spans[-1] = (run.spans[-1][0], expected)
                        else:
                            run.spans.append((start, expected))
                    elif expected is None:
                        expected = start
        except OSError as exc:
            run.unreadable.add(segment.path)
            log.error("spancast: cannot read the spool segment %s: %s; tried again later", segment.path, exc)


def _read(run: Run, segment: Segment, kind: int, payload: bytes,
          handoffs: list[tuple[str, int, int, list[str] | None]]) -> tuple[int | None, int]:
    """Learn one entry; returns (its first position, how many records) for RUN and RECORDS entries."""
    if kind == RUN:
        head = msgspec.json.decode(payload, type=RunHead)
        run.destinations = head.destinations
        for name, (low, spans) in head.progress.items():
            p = run.progress.setdefault(name, Progress())
            p.mark(0, low)
            p.mark_runs(spans)
        if head.t is not None:
            segment.t = head.t
        if head.start is not None and segment.start is None:
            segment.start = segment.end = head.start
        return head.start, 0
    if kind == RECORDS:
        head = msgspec.json.decode(payload, type=RecordsHead)
        end = head.start + len(head.records)
        if segment.start is None:
            segment.start = head.start
        segment.end = end
        if head.only is not None:  # a copy for some destinations only: the others never owed it
            for name in run.destinations:
                if name not in head.only:
                    run.progress.setdefault(name, Progress()).mark(head.start, end)
        if head.origin is not None:
            handoffs.append((head.origin[0], head.origin[1], head.origin[1] + len(head.records), head.only))
        return head.start, len(head.records)
    if kind == SETTLED:
        settled = msgspec.json.decode(payload, type=Settled)
        run.progress.setdefault(settled.d, Progress()).mark_runs(settled.runs)
    return None, 0


def _groups(entry: Records, wanted: list[str], owes: Callable[[str, int], bool]
            ) -> Iterator[tuple[int, list[Any], frozenset[str]]]:
    """The entry's records in runs that go to the same destinations: (first position, records, names)."""
    run: list[Any] = []
    current: frozenset[str] | None = None
    first = entry.start
    for offset, record in enumerate(entry.records):
        position = entry.start + offset
        dests = frozenset(n for n in wanted if owes(n, position))
        if dests != current and run:
            yield first, run, current  # type: ignore[misc]
            run, first = [], position
        current = dests
        run.append(record)
    if run:
        yield first, run, current  # type: ignore[misc]


class Replayer:
    """Re-sends what the spool owes, one task for the broadcaster's life."""

    def __init__(self, spool: Spool, inject: Inject, live: frozenset[str],
                 ready: Callable[[str], tuple[bool, bool]], handed_off: Callable[[str, int, int], None]) -> None:
        self.spool = spool
        self.inject = inject  # (records, for names, origin, redelivered) -> taken?
        self.live = live
        self.ready = ready  # (room for given-back records, healthy) of a destination
        self.handed_off = handed_off  # (name, start, end): those positions of this run are re-sent
        self.runs: list[Run] = []
        self.learned = False
        self.wake = asyncio.Event()
        self._decoder = msgspec.json.Decoder(Records)
        self._per_s = spool.settings.replay_records_per_s
        self._started, self._sent = time.monotonic(), 0
        self._next_probe: dict[str, float] = {}
        self._replayed: set[Path] = set()  # older segments re-sent whole, to delete once the copies are on disk

    # ------------------------------------------------------------ the task

    async def run(self) -> None:
        spool = self.spool
        if spool.old:
            spool.replaying = True
            try:
                await self._replay_older()
            finally:
                spool.replaying = False
        while True:
            try:
                await asyncio.wait_for(self.wake.wait(), 1.0)
            except TimeoutError:
                pass
            self.wake.clear()
            if spool.closed:
                return
            if spool.old:  # a segment unreadable before, or not deleted yet
                await self._replay_older()
            await self._redeliver()

    async def _replay_older(self) -> None:
        spool = self.spool
        loop = asyncio.get_running_loop()
        if not self.learned:
            self.runs = await loop.run_in_executor(None, learn, spool, list(spool.old))
            self.learned = True
            for run in self.runs:
                spool.counts["corrupt_entries"] += run.corrupt
                lost = sum(1 for a, b in run.gaps for p in range(a, b)
                           if any(run.owes(n, p) for n in run.destinations if n in self.live))
                spool.counts["lost_records"] += lost
                if run.gaps:
                    log.error("spancast: spool run %s: %d records lost to damage (positions %s)", run.name, lost,
                              ", ".join(f"{a}..{b}" for a, b in run.gaps[:5]))
        for run in self.runs:
            for segment in run.segments:
                if segment not in spool.old:
                    continue
                if segment.path in run.unreadable or not run.destinations:
                    run.unreadable.discard(segment.path)  # tried again on the next pass
                    continue
                if segment.path not in self._replayed and await self._replay_segment(run, segment):
                    self._replayed.add(segment.path)
                if segment.path in self._replayed and await self._durable():  # the copies first, then it goes
                    spool.forget(segment, damaged=segment.path in run.damaged)

    async def _replay_segment(self, run: Run, segment: Segment) -> bool:
        spool = self.spool
        spool.reading = segment
        try:
            with spool.disk.read(str(segment.path)) as data:
                for entry in self._records(data):
                    wanted = [n for n in (entry.only or run.destinations) if n in self.live]
                    for start, records, dests in _groups(entry, wanted, run.owes):
                        if not dests:
                            spool.counts["replay_skipped_records"] += len(records)
                            continue
                        await self._put(records, dests, (run.name, start), False)
                        for name in dests:
                            run.progress[name].mark(start, start + len(records))
                        spool.counts["replayed_records"] += len(records)
                        if segment not in spool.old:  # dropped meanwhile (overflow drop_oldest)
                            return False
        except OSError as exc:
            log.error("spancast: cannot read the spool segment %s: %s; tried again later", segment.path, exc)
            return False
        finally:
            spool.reading = None
        return True

    async def _redeliver(self) -> None:
        """Re-send this run's given-back records to the destinations that can take them now: all of them
        to a healthy one; a probe of PROBE_RECORDS to one that failed last, every PROBE_S."""
        spool = self.spool
        now = time.monotonic()
        budget: dict[str, int | None] = {}  # records each destination may get in this pass (None: all)
        for name in sorted(self.live):
            if not spool.owed_records(name):
                continue
            room, healthy = self.ready(name)
            if healthy:
                self._next_probe.pop(name, None)
            elif self._next_probe.setdefault(name, now + PROBE_S) > now:  # it just failed: not at once
                continue
            if room:
                budget[name] = None if healthy else PROBE_RECORDS
                if not healthy:
                    self._next_probe[name] = now + PROBE_S
        for segment in list(spool.segments):
            wanted = [n for n, left in budget.items() if left != 0 and spool._owed(n, segment.start, segment.end)]  # type: ignore[arg-type]
            if not wanted or segment not in spool.segments:
                continue
            if segment is spool.segments[-1] and spool.error is None:
                try:
                    spool._roll()  # read only sealed segments: the open one is rolled first
                except OSError as exc:
                    spool._fail("roll", exc)
                    return
            handed = await self._redeliver_from(segment, wanted, budget)
            if handed and await self._durable():
                for name, a, b in handed:
                    self.handed_off(name, a, b)

    async def _redeliver_from(self, segment: Segment, wanted: list[str], budget: dict[str, int | None]
                              ) -> list[tuple[str, int, int]]:
        """Inject one segment's given-back records for the destinations wanted (within their budget);
        returns what was re-sent, as (destination, start, end), to hand off once the copies are on disk."""
        spool = self.spool
        handed: list[tuple[str, int, int]] = []
        owes = lambda n, p: spool.owed[n].settled(p) and not spool.progress[n].settled(p)  # noqa: E731
        try:
            with spool.disk.read(str(segment.path)) as data:
                for entry in self._records(data):
                    names = [n for n in wanted if budget[n] != 0 and n in (entry.only or wanted)]
                    for start, records, dests in _groups(entry, names, owes):
                        dests = frozenset(n for n in dests if budget[n] != 0)
                        if not dests:
                            continue
                        records = records[: min((budget[n] or len(records) for n in dests), default=len(records))]
                        await self._put(records, dests, (spool.run, start), True)
                        handed += [(n, start, start + len(records)) for n in dests]
                        spool.counts["redelivered_records"] += len(records)
                        for n in dests:
                            if budget[n] is not None:
                                budget[n] = max(0, budget[n] - len(records))  # type: ignore[operator]
                    if all(budget[n] == 0 for n in wanted):
                        break
        except OSError as exc:
            log.error("spancast: cannot read the spool segment %s: %s; tried again later", segment.path, exc)
        return handed

    # ------------------------------------------------------------ helpers

    def _records(self, data: Any) -> Iterator[Records]:
        """A segment's RECORDS entries, decoded; one that does not decode is skipped (counted when learning)."""
        for _, kind, payload in entries(data):
            if kind != RECORDS:
                continue
            try:
                yield self._decoder.decode(payload)
            except (msgspec.DecodeError, ValueError):
                continue

    async def _put(self, records: list[Any], dests: frozenset[str], origin: tuple[str, int], redelivered: bool) -> None:
        while not self.inject(records, dests, origin, redelivered):
            await asyncio.sleep(0.005)  # behind live traffic: the intake goes first, a chunk at a time
        self._sent += len(records)
        ahead = self._sent / self._per_s - (time.monotonic() - self._started)
        if ahead > 0:
            await asyncio.sleep(ahead)
        elif ahead < -1.0:  # idle a while: no burst to catch up
            self._started, self._sent = time.monotonic(), 0

    async def _durable(self) -> bool:
        """Wait until the copies written so far are on disk; False when the disk failed meanwhile."""
        try:
            await self.spool.wait_durable(self.spool.written)
        except OSError:
            return False
        return True

    def pending_in(self, segment: Segment) -> int:
        """Records of an older segment some live destination has not got (before learning: all of them)."""
        for run in self.runs:
            if segment in run.segments and segment.start is not None:
                return max((run.pending(n, segment.start, segment.end) for n in run.destinations if n in self.live),
                           default=0)
        try:
            with self.spool.disk.read(str(segment.path)) as data:
                return sum(len(msgspec.json.decode(payload, type=RecordsHead).records)
                           for _, kind, payload in entries(data) if kind == RECORDS)
        except (OSError, msgspec.DecodeError):
            return 0

    def pending(self, name: str) -> int:
        """Older runs' records that destination has still to get (in the segments not replayed yet)."""
        return sum(run.pending(name, s.start, s.end) for run in self.runs for s in run.segments
                   if s in self.spool.old and s.start is not None)
