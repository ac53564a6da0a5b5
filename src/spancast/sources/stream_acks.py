"""Which stream entries a worker may XACK: each emitted entry's pipeline position, until every destination settled it.

The Broadcaster reports settled positions two ways (``watch_settled``): a low mark below which every
position is settled for every destination, and each destination's settled runs. The low mark alone
would stall behind one record whose retries ran out, so runs above it are checked against every
lane's progress too: an entry is ready once the last destination settles it, in whatever order
batches finish. Work is linear in positions (each passes the low mark once) and memory in the
entries still waiting, which the worker bounds with max_unacked.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

__all__ = ["AckBook"]


class AckBook:
    """Emitted entries by pipeline position, and the ids ready for XACK."""

    def __init__(self, lanes: Callable[[], list[Any]], on_change: Callable[[], None]) -> None:
        self._lanes = lanes  # the broadcaster's lanes, once it runs
        self._on_change = on_change  # something settled: a paused reader may look again
        self._pos: dict[int, bytes] = {}  # position -> entry id, while it is unsettled
        self._ids: dict[bytes, int] = {}  # and back: an entry claimed again replaces its older attempt
        self._low = 0  # every position below this one went through on_low
        self.ready: list[bytes] = []  # settled: waiting for XACK, in order
        self.has_ready = asyncio.Event()

    def __len__(self) -> int:
        """Entries emitted and not settled yet."""
        return len(self._pos)

    def forget(self, entry_id: bytes) -> None:
        """The entry is emitted again (claimed back after min_idle_s): its older attempt no longer counts."""
        older = self._ids.pop(entry_id, None)
        if older is not None:
            del self._pos[older]

    def hold(self, position: int, entry_id: bytes) -> None:
        self._pos[position] = entry_id
        self._ids[entry_id] = position

    def done(self, entry_id: bytes) -> None:
        """Ready for XACK now (settled, invalid, or gone from the stream)."""
        self.ready.append(entry_id)
        self.has_ready.set()

    def take(self, n: int) -> list[bytes]:
        """The first n ready ids (they stay listed until acked(): a failed XACK keeps them)."""
        return self.ready[:n]

    def acked(self, n: int) -> None:
        del self.ready[:n]

    def on_low(self, low: int) -> None:
        pos, ids = self._pos, self._ids
        for position in range(self._low, low):
            entry_id = pos.pop(position, None)
            if entry_id is not None:
                del ids[entry_id]
                self.done(entry_id)
        self._low = max(self._low, low)
        self._on_change()

    def on_runs(self, destination: str, spans: list[tuple[int, int]]) -> None:
        lanes = [lane for lane in self._lanes() if lane.progress is not None]
        pos, ids = self._pos, self._ids
        for start, end in spans:
            for position in range(max(start, self._low), end):
                entry_id = pos.get(position)
                if entry_id is not None and all(lane.progress.settled(position) for lane in lanes):
                    del pos[position], ids[entry_id]
                    self.done(entry_id)
        self._on_change()

    def __repr__(self) -> str:
        return f"<AckBook unsettled={len(self._pos)} ready={len(self.ready)} low={self._low}>"
