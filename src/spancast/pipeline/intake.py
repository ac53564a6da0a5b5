"""The intake: where emit() puts records, from any thread, in O(1), never touching the network.

A bounded deque (append and popleft are atomic under the GIL). When it is full the broadcaster's
overflow policy applies: drop_newest (the default) refuses the record, drop_oldest makes room by
dropping the oldest queued one, block waits up to block_timeout_s for room (never on the loop
thread, which is the one that makes room). Every drop is counted. The loop is woken once per burst:
only the emit that finds the intake idle schedules a drain.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import Any, Callable

from ..errors import ConfigError

__all__ = ["Intake", "OVERFLOW_POLICIES"]

OVERFLOW_POLICIES = ("drop_newest", "drop_oldest", "block")


class Intake:
    __slots__ = ("max_records", "policy", "block_timeout_s", "dropped", "_queue", "_wake", "_idle", "_room")

    def __init__(self, max_records: int = 200_000, policy: str = "drop_newest", block_timeout_s: float = 1.0) -> None:
        if max_records < 1:
            raise ConfigError("intake_max_records", f"must be at least 1, got {max_records}")
        if policy not in OVERFLOW_POLICIES:
            raise ConfigError("overflow", f"unknown policy {policy!r}; expected one of {', '.join(OVERFLOW_POLICIES)}")
        if not block_timeout_s >= 0:
            raise ConfigError("block_timeout_s", f"must be >= 0, got {block_timeout_s}")
        self.max_records = max_records
        self.policy = policy
        self.block_timeout_s = block_timeout_s
        self.dropped = 0
        self._queue: deque[Any] = deque()
        self._wake: Callable[[], None] | None = None
        self._idle = True
        self._room = threading.Condition(threading.Lock()) if policy == "block" else None

    def connect(self, wake: Callable[[], None]) -> None:
        """Set what schedules a drain on the loop (called from any thread)."""
        self._wake = wake

    def put(self, record: Any) -> bool:
        """Queue a record; False when the overflow policy refused it (and it was counted)."""
        queue = self._queue
        if len(queue) >= self.max_records and not self._make_room():
            self.dropped += 1
            return False
        queue.append(record)
        if self._idle:
            self._idle = False
            wake = self._wake
            if wake is not None:
                wake()
        return True

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
                return self._room.wait_for(lambda: len(self._queue) < self.max_records, self.block_timeout_s)
        return False

    @property
    def idle(self) -> bool:
        """True when the next put will wake the loop; False means the drainer must come back itself."""
        return self._idle

    def take(self, limit: int) -> list[Any]:
        """Up to limit records, oldest first (on the loop thread). Marks the intake idle when it is empty,
        so that the next put wakes the loop again; when it is not idle afterwards, drain again."""
        queue = self._queue
        out = []
        pop = queue.popleft
        for _ in range(min(limit, len(queue))):
            out.append(pop())
        if not queue:
            self._idle = True
            if queue:  # a put slipped in between the check and the flag: keep draining
                self._idle = False
        if self._room is not None and out:
            with self._room:
                self._room.notify_all()
        return out

    def __len__(self) -> int:
        return len(self._queue)

    def __repr__(self) -> str:
        return f"<Intake queued={len(self._queue)}/{self.max_records} policy={self.policy} dropped={self.dropped}>"
