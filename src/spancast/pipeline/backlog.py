"""The backlog: records taken from the intake that some lane has not encoded yet, held once for all lanes.

Each lane reads it at its own cursor and encodes only as far ahead as its sender can use, so a burst
waits here as records (held once, whatever the number of destinations) rather than as an encoded
body per destination. A chunk leaves when every lane has read past it. A lane that falls too far
behind moves its cursor forward and counts what it skipped, so it never holds the others' memory.
"""

from __future__ import annotations

import heapq
from collections import deque
from dataclasses import dataclass
from typing import Any

from ..codec import record_bytes

__all__ = ["Backlog", "Chunk", "SizeEstimate"]


class SizeEstimate:
    """Estimated bytes per record, from a sample of the records that pass (sizing one walks all its
    text and containers, about a microsecond on cold memory: too much for every record).

    The estimate is the mean of the last WINDOW sampled sizes but the TRIM largest (until SEEDS samples
    are in, the initial guess stands in for the missing ones): a run of big records moves it at once
    (memory must follow them), one huge record among small ones does not (it would cut the intake's
    capacity to a few records for a long while)."""

    __slots__ = ("_next", "_ring", "every", "initial", "record_bytes")
    WINDOW = 256
    TRIM = 2
    SEEDS = 8

    def __init__(self, every: int = 16, initial: float = 4096.0) -> None:
        self.every = every  # size one record in this many
        self.initial = float(initial)
        self._ring: list[float] = []  # the last WINDOW sampled sizes; _next is the oldest once it is full
        self._next = 0
        self.record_bytes = self.initial

    def chunk_bytes(self, records: list[Any]) -> int:
        """Estimated bytes of a chunk of records (from its own sample); updates the running estimate."""
        if not records:
            return 0
        sizes = list(map(record_bytes, records[:: self.every]))
        ring, window = self._ring, self.WINDOW
        for size in sizes:
            if len(ring) < window:
                ring.append(float(size))
            else:
                ring[self._next] = float(size)
                self._next = (self._next + 1) % window
        seeds = max(0, self.SEEDS - len(ring))
        values = ring + [self.initial] * seeds if seeds else ring
        trimmed = sum(values) - sum(heapq.nlargest(self.TRIM, values))
        self.record_bytes = max(trimmed / (len(values) - self.TRIM), 1.0)
        return int(sum(sizes) / len(sizes) * len(records))

    def __repr__(self) -> str:
        return f"<SizeEstimate ~{self.record_bytes:.0f} B/record, sampling 1 in {self.every}>"


@dataclass(slots=True)
class Chunk:
    start: int  # the position of its first record in the stream of all records taken
    records: list[Any]
    nbytes: int  # estimated, of all its records
    taken_at: float  # loop time
    only: frozenset[str] | None = None  # the lanes it is for (replayed records); None: every lane

    @property
    def end(self) -> int:
        return self.start + len(self.records)


class Backlog:
    """Chunks of records in arrival order; positions are absolute, so cursors stay valid as chunks leave."""

    __slots__ = ("_chunks", "cursors", "end", "masked", "nbytes", "start")

    def __init__(self) -> None:
        self._chunks: deque[Chunk] = deque()
        self.start = 0  # the position of the first record still held
        self.end = 0  # the position after the last record taken
        self.nbytes = 0
        self.cursors: list[Any] = []  # the readers (lanes): anything with a .cursor position
        self.masked = 0  # chunks held that are for some lanes only (replayed records)

    def append(self, records: list[Any], nbytes: int, now: float, only: frozenset[str] | None = None) -> None:
        if records:
            self._chunks.append(Chunk(self.end, records, nbytes, now, only))
            self.masked += only is not None
            self.end += len(records)
            self.nbytes += nbytes

    def read_for(self, cursor: int, limit: int) -> tuple[list[Any], frozenset[str] | None]:
        """read(), and the lanes the records are for (None: all)."""
        for chunk in self._chunks:
            if chunk.end > cursor:
                offset = max(cursor - chunk.start, 0)
                return chunk.records[offset : offset + limit], chunk.only
        return [], None

    def not_for(self, name: str, cursor: int) -> int:
        """Records from position cursor on that are not for the lane called name (replayed for others)."""
        if not self.masked:
            return 0
        return sum(chunk.end - max(cursor, chunk.start) for chunk in self._chunks
                   if chunk.only is not None and name not in chunk.only and chunk.end > cursor)

    def split_for(self, name: str, start: int, end: int) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
        """Positions [start, end) as runs for the lane called name, and runs for other lanes only (replayed)."""
        mine: list[tuple[int, int]] = []
        others: list[tuple[int, int]] = []
        for chunk in self._chunks:
            a, b = max(start, chunk.start), min(end, chunk.end)
            if a >= b:
                continue
            out = others if chunk.only is not None and name not in chunk.only else mine
            if out and out[-1][1] == a:
                out[-1] = (out[-1][0], b)
            else:
                out.append((a, b))
        return mine, others

    def read(self, cursor: int, limit: int) -> list[Any]:
        """Up to limit records from position cursor on (fewer when the backlog ends or a chunk does)."""
        for chunk in self._chunks:
            if chunk.end > cursor:
                offset = max(cursor - chunk.start, 0)
                return chunk.records[offset : offset + limit]
        return []

    def bytes_from(self, cursor: int) -> int:
        """Estimated bytes of the records from position cursor on (whole chunks pro rata)."""
        total = 0
        for chunk in reversed(self._chunks):
            if chunk.end <= cursor:
                break
            held = chunk.end - max(cursor, chunk.start)
            total += chunk.nbytes if held == len(chunk.records) else chunk.nbytes * held // len(chunk.records)
        return total

    def advance(self, cursor: int, nbytes: int) -> int:
        """The nearest position after cursor such that the records in between hold at least nbytes
        (estimated, pro rata within a chunk); the end when the whole rest holds less."""
        for chunk in self._chunks:
            if chunk.end <= cursor:
                continue
            first = max(cursor, chunk.start)
            held = chunk.nbytes * (chunk.end - first) // len(chunk.records)
            if held >= nbytes:
                per_record = max(chunk.nbytes // len(chunk.records), 1)
                return min(first + -(-nbytes // per_record), chunk.end)
            nbytes -= held
        return self.end

    def taken_at(self, cursor: int) -> float | None:
        """When the record at position cursor was taken from the intake, or None past the end."""
        for chunk in self._chunks:
            if chunk.end > cursor:
                return chunk.taken_at
        return None

    def trim(self) -> None:
        """Let go of the records every reader has passed (a chunk read halfway by the slowest reader is
        cut, so that a lane skipping records frees their memory at once)."""
        low = min((reader.cursor for reader in self.cursors), default=self.end)
        chunks = self._chunks
        while chunks and chunks[0].end <= low:
            chunk = chunks.popleft()
            self.nbytes -= chunk.nbytes
            self.masked -= chunk.only is not None
        if chunks and chunks[0].start < low:
            chunk = chunks[0]
            cut = low - chunk.start
            freed = chunk.nbytes * cut // len(chunk.records)
            chunk.records = chunk.records[cut:]
            chunk.start = low
            chunk.nbytes -= freed
            self.nbytes -= freed
        self.start = chunks[0].start if chunks else self.end

    def __len__(self) -> int:
        return self.end - self.start

    def __repr__(self) -> str:
        return f"<Backlog records={len(self)} chunks={len(self._chunks)} bytes={self.nbytes}>"
