"""How many requests one destination may have in flight: an adaptive limit (AIMD) and a pause.

The limit grows by one request per window of successes (additive increase, as TCP's congestion
window does) and halves on overload (429, 503, timeouts), never below minimum nor above maximum.
A Retry-After on any response pauses the whole destination until then. A batch waiting to be
retried does not hold a slot: it releases its slot and acquires a new one when its wait is over.
"""

from __future__ import annotations

import asyncio
from collections import deque

from ..errors import ConfigError

__all__ = ["AdaptiveLimit", "ConcurrencyLimiter"]


class AdaptiveLimit:
    """Additive increase, multiplicative decrease of a concurrency limit (pure arithmetic)."""

    __slots__ = ("minimum", "maximum", "decrease", "_value")

    def __init__(self, initial: int = 4, minimum: int = 1, maximum: int = 64, decrease: float = 0.5) -> None:
        if not 1 <= minimum <= initial <= maximum:
            raise ConfigError("concurrency", f"need 1 <= minimum <= initial <= maximum, got {minimum}, {initial}, {maximum}")
        if not 0.0 < decrease < 1.0:
            raise ConfigError("concurrency.decrease", f"must be in (0, 1), got {decrease}")
        self.minimum, self.maximum, self.decrease = minimum, maximum, decrease
        self._value = float(initial)

    @property
    def limit(self) -> int:
        return int(self._value)

    def on_success(self) -> None:
        # +1/limit per success: about +1 per round trip of a full window.
        self._value = min(float(self.maximum), self._value + 1.0 / self._value)

    def on_overload(self) -> None:
        self._value = max(float(self.minimum), self._value * self.decrease)

    def __repr__(self) -> str:
        return f"<AdaptiveLimit limit={self.limit} range={self.minimum}..{self.maximum}>"


class ConcurrencyLimiter:
    """Slots for in-flight requests under an AdaptiveLimit, with a destination-wide pause (asyncio)."""

    def __init__(self, limit: AdaptiveLimit | None = None) -> None:
        self.adaptive = limit or AdaptiveLimit()
        self.in_flight = 0
        self._paused_until = 0.0
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._wake: asyncio.TimerHandle | None = None

    @property
    def limit(self) -> int:
        return self.adaptive.limit

    def paused_for_s(self) -> float:
        return max(0.0, self._paused_until - asyncio.get_running_loop().time())

    def pause(self, seconds: float) -> None:
        """Hold every new request back for this long (a Retry-After), extending a pause, never shortening it."""
        loop = asyncio.get_running_loop()
        until = loop.time() + seconds
        if until > self._paused_until:
            self._paused_until = until
            if self._wake is not None:
                self._wake.cancel()
            self._wake = loop.call_at(until, self._on_pause_end)

    async def acquire(self) -> None:
        """Wait for a slot: not paused, and fewer requests in flight than the current limit."""
        while self.paused_for_s() > 0 or self.in_flight >= self.limit:
            fut = asyncio.get_running_loop().create_future()
            self._waiters.append(fut)
            try:
                await fut
            except asyncio.CancelledError:
                if fut in self._waiters:
                    self._waiters.remove(fut)
                elif fut.done() and not fut.cancelled():
                    self._wake_waiters()  # it was woken for a slot it will not use: pass the turn on
                raise
        self.in_flight += 1

    def release(self, *, success: bool = True, overload: bool = False) -> None:
        """Give the slot back and adjust the limit by the outcome."""
        self.in_flight -= 1
        if overload:
            self.adaptive.on_overload()
        elif success:
            self.adaptive.on_success()
        self._wake_waiters()

    def _on_pause_end(self) -> None:
        self._wake = None
        self._wake_waiters()

    def _wake_waiters(self) -> None:
        loop = asyncio.get_running_loop()
        if self._paused_until > loop.time():
            # Still paused: a slot freed meanwhile, or the timer fired a hair early (loop timers round to
            # the millisecond). Woken now, a waiter would wait again with no timer left to wake it.
            if self._wake is None:
                self._wake = loop.call_at(self._paused_until, self._on_pause_end)
            return
        free = self.limit - self.in_flight
        while self._waiters and free > 0:
            fut = self._waiters.popleft()
            if not fut.done():
                fut.set_result(None)
                free -= 1

    def __repr__(self) -> str:
        try:
            paused = self.paused_for_s() > 0
        except RuntimeError:  # no running loop: nothing can be paused
            paused = False
        return (
            f"<ConcurrencyLimiter in_flight={self.in_flight} limit={self.limit} "
            f"waiting={len(self._waiters)}{' paused' if paused else ''}>"
        )
