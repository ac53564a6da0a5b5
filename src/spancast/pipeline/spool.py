"""A crash-safe disk spool: records are written before they are sent and let go once every destination settled them.

Layout: one directory; each process start is a *run* with its own segment files,
``<run>-<seq>.seg``, appended to and rolled at ``segment_bytes``. An entry is::

    u32 length | u32 crc32(kind + payload) | u8 kind | payload (msgspec JSON)

    kind 1 RUN       {"run", "destinations", "progress": {name: [low, [[a, b], ...]]}}: first in every segment
    kind 2 RECORDS   {"start": position, "only": [names] | null, "records": [...]}: one drain chunk
    kind 3 SETTLED   {"d": name, "runs": [[a, b], ...]}: positions that destination settled

Positions are the run's backlog positions. A segment is deleted once every record in it is settled
for every destination (the RUN entry of the next segment carries the progress, so no settlement
is forgotten with it). On start, older runs are read twice: first their RUN and SETTLED entries (to
learn what each destination settled), then their RECORDS, streamed, each record re-injected for the
destinations that had not settled it, at most ``replay_records_per_s`` and only while the intake
is empty, so replay never starves live traffic. A replayed record is written again in the new run
before the old segment is deleted. A torn or corrupt entry ends its segment's reading: counted,
never a crash loop.
"""

from __future__ import annotations

import asyncio
import logging
import os
import struct
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ConfigError, SpoolError
from ..record import Generation
from .ledger import Progress

__all__ = ["Spool", "SpoolSettings", "FSYNC_POLICIES"]

log = logging.getLogger("spancast.spool")

FSYNC_POLICIES = ("never", "batch", "interval")
_HEADER = struct.Struct("<IIB")
RUN, RECORDS, SETTLED = 1, 2, 3
_MAX_ENTRY_BYTES = 1 << 30  # a length beyond this is corruption, not an entry


@dataclass(frozen=True, slots=True)
class SpoolSettings:
    directory: str
    max_bytes: int = 1024 * 1024 * 1024
    segment_bytes: int = 16 * 1024 * 1024
    fsync: str = "batch"  # never | batch (each drain chunk, off the loop) | interval
    fsync_interval_s: float = 1.0
    replay_records_per_s: float = 20_000.0

    def __post_init__(self) -> None:
        if self.fsync not in FSYNC_POLICIES:
            raise ConfigError("spool.fsync", f"expected one of {', '.join(FSYNC_POLICIES)}, got {self.fsync!r}")
        for name in ("max_bytes", "segment_bytes", "fsync_interval_s", "replay_records_per_s"):
            if not getattr(self, name) > 0:
                raise ConfigError(f"spool.{name}", f"must be > 0, got {getattr(self, name)}")
        if self.segment_bytes > self.max_bytes:
            raise ConfigError("spool.segment_bytes", "must not exceed max_bytes")


class _Records(msgspec.Struct):
    start: int
    only: list[str] | None
    records: list[Generation]


class _Count(msgspec.Struct):
    records: list[msgspec.Raw]


class _Segment:
    __slots__ = ("path", "start", "end", "nbytes")

    def __init__(self, path: Path, start: int) -> None:
        self.path, self.start, self.end, self.nbytes = path, start, start, 0  # records [start, end)


def read_entries(path: Path) -> Iterator[tuple[int, bytes]]:
    """(kind, payload) of each whole, intact entry; stops at the first torn or corrupt one."""
    with open(path, "rb") as f:
        while True:
            header = f.read(_HEADER.size)
            if not header:
                return
            if len(header) < _HEADER.size:
                raise _Torn(path, "a torn entry header")
            length, crc, kind = _HEADER.unpack(header)
            if length > _MAX_ENTRY_BYTES:
                raise _Torn(path, f"an entry length of {length}")
            payload = f.read(length)
            if len(payload) < length:
                raise _Torn(path, "a torn entry")
            if zlib.crc32(payload, zlib.crc32(bytes((kind,)))) != crc:
                raise _Torn(path, "a CRC mismatch")
            yield kind, payload


class _Torn(Exception):
    def __init__(self, path: Path, what: str) -> None:
        super().__init__(f"{path.name}: {what}")


class Spool:
    """The spool of one broadcaster; every method runs on the broadcaster's loop thread."""

    def __init__(self, settings: SpoolSettings, destinations: list[str]) -> None:
        self.settings = settings
        self.dir = Path(settings.directory)
        self.destinations = destinations
        self.run = f"{time.time_ns():x}"
        # Older runs' segments, oldest first, with their sizes (they count against max_bytes until replayed).
        self.old = {p: p.stat().st_size for p in sorted(self._segments()) if not p.name.startswith(self.run)}
        self.segments: list[_Segment] = []
        self.progress = {name: Progress() for name in destinations}
        self._file: Any = None
        self._seq = 0
        self.written = 0  # position after the last record written
        self.durable = 0  # position after the last record known to be on disk (per the fsync policy)
        self._syncing = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.replaying = False
        self.counts = {"written_records": 0, "replayed_records": 0, "replay_skipped_records": 0,
                       "corrupt_entries": 0, "dropped_records": 0}

    def _segments(self) -> list[Path]:
        return list(self.dir.glob("*.seg")) if self.dir.exists() else []

    # ------------------------------------------------------------ writing

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.dir.mkdir(parents=True, exist_ok=True)
        self._roll()
        if self.settings.fsync == "interval":
            loop.call_later(self.settings.fsync_interval_s, self._on_interval)

    def _roll(self) -> None:
        if self._file is not None:
            # The segment being closed is synced here (a roll comes once per segment_bytes): an fsync
            # still in flight on its descriptor would otherwise be lost with it.
            self._file.flush()
            if self.settings.fsync != "never":
                os.fsync(self._file.fileno())
            self._file.close()
            self._set_durable(self.written)
        self._seq += 1
        path = self.dir / f"{self.run}-{self._seq:08d}.seg"
        self._file = open(path, "ab", buffering=1 << 20)  # noqa: SIM115 - kept open while current
        self.segments.append(_Segment(path, self.written))
        snapshot = {name: [p.low, [list(r) for r in p.spans()]] for name, p in self.progress.items()}
        self._write(RUN, msgspec.json.encode({"run": self.run, "destinations": self.destinations, "progress": snapshot}))

    def _write(self, kind: int, payload: bytes) -> None:
        header = _HEADER.pack(len(payload), zlib.crc32(payload, zlib.crc32(bytes((kind,)))), kind)
        self._file.write(header)
        self._file.write(payload)
        self.segments[-1].nbytes += len(header) + len(payload)

    @property
    def nbytes(self) -> int:
        return sum(s.nbytes for s in self.segments) + sum(self.old.values())

    def full(self) -> bool:
        return self.nbytes >= self.settings.max_bytes

    def append(self, start: int, records: list[Any], only: frozenset[str] | None = None) -> None:
        """Write a chunk the drain took (positions start..); it is on disk once durable passes it."""
        if self.segments[-1].nbytes >= self.settings.segment_bytes:
            self._roll()
        body = msgspec.json.encode(_Records(start, sorted(only) if only is not None else None, records))
        self._write(RECORDS, body)
        self.written = start + len(records)
        self.segments[-1].end = self.written
        self.counts["written_records"] += len(records)
        self._file.flush()  # to the OS: a killed process loses nothing it answered for
        if self.settings.fsync == "never":
            self._set_durable(self.written)
        elif self.settings.fsync == "batch" and not self._syncing:
            self._sync()

    def _sync(self) -> None:
        assert self.loop is not None
        self._syncing = True
        target, file = self.written, self._file
        future = self.loop.run_in_executor(None, os.fsync, file.fileno())

        def done(f: asyncio.Future[None]) -> None:
            self._syncing = False
            if f.exception() is None:
                self._set_durable(target)
            elif file is self._file:  # not a segment rolled or closed meanwhile: those synced themselves
                log.error("spancast: fsync of the spool failed: %s", f.exception())
            if self.written > self.durable and self.settings.fsync == "batch" and self._file is not None:
                self._sync()

        future.add_done_callback(done)

    def _on_interval(self) -> None:
        if self._file is None:
            return
        if self.written > self.durable and not self._syncing:
            self._sync()
        self.loop.call_later(self.settings.fsync_interval_s, self._on_interval)  # type: ignore[union-attr]

    def _set_durable(self, position: int) -> None:
        self.durable = max(self.durable, position)
        still = []
        for target, future in self._waiters:
            if target <= self.durable:
                if not future.done():
                    future.set_result(None)
            else:
                still.append((target, future))
        self._waiters = still

    async def wait_durable(self, position: int) -> None:
        """Return once every record before position is on disk (per the fsync policy)."""
        if position <= self.durable or self.loop is None:
            return
        future = self.loop.create_future()
        self._waiters.append((position, future))
        await future

    def settled(self, name: str, spans: list[tuple[int, int]]) -> None:
        progress = self.progress.get(name)
        if progress is None or self._file is None:
            return
        progress.mark_runs(spans)
        self._write(SETTLED, msgspec.json.encode({"d": name, "runs": spans}))
        self._file.flush()  # a settlement a killed process forgets is a duplicate after the restart

    def release(self, low: int) -> None:
        """Delete the segments (but the current one) whose records are all settled everywhere."""
        while len(self.segments) > 1 and self.segments[0].end <= low:
            segment = self.segments.pop(0)
            _unlink(segment.path)

    def drop_oldest(self) -> int:
        """Delete the oldest segment to make room (overflow drop_oldest); returns how many records it
        held that some destination had not settled (all of them, for an older run's segment)."""
        if len(self.segments) == 1 and not self.old and self.segments[0].end > self.segments[0].start:
            self._roll()  # the current segment alone fills the spool: it becomes the oldest
        if self.old:
            path = next(iter(self.old))
            del self.old[path]
            lost = _count_records(path)
        elif len(self.segments) > 1:
            segment = self.segments.pop(0)
            path = segment.path
            low = min((p.low for p in self.progress.values()), default=segment.end)
            lost = max(0, segment.end - max(low, segment.start))
        else:
            return 0
        _unlink(path)
        self.counts["dropped_records"] += lost
        log.warning("spancast: the spool is full: dropped its oldest segment, %d records not delivered everywhere", lost)
        return lost

    def close(self) -> None:
        """Flush and sync; delete the current segment too when everything in it is settled."""
        if self._file is None:
            return
        self._file.flush()
        os.fsync(self._file.fileno())
        self._file.close()
        self._file = None
        self._set_durable(self.written)
        low = min((p.low for p in self.progress.values()), default=self.written)
        if low >= self.written and not self.old:
            for segment in self.segments:
                _unlink(segment.path)
            self.segments = []

    # ------------------------------------------------------------ replay

    def pending_runs(self) -> dict[str, list[Path]]:
        runs: dict[str, list[Path]] = {}
        for path in self.old:
            runs.setdefault(path.name.split("-", 1)[0], []).append(path)
        return runs

    def _learn(self, paths: list[Path]) -> tuple[list[str], dict[str, Progress]]:
        """First pass over an older run: its destinations and what each settled (records skipped)."""
        names: list[str] = []
        progress: dict[str, Progress] = {}
        for path in paths:
            try:
                for kind, payload in read_entries(path):
                    if kind == RUN:
                        head = msgspec.json.decode(payload)
                        names = head["destinations"]
                        for name, (low, spans) in head["progress"].items():
                            p = progress.setdefault(name, Progress())
                            p.mark(0, low)
                            p.mark_runs(tuple(s) for s in spans)
                    elif kind == SETTLED:
                        entry = msgspec.json.decode(payload)
                        progress.setdefault(entry["d"], Progress()).mark_runs(tuple(s) for s in entry["runs"])
            except (_Torn, OSError, msgspec.DecodeError) as exc:
                self.counts["corrupt_entries"] += 1
                log.warning("spancast: spool segment cut short, the rest is skipped: %s", exc)
        return names, progress

    async def replay(self, inject: Callable[[list[Any], frozenset[str]], bool], live: frozenset[str]) -> None:
        """Re-inject older runs' unsettled records through inject(records, for_names) (which says False
        while the pipeline has no room), rate-limited, then delete their segments."""
        self.replaying = True
        decoder = msgspec.json.Decoder(_Records)
        per_s = self.settings.replay_records_per_s
        started, sent = time.monotonic(), 0
        try:
            for paths in self.pending_runs().values():
                names, progress = self._learn(paths)
                for path in paths:
                    try:
                        for kind, payload in read_entries(path):
                            if kind != RECORDS:
                                continue
                            entry = decoder.decode(payload)
                            wanted = [n for n in (entry.only or names) if n in live]
                            for records, dests in _groups(entry, wanted, progress):
                                if not dests:
                                    self.counts["replay_skipped_records"] += len(records)
                                    continue
                                while not inject(records, dests):
                                    await asyncio.sleep(0.005)  # behind live traffic: the intake goes first
                                sent += len(records)
                                self.counts["replayed_records"] += len(records)
                                ahead = sent / per_s - (time.monotonic() - started)
                                if ahead > 0:
                                    await asyncio.sleep(ahead)
                    except (_Torn, OSError, msgspec.DecodeError) as exc:
                        self.counts["corrupt_entries"] += 1
                        log.warning("spancast: spool segment cut short, the rest is skipped: %s", exc)
                    await self.wait_durable(self.written)  # the new copies first, then the old file goes
                    _unlink(path)
                    self.old.pop(path, None)
        finally:
            self.replaying = False

    def stats(self) -> dict[str, Any]:
        return {"directory": str(self.dir), "bytes": self.nbytes, "max_bytes": self.settings.max_bytes,
                "segments": len(self.segments) + len(self.old), "written_position": self.written,
                "durable_position": self.durable, "replaying": self.replaying, **self.counts}

    def __repr__(self) -> str:
        return (f"<Spool {self.dir} run={self.run} segments={len(self.segments)}+{len(self.old)} old "
                f"bytes={self.nbytes} durable={self.durable}/{self.written} fsync={self.settings.fsync}>")


def _groups(entry: _Records, wanted: list[str], progress: dict[str, Progress]
            ) -> Iterator[tuple[list[Generation], frozenset[str]]]:
    """The entry's records in runs that go to the same destinations (those that had not settled them)."""
    run: list[Generation] = []
    current: frozenset[str] | None = None
    for offset, record in enumerate(entry.records):
        position = entry.start + offset
        dests = frozenset(n for n in wanted if not (n in progress and progress[n].settled(position)))
        if dests != current and run:
            yield run, current  # type: ignore[misc]
            run = []
        current = dests
        run.append(record)
    if run:
        yield run, current  # type: ignore[misc]


def _count_records(path: Path) -> int:
    count = 0
    try:
        for kind, payload in read_entries(path):
            if kind == RECORDS:
                count += len(msgspec.json.decode(payload, type=_Count).records)
    except (_Torn, OSError, msgspec.DecodeError):
        pass
    return count


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        pass


def check_directory(directory: str | Path, create: bool = True) -> None:
    """Raise SpoolError when the spool cannot live in directory: a file is in the way, it cannot be created,
    or nothing can be written in it. Run before anything is accepted, so that a spool that cannot work
    is reported as what it is, not found at the first record. create=False (spancast check) leaves the
    disk as it is and checks that the directory, or the nearest parent that exists, is writable."""
    path = Path(directory)
    existing = path
    while not existing.exists() and existing.parent != existing:
        existing = existing.parent
    if not existing.is_dir():
        raise SpoolError(str(path), f"a file is in the way: {existing} is not a directory")
    if not create:
        if not os.access(existing, os.W_OK | os.X_OK):
            verb = "write in it" if existing == path else f"create it in {existing}"
            raise SpoolError(str(path), f"cannot {verb}: permission denied or a read-only file system")
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".spancast-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        verb = "write in it" if existing == path else "create it"
        raise SpoolError(str(path), f"cannot {verb}: {exc.strerror or exc}") from None
