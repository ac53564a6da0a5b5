"""The intake: where emit() puts records, from any thread, in O(1), never touching the network.

A bounded deque (append and popleft are atomic under the GIL, so put takes no lock). The bound is
in records and in bytes: the byte bound becomes a record count through the estimated size of a
record (set by the drainer from the records it sizes, see SizeEstimate), so put compares one
length. When it is full the broadcaster's overflow policy applies: drop_newest (the default)
refuses the record, drop_oldest makes room by dropping the oldest queued one, block waits up to
block_timeout_s for room (never on the loop thread, which is the one that makes room). Every drop
is counted. The loop is woken once per burst: only the put that finds the intake idle schedules a
drain, and the drainer lingers a moment before it declares the intake idle again (a wake-up is a
syscall, a few microseconds).
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Callable
from itertools import repeat
from typing import Any

from ..errors import ConfigError
from . import defaults

__all__ = ["OVERFLOW_POLICIES", "Intake"]

OVERFLOW_POLICIES = ("drop_newest", "drop_oldest", "block")


class Intake:
    __slots__ = (
        "_cap",
        "_idle",
        "_queue",
        "_room",
        "_wake",
        "block_timeout_s",
        "dropped",
        "max_bytes",
        "max_records",
        "policy",
        "record_bytes",
    )

    def __init__(
        self,
        max_records: int = defaults.INTAKE_MAX_RECORDS,
        policy: str = defaults.OVERFLOW,
        block_timeout_s: float = defaults.BLOCK_TIMEOUT_S,
        max_bytes: int = defaults.INTAKE_MAX_BYTES,
        record_bytes: int = 4096,
    ) -> None:
        if max_records < 1:
            raise ConfigError("intake_max_records", f"must be at least 1, got {max_records}")
        if max_bytes < 1:
            raise ConfigError("intake_max_bytes", f"must be at least 1, got {max_bytes}")
        if policy not in OVERFLOW_POLICIES:
            raise ConfigError("overflow", f"unknown policy {policy!r}; expected one of {', '.join(OVERFLOW_POLICIES)}")
        if not block_timeout_s >= 0:
            raise ConfigError("block_timeout_s", f"must be >= 0, got {block_timeout_s}")
        self.max_records = max_records
        self.max_bytes = max_bytes
        self.policy = policy
        self.block_timeout_s = block_timeout_s
        self.dropped = 0
        self._queue: deque[Any] = deque()
        self._wake: Callable[[], None] | None = None
        self._idle = True
        self._room = threading.Condition(threading.Lock()) if policy == "block" else None
        self.set_record_bytes(record_bytes)

    def set_record_bytes(self, record_bytes: float, budget_bytes: int | None = None) -> None:
        """The estimated size of one record: the byte bound (or the smaller budget the rest of the
        pipeline leaves, when given) then allows this many records."""
        self.record_bytes = max(int(record_bytes), 1)
        limit = self.max_bytes if budget_bytes is None else max(min(self.max_bytes, budget_bytes), 0)
        self._cap = max(1, min(self.max_records, limit // self.record_bytes))

    @property
    def capacity(self) -> int:
        """How many records fit now: the record bound, or fewer when the byte bound is tighter."""
        return self._cap

    @property
    def bytes(self) -> int:
        """Estimated bytes of the records queued now."""
        return len(self._queue) * self.record_bytes

    def connect(self, wake: Callable[[], None]) -> None:
        """Set what schedules a drain on the loop (called from any thread)."""
        self._wake = wake

    def put(self, record: Any) -> bool:
        """Queue a record; False when the overflow policy refused it (and it was counted)."""
        queue = self._queue
        if len(queue) >= self._cap and not self._make_room():
            self.dropped += 1
            return False
        queue.append(record)
        if self._idle:
            self._idle = False
            wake = self._wake
            if wake is not None:
                wake()
        return True

    def put_many(self, records: list[Any]) -> int:
        """Queue as many of records as fit now, in order; never waits, drops nothing already queued, counts
        nothing: the caller answers for the rest (spancast serve refuses them by position). Returns how many."""
        queue = self._queue
        room = self._cap - len(queue)
        if room <= 0:
            return 0
        taken = records if len(records) <= room else records[:room]
        queue.extend(taken)
        if taken and self._idle:
            self._idle = False
            wake = self._wake
            if wake is not None:
                wake()
        return len(taken)

    def _make_room(self) -> bool:
        if self.policy == "drop_oldest":
            try:
                self._queue.popleft()
            except IndexError:  # drained meanwhile: there is room now
                return True
            self.dropped += 1
            return True
        if self.policy == "block" and self._room is not None:
            with self._room:
                return self._room.wait_for(lambda: len(self._queue) < self._cap, self.block_timeout_s)
        return False

    @property
    def idle(self) -> bool:
        """True when the next put will wake the loop; False means the drainer must come back itself."""
        return self._idle

    def take(self, limit: int) -> list[Any]:
        """Up to limit records, oldest first (on the loop thread). The intake stays busy (puts do not
        wake the loop) until the drainer settles it."""
        queue = self._queue
        pop = queue.popleft
        out = [pop() for _ in repeat(None, min(limit, len(queue)))]
        if self._room is not None and out:
            with self._room:
                self._room.notify_all()
        return out

    def unget(self, records: list[Any]) -> None:
        """Put records taken but not used back in front, in order (on the loop thread): the next take
        gets them first. The bound may be passed by them, once."""
        self._queue.extendleft(reversed(records))

    def settle(self) -> bool:
        """Mark the intake idle if it is empty, so that the next put wakes the loop; False if it is not
        (then the drainer must go on)."""
        if self._queue:
            return False
        self._idle = True
        if self._queue:  # a put slipped in between the check and the flag, and did not wake anyone
            self._idle = False
            return False
        return True

    def __len__(self) -> int:
        return len(self._queue)

    def __repr__(self) -> str:
        return (
            f"<Intake queued={len(self._queue)}/{self._cap} max_records={self.max_records} "
            f"max_bytes={self.max_bytes} record_bytes~{self.record_bytes} policy={self.policy} dropped={self.dropped}>"
        )
