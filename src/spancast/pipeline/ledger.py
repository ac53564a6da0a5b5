"""Which record positions a destination is finished with, so a spool (or a stream consumer) knows what it may let go.

A record is *settled* for a destination when nothing more will happen to it there: delivered,
refused for good (a 4xx, invalid, too old, too large), or left out by routing. Records dropped for
reasons that a later attempt could overcome (retries exhausted, the shutdown deadline, a full
queue) are not settled: a spool keeps them to replay. Positions are the backlog's.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable

__all__ = ["Progress", "runs"]


def runs(positions: Iterable[int]) -> list[tuple[int, int]]:
    """Sorted positions as [start, end) runs: [3, 4, 5, 9] -> [(3, 6), (9, 10)]."""
    out: list[tuple[int, int]] = []
    start = end = None
    for p in positions:
        if end is not None and p == end:
            end += 1
            continue
        if start is not None:
            out.append((start, end))  # type: ignore[arg-type]
        start, end = p, p + 1
    if start is not None:
        out.append((start, end))  # type: ignore[arg-type]
    return out


class Progress:
    """One destination's settled positions: everything below ``low``, plus disjoint runs above it."""

    __slots__ = ("low", "_starts", "_ends")

    def __init__(self, low: int = 0) -> None:
        self.low = low
        self._starts: list[int] = []  # runs above low, sorted, never touching each other or low
        self._ends: list[int] = []

    def mark(self, start: int, end: int) -> None:
        """Positions [start, end) are settled."""
        if end <= self.low or start >= end:
            return
        start = max(start, self.low)
        starts, ends = self._starts, self._ends
        i = bisect_left(ends, start)  # the first run that ends at or after start: it may touch
        j = i
        while j < len(starts) and starts[j] <= end:
            start, end = min(start, starts[j]), max(end, ends[j])
            j += 1
        starts[i:j], ends[i:j] = [start], [end]
        if starts[0] <= self.low:
            self.low = ends[0]
            del starts[0], ends[0]

    def mark_runs(self, spans: Iterable[tuple[int, int]]) -> None:
        for start, end in spans:
            self.mark(start, end)

    def settled(self, position: int) -> bool:
        if position < self.low:
            return True
        i = bisect_left(self._ends, position + 1)
        return i < len(self._starts) and self._starts[i] <= position

    def count(self, start: int, end: int) -> int:
        """How many positions in [start, end) are settled."""
        if end <= start:
            return 0
        n = max(0, min(end, self.low) - start)
        lo = max(start, self.low)
        starts, ends = self._starts, self._ends
        i = bisect_left(ends, lo + 1)  # the first run that ends past lo
        while i < len(starts) and starts[i] < end:
            n += min(end, ends[i]) - max(lo, starts[i])
            i += 1
        return n

    def spans(self) -> list[tuple[int, int]]:
        """The settled runs above low."""
        return list(zip(self._starts, self._ends))

    @property
    def gaps(self) -> int:
        """Runs above low: how fragmented the settled positions are (in-flight batches between them)."""
        return len(self._starts)

    def __repr__(self) -> str:
        return f"<Progress low={self.low} runs={list(zip(self._starts, self._ends))[:4]}>"
