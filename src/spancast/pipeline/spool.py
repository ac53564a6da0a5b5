"""A crash-safe disk spool: records are written before they are sent and let go once every destination settled them.

Layout: one directory; each process start is a *run* with its own segment files, ``<run>-<seq>.seg``,
appended to and rolled at ``segment_bytes`` (entries: spool_format.py; file operations: spool_disk.py).
Positions are the run's backlog positions. A segment is deleted once every record in it is settled for
every destination (the RUN entry of the next segment carries the progress, so no settlement is
forgotten with it).

Older runs, and the records a destination of this run gave back (retries exhausted, the shutdown
deadline, its queue bound), are read back by spool_replay.py and copied into this run as they are
re-sent; each copy names its origin, so a crash during replay re-sends only what was in flight.

Space: live records are taken while the spool holds less than max_bytes; replayed copies may go over by
about the segment being replayed, whose deletion gives the space back.

Disk errors (ENOSPC, EIO, a read-only directory) never stop the loop: the spool says what failed
(``problem()``, stats, /readyz), stops taking records (they wait in memory, then the intake's policy
applies), fails the requests waiting for durability, and tries a new segment every RETRY_S until one
works. What it had written stays where it is.
"""

from __future__ import annotations

import asyncio
import errno
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import msgspec

from ..errors import ConfigError, SpoolError
from .ledger import Progress
from .spool_disk import Disk
from .spool_format import RECORDS, RUN, SETTLED, Records, entry

__all__ = ["FSYNC_POLICIES", "RETRY_S", "Segment", "Spool", "SpoolSettings"]

log = logging.getLogger("spancast.spool")

FSYNC_POLICIES = ("never", "batch", "interval")
RETRY_S = 1.0  # after a disk error, a new segment is tried this often
QUARANTINE = "quarantine"  # where damaged segments go, under the spool's directory


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


class Segment:
    """One segment file: records [start, end) of its run (learned by reading, for an older run's)."""

    __slots__ = ("end", "nbytes", "path", "run", "start", "t")

    def __init__(self, path: Path, run: str, start: int | None, nbytes: int = 0, t: float | None = None) -> None:
        self.path, self.run, self.start, self.end, self.nbytes = path, run, start, start, nbytes
        self.t = time.time() if t is None else t  # when it was opened: its oldest record is no older

    def __repr__(self) -> str:
        return f"<Segment {self.path.name} records={self.start}..{self.end} bytes={self.nbytes}>"


class Spool:
    """The spool of one broadcaster; every method runs on the broadcaster's loop thread."""

    def __init__(self, settings: SpoolSettings, destinations: list[str], disk: Disk | None = None) -> None:
        self.settings = settings
        self.dir = Path(settings.directory)
        self.destinations = destinations
        self.disk = disk or Disk()
        self.run = f"{time.time_ns():016x}"
        self.old: list[Segment] = []  # older runs' segments, oldest first: they count until replayed
        for name in sorted(self.disk.listdir(str(self.dir))):
            if name.endswith(".seg") and not name.startswith(self.run):
                path = self.dir / name
                stat = path.stat()
                self.old.append(Segment(path, name.split("-", 1)[0], None, stat.st_size, stat.st_mtime))
        self.segments: list[Segment] = []  # this run's; the last one is open while the spool is healthy
        self.progress = {name: Progress() for name in destinations}  # settled positions per destination
        self.owed = {name: Progress() for name in destinations}  # positions given back, to re-send
        self._bytes = sum(s.nbytes for s in self.old)
        self._fd: int | None = None
        self._seq = 0
        self.written = 0  # position after the last record written
        self.durable = 0  # position after the last record known to be on disk (per the fsync policy)
        self._syncing: int | None = None  # the descriptor an fsync is running on, off the loop
        self._close_after_sync = False
        self._waiters: list[tuple[int, asyncio.Future[None]]] = []
        self.loop: asyncio.AbstractEventLoop | None = None
        self.closed = False
        self.error: SpoolError | None = None  # set while the spool cannot write
        self._retry: asyncio.TimerHandle | None = None
        self.on_change: Callable[[], None] | None = None  # told when it can take records again
        self.replaying = False
        self.reading: Segment | None = None  # the segment the replay reads now: drop_oldest leaves it be
        self.counts = {"written_records": 0, "replayed_records": 0, "redelivered_records": 0,
                       "replay_skipped_records": 0, "corrupt_entries": 0, "lost_records": 0,
                       "quarantined_segments": 0, "dropped_records": 0, "disk_errors": 0, "unspooled_records": 0}

    # ------------------------------------------------------------ writing

    def open(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.disk.mkdir(str(self.dir))
        self._open_segment()
        if self.settings.fsync == "interval":
            loop.call_later(self.settings.fsync_interval_s, self._on_interval)

    def _open_segment(self) -> None:
        """Start the next segment (its RUN entry carries what every destination settled so far)."""
        self._seq += 1
        path = self.dir / f"{self.run}-{self._seq:08d}.seg"
        fd = self.disk.open_append(str(path))
        segment = Segment(path, self.run, self.written)
        snapshot = {name: [p.low, [list(r) for r in p.spans()]] for name, p in self.progress.items()}
        head = entry(RUN, msgspec.json.encode({"run": self.run, "destinations": self.destinations,
                                               "progress": snapshot, "start": self.written, "t": segment.t}))
        try:
            self.disk.write(fd, head)
            if self.settings.fsync != "never":
                self.disk.fsync_dir(str(self.dir))  # the new file itself survives a power cut
        except OSError:
            self._close(fd)
            self._unlink(path)
            raise
        segment.nbytes = len(head)
        self._bytes += len(head)
        self.segments.append(segment)
        self._fd = fd

    def _roll(self) -> None:
        fd = self._fd
        # The segment being closed is synced here (a roll comes once per segment_bytes): an fsync
        # still in flight on its descriptor would otherwise be lost with it.
        if self.settings.fsync != "never":
            self.disk.fsync(fd)  # type: ignore[arg-type]
        self._fd = None
        self._close(fd)  # type: ignore[arg-type]
        self._set_durable(self.written)
        self._open_segment()

    def _close(self, fd: int) -> None:
        if fd == self._syncing:
            self._close_after_sync = True  # the fsync running on it closes it when done
            return
        try:
            self.disk.close(fd)
        except OSError:
            pass  # nothing is buffered here: a failed close loses nothing

    def _write(self, kind: int, payload: bytes) -> None:
        data = entry(kind, payload)
        segment = self.segments[-1]
        try:
            self.disk.write(self._fd, data)  # type: ignore[arg-type]
        except OSError:
            try:  # cut the half-written entry off; if even that fails, readers resynchronise past it
                self.disk.truncate(self._fd, segment.nbytes)  # type: ignore[arg-type]
            except OSError:
                pass
            raise
        segment.nbytes += len(data)
        self._bytes += len(data)

    @property
    def nbytes(self) -> int:
        return self._bytes

    def room(self) -> int:
        """Bytes live records may still take (replayed copies may go over: they replace what they copy)."""
        return self.settings.max_bytes - self._bytes

    def full(self) -> bool:
        return self._bytes >= self.settings.max_bytes

    def append(self, start: int, records: list[Any], only: frozenset[str] | None = None,
               origin: tuple[str, int] | None = None) -> bool:
        """Write a chunk the drain took (positions start..); False when the disk refused it (nothing of it
        is kept then, and the spool is failed until a new segment works). It is on disk once durable
        passes it."""
        if self.error is not None or self._fd is None:
            return False
        body = msgspec.json.encode(Records(start, sorted(only) if only is not None else None, records, origin))
        try:
            if self.segments[-1].nbytes >= self.settings.segment_bytes:
                self._roll()
            self._write(RECORDS, body)
        except OSError as exc:
            self._fail("write", exc)
            return False
        self.written = start + len(records)
        self.segments[-1].end = self.written
        self.counts["written_records"] += len(records)
        if self.settings.fsync == "never":
            self._set_durable(self.written)  # in the OS: a killed process loses nothing it answered for
        elif self.settings.fsync == "batch" and self._syncing is None:
            self._sync()
        return True

    def _sync(self) -> None:
        assert self.loop is not None and self._fd is not None
        fd, target = self._fd, self.written
        self._syncing = fd
        future = self.loop.run_in_executor(None, self.disk.fsync, fd)
        future.add_done_callback(lambda f: self._synced(f, fd, target))

    def _synced(self, future: asyncio.Future[None], fd: int, target: int) -> None:
        self._syncing = None
        if self._close_after_sync:
            self._close_after_sync = False
            self._close(fd)
        exc = future.exception()
        if exc is None:
            self._set_durable(target)
        elif fd == self._fd:  # a segment rolled meanwhile was synced by the roll itself
            self._fail("fsync", exc)  # type: ignore[arg-type]
        if self._fd is not None and self.written > self.durable and self.settings.fsync == "batch":
            self._sync()

    def _on_interval(self) -> None:
        if self.closed:
            return
        if self._fd is not None and self.written > self.durable and self._syncing is None:
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
        """Return once every record before position is on disk (per the fsync policy); SpoolError when
        the disk fails first."""
        if position <= self.durable or self.loop is None:
            return
        if self.error is not None:
            raise self.error
        future = self.loop.create_future()
        self._waiters.append((position, future))
        await future

    # ------------------------------------------------------------ disk errors

    def _fail(self, op: str, exc: OSError) -> None:
        """A write, fsync or new segment failed: stop writing, say so, and try again later."""
        self.counts["disk_errors"] += 1
        name = errno.errorcode.get(exc.errno or 0, "")
        where = self.segments[-1].path if self.segments else self.dir
        reason = f"spool: cannot {op} {where}: {exc.strerror or exc}{f' ({name})' if name else ''}"
        if self.error is None:
            log.error("spancast: %s; records wait in memory, retrying every %gs", reason, RETRY_S)
        self.error = SpoolError(reason)
        if self._fd is not None:
            fd, self._fd = self._fd, None
            self._close(fd)  # that segment is sealed: it is released like any other once settled
        waiters, self._waiters = self._waiters, []
        for _, future in waiters:
            if not future.done():
                future.set_exception(self.error)
        if self._retry is None and self.loop is not None and not self.closed:
            self._retry = self.loop.call_later(RETRY_S, self._recover)

    def _recover(self) -> None:
        self._retry = None
        if self.closed:
            return
        try:
            self._open_segment()
        except OSError as exc:
            self.counts["disk_errors"] += 1
            self.error = SpoolError(f"{self.error.reason.split(': ', 1)[0] if self.error else 'spool'}: cannot "
                                    f"open a new segment in {self.dir}: {exc.strerror or exc}"
                                    f"{f' ({errno.errorcode.get(exc.errno or 0)})' if exc.errno else ''}")
            self._retry = self.loop.call_later(RETRY_S, self._recover)  # type: ignore[union-attr]
            return
        log.warning("spancast: the spool writes again (%s)", self.segments[-1].path.name)
        self.error = None
        if self.on_change is not None:
            self.on_change()

    def problem(self) -> str | None:
        """Why the spool cannot take records now, or None when it can."""
        if self.error is not None:
            return self.error.reason
        if self.full():
            return (f"spool full: {self._bytes / 2**20:.1f} of {self.settings.max_bytes / 2**20:.1f} MiB; "
                    f"records are taken again as destinations settle older ones")
        return None

    # ------------------------------------------------------------ settling and letting go

    def settled(self, name: str, spans: list[tuple[int, int]]) -> None:
        progress = self.progress.get(name)
        if progress is None:
            return
        progress.mark_runs(spans)
        if self._fd is None:
            return  # failed: the next segment's RUN entry carries it
        try:
            self._write(SETTLED, msgspec.json.encode({"d": name, "runs": spans}))
        except OSError as exc:
            self._fail("write", exc)

    def give_back(self, name: str, spans: list[tuple[int, int]]) -> int:
        """A destination gave these positions back undelivered (retries exhausted, a deadline, its queue
        bound): they are re-sent from here. Returns how many of them the spool no longer holds (deleted
        under overflow = drop_oldest): those are lost."""
        owed = self.owed.get(name)
        if owed is None:
            return sum(b - a for a, b in spans)
        floor = self.segments[0].start if self.segments else self.written
        gone = 0
        for a, b in spans:
            if a < floor:
                gone += min(b, floor) - a
                self.progress[name].mark(a, min(b, floor))
                a = min(b, floor)
            owed.mark(a, b)
        return gone

    def release(self, low: int) -> None:
        """Delete the segments (but the open one) whose records are all settled everywhere."""
        sealed = len(self.segments) - (self._fd is not None)
        while sealed > 0 and self.segments[0].end <= low:
            if not self._unlink(self.segments[0].path):
                return
            self._bytes -= self.segments.pop(0).nbytes
            sealed -= 1

    def forget(self, segment: Segment, damaged: bool = False) -> None:
        """An older segment is replayed: delete it, or move it to the quarantine directory when damaged."""
        if damaged:
            target = self.dir / QUARANTINE / segment.path.name
            try:
                self.disk.mkdir(str(target.parent))
                self.disk.rename(str(segment.path), str(target))
            except OSError as exc:
                log.error("spancast: cannot move the damaged segment %s to %s: %s; it is kept where it is",
                          segment.path, target.parent, exc)
                return
            self.counts["quarantined_segments"] += 1
            log.warning("spancast: the damaged spool segment %s is kept in %s for inspection", segment.path.name,
                        target.parent)
        elif not self._unlink(segment.path):
            return
        if segment in self.old:
            self.old.remove(segment)
            self._bytes -= segment.nbytes

    def _unlink(self, path: Path) -> bool:
        try:
            self.disk.unlink(str(path))
        except OSError as exc:
            self.counts["disk_errors"] += 1
            log.error("spancast: cannot delete the spool segment %s: %s; tried again later", path, exc)
            return False
        return True

    def drop_oldest(self, pending: Callable[[Segment], int] | None = None) -> tuple[int, int, dict[str, int]] | None:
        """Delete the oldest segment to make room (overflow drop_oldest), counting in dropped_records the
        records some destination had not got (pending(segment) counts them for an older run's). For one of
        this run's: (start, end, {destination: given-back records it held}), which are lost now; else None."""
        old = next((s for s in self.old if s is not self.reading), None)
        if old is not None:
            lost = pending(old) if pending is not None else 0
            self.forget(old)
            self._count_dropped(lost)
            return None
        if len(self.segments) - (self._fd is not None) < 1:  # the open segment alone fills the spool
            if self._fd is None or self.segments[-1].end == self.segments[-1].start:
                return None
            try:
                self._roll()  # it becomes the oldest
            except OSError as exc:
                self._fail("roll", exc)
                return None
        segment = self.segments[0]
        if not self._unlink(segment.path):
            return None
        self.segments.pop(0)
        self._bytes -= segment.nbytes
        a, b = segment.start, segment.end
        self._count_dropped(max((b - a - p.count(a, b) for p in self.progress.values()), default=0))  # type: ignore[operator]
        owed = {name: self._owed(name, a, b) for name in self.owed}  # type: ignore[arg-type]
        return a, b, {name: n for name, n in owed.items() if n}  # type: ignore[return-value]

    def _count_dropped(self, records: int) -> None:
        self.counts["dropped_records"] += records
        log.warning("spancast: the spool is full: dropped its oldest segment, %d records not delivered everywhere",
                    records)

    def close(self) -> None:
        """Sync and close; delete this run's segments too when everything in them is settled. Never raises:
        a disk error here is logged and counted (what is on disk stays for the next start)."""
        self.closed = True
        if self._retry is not None:
            self._retry.cancel()
            self._retry = None
        if self._fd is not None:
            fd, self._fd = self._fd, None
            try:
                self.disk.fsync(fd)
                self._set_durable(self.written)
            except OSError as exc:
                self.counts["disk_errors"] += 1
                log.error("spancast: cannot sync the spool at exit: %s", exc)
            self._close(fd)
        low = min((p.low for p in self.progress.values()), default=self.written)
        if low >= self.written and not self.old:
            for segment in self.segments:
                self._unlink(segment.path)
            self.segments = []

    # ------------------------------------------------------------ reporting

    def owed_records(self, name: str) -> int:
        """Records this run holds that destination still has to get (given back, not yet re-sent)."""
        return self._owed(name, 0, self.written)

    def _owed(self, name: str, start: int, end: int) -> int:
        owed, progress = self.owed.get(name), self.progress.get(name)
        if owed is None or progress is None:
            return 0
        total = 0
        for a, b in _spans_of(owed):
            a, b = max(a, start), min(b, end)
            if a < b:
                total += b - a - progress.count(a, b)
        return total

    def oldest_age_s(self) -> float:
        times = [s.t for s in self.old[:1] + self.segments[:1]]
        return max(0.0, time.time() - min(times)) if times else 0.0

    def stats(self) -> dict[str, Any]:
        return {"directory": str(self.dir), "bytes": self._bytes, "max_bytes": self.settings.max_bytes,
                "segments": len(self.segments) + len(self.old), "old_segments": len(self.old),
                "replay_pending_bytes": sum(s.nbytes for s in self.old), "oldest_age_s": self.oldest_age_s(),
                "written_position": self.written, "durable_position": self.durable, "replaying": self.replaying,
                "error": self.error.reason if self.error is not None else None, **self.counts}

    def __repr__(self) -> str:
        state = f" error={self.error.reason!r}" if self.error is not None else ""
        return (f"<Spool {self.dir} run={self.run} segments={len(self.segments)}+{len(self.old)} old "
                f"bytes={self._bytes}/{self.settings.max_bytes} durable={self.durable}/{self.written} "
                f"fsync={self.settings.fsync}{state}>")


def _spans_of(progress: Progress) -> list[tuple[int, int]]:
    """A Progress used as a set of positions: its spans, [0, low) included."""
    head = [(0, progress.low)] if progress.low else []
    return head + progress.spans()


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
        raise SpoolError(f"a file is in the way: {existing} is not a directory", path=str(path))
    if not create:
        if not os.access(existing, os.W_OK | os.X_OK):
            verb = "write in it" if existing == path else f"create it in {existing}"
            raise SpoolError(f"cannot {verb}: permission denied or a read-only file system", path=str(path))
        return
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / f".spancast-probe-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as exc:
        verb = "write in it" if existing == path else "create it"
        raise SpoolError(f"cannot {verb}: {exc.strerror or exc}", path=str(path)) from None
