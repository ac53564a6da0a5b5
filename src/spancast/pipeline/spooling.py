"""What ties a spool to a broadcaster: re-sent records enter the backlog, lanes give undelivered ones back, settled ones let it go.

Re-sent records (older runs', and this run's given-back ones) share the drain's budget with live ones:
inject() takes a chunk only when memory has room and, while live records wait in the intake, only
every other chunk (the drain marks its turns), so replay neither starves nor is starved. When the
spool is full, live records wait and replay goes alone: its copies replace what they copy, and what
is delivered lets segments go, so room comes back without traffic having to stop.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from .lane import Lane
from .spool import Spool
from .spool_replay import Replayer

if TYPE_CHECKING:
    from ..broadcaster import Broadcaster

__all__ = ["SpoolLink"]


class SpoolLink:
    def __init__(self, broadcaster: Broadcaster, spool: Spool) -> None:
        self.b = broadcaster
        self.spool = spool
        self.lanes = {lane.destination.name: lane for lane in broadcaster.lanes}
        live = frozenset(self.lanes)
        self.replayer = Replayer(spool, self.inject, live, self.ready, self.handed_off)
        self.task: asyncio.Task[None] | None = None
        for lane in broadcaster.lanes:
            lane.give_back_to(self.given_back)
        spool.on_change = self.on_change

    def start(self, loop: asyncio.AbstractEventLoop) -> None:
        if self.spool.old:
            self.spool.replaying = True  # from now: nothing may look settled before the task first runs
        self.task = loop.create_task(self.replayer.run())

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()  # what it did not re-send stays in the spool
            await asyncio.gather(self.task, return_exceptions=True)
            self.task = None

    # ------------------------------------------------------------ records in

    def inject(self, records: list[Any], only: frozenset[str], origin: tuple[str, int], redelivered: bool) -> bool:
        """Re-sent records for the destinations named; False (nothing done) when it is not their turn, memory
        or a healthy destination's queue is short, or the spool cannot write."""
        b = self.b
        if b.state != "running" or b.loop is None:
            return False
        if len(b.intake) and not b._replay_turn and b._stalled != "spool":
            return False
        nbytes = b.sizes.chunk_bytes(records)
        if b._memory_room(nbytes) < nbytes:
            return False
        lanes = [lane for lane in b.lanes if lane.destination.name in only]
        # A failing destination takes them anyway and gives back what does not fit: it must not hold
        # up the replay for the others.
        if any(lane.stats.consecutive_failures == 0 and lane.queue_room(b.sizes.record_bytes) < len(records)
               for lane in lanes):
            return False
        if not self.spool.append(b.backlog.end, records, only, origin):
            return False
        b.backlog.append(records, nbytes, b.loop.time(), only)
        for lane in lanes:
            lane.receive(len(records), redelivered)
        for lane in lanes:
            lane.pump()
        b.backlog.trim()
        b._replay_turn = False
        return True

    def ready(self, name: str) -> tuple[bool, bool]:
        """(has room for a batch of given-back records, is healthy) for a destination."""
        lane = self.lanes[name]
        room = lane.queue_room(self.b.sizes.record_bytes) >= lane.batcher.settings.max_batch_records
        return room, lane.stats.consecutive_failures == 0

    # ------------------------------------------------------------ records out

    def given_back(self, lane: Lane, spans: list[tuple[int, int]]) -> None:
        gone = self.spool.give_back(lane.destination.name, spans)
        if gone:  # the spool no longer holds them (drop_oldest deleted their segment): lost, and counted
            lane.stats.spooled -= gone
            lane.stats.drop("spool_full", gone)
        self.replayer.wake.set()

    def handed_off(self, name: str, start: int, end: int) -> None:
        """Given-back positions were copied and re-sent: they are settled here (the copies carry them)."""
        self.lanes[name]._settled(list(range(start, end)))

    def release(self, low: int) -> None:
        self.spool.release(low)
        if self.b._stalled == "spool" and self.spool.problem() is None:
            self.b._wake_drain()

    def on_change(self) -> None:
        """The spool can write again."""
        self.b._wake_drain()
        self.replayer.wake.set()

    def drop_oldest(self) -> bool:
        """Make room under overflow = drop_oldest; True when the spool holds fewer bytes after it."""
        before = self.spool.nbytes
        dropped = self.spool.drop_oldest(self.replayer.pending_in)
        if dropped is not None:  # one of this run's: nothing in it is owed to anyone any more
            start, end, lost = dropped
            for name, n in lost.items():  # given back to the spool, which no longer holds them: lost, counted
                self.lanes[name].stats.spooled -= n
                self.lanes[name].stats.drop("spool_full", n)
            for lane in self.lanes.values():  # so that the segments after it can be let go
                lane._settled(list(range(start, end)))
        return self.spool.nbytes < before

    # ------------------------------------------------------------ reporting

    def left(self, name: str) -> int:
        """Records the spool holds for a destination: given back here, and older runs' not re-sent yet."""
        return self.lanes[name].stats.spooled + self.replayer.pending(name)

    def stats(self) -> dict[str, Any]:
        out = self.spool.stats()
        out["pending_records"] = {name: self.replayer.pending(name) for name in self.lanes}
        return out

    def __repr__(self) -> str:
        return f"<SpoolLink {self.spool!r} task={'running' if self.task and not self.task.done() else 'none'}>"
