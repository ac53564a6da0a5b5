"""The adaptive concurrency limit and the destination-wide pause."""

from __future__ import annotations

import asyncio

import pytest

from spancast import ConfigError
from spancast.pipeline.limiter import AdaptiveLimit, ConcurrencyLimiter


def test_additive_increase_multiplicative_decrease():
    limit = AdaptiveLimit(initial=4, minimum=1, maximum=8)
    for _ in range(5):
        limit.on_success()
    assert limit.limit == 5  # about one window of successes: +1
    for _ in range(200):
        limit.on_success()
    assert limit.limit == 8  # capped
    limit.on_overload()
    assert limit.limit == 4
    for _ in range(10):
        limit.on_overload()
    assert limit.limit == 1  # floored
    assert repr(limit) == "<AdaptiveLimit limit=1 range=1..8>"


@pytest.mark.parametrize("kwargs", [{"initial": 0}, {"minimum": 5, "initial": 4}, {"decrease": 1.0}])
def test_bad_limits(kwargs):
    with pytest.raises(ConfigError):
        AdaptiveLimit(**kwargs)


def test_never_more_in_flight_than_the_limit():
    async def main():
        limiter = ConcurrencyLimiter(AdaptiveLimit(initial=3, minimum=1, maximum=3))
        peak = 0
        running = 0
        gate = asyncio.Event()

        async def request():
            nonlocal peak, running
            await limiter.acquire()
            running += 1
            peak = max(peak, running)
            await gate.wait()
            running -= 1
            limiter.release()

        tasks = [asyncio.create_task(request()) for _ in range(10)]
        while limiter.in_flight < 3:
            await asyncio.sleep(0)
        assert running == 3 and len(limiter._waiters) == 7
        gate.set()
        await asyncio.gather(*tasks)
        return peak, limiter.in_flight

    assert asyncio.run(main()) == (3, 0)


def test_overload_shrinks_the_window_for_waiters():
    async def main():
        limiter = ConcurrencyLimiter(AdaptiveLimit(initial=4, minimum=1, maximum=4))
        for _ in range(4):
            await limiter.acquire()
        waiter = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        limiter.release(overload=True)  # limit 4 -> 2 with 3 in flight: the waiter must keep waiting
        await asyncio.sleep(0)
        assert not waiter.done() and limiter.limit == 2
        limiter.release(success=False)
        limiter.release(success=False)  # 1 in flight < 2: now it gets the slot
        await asyncio.wait_for(waiter, 1)
        return limiter.in_flight

    assert asyncio.run(main()) == 2


def test_pause_holds_new_requests_until_it_ends():
    async def main():
        loop = asyncio.get_running_loop()
        limiter = ConcurrencyLimiter()
        limiter.pause(0.05)
        limiter.pause(0.01)  # a shorter pause never shortens the current one
        start = loop.time()
        await asyncio.wait_for(limiter.acquire(), 1)
        waited = loop.time() - start
        assert "paused" not in repr(limiter)
        return waited

    assert asyncio.run(main()) >= 0.045


def test_a_cancelled_waiter_does_not_leak_its_turn():
    async def main():
        limiter = ConcurrencyLimiter(AdaptiveLimit(initial=1, minimum=1, maximum=1))
        await limiter.acquire()
        first = asyncio.create_task(limiter.acquire())
        second = asyncio.create_task(limiter.acquire())
        await asyncio.sleep(0)
        limiter.release()  # wakes `first`...
        first.cancel()  # ...which is cancelled before it runs: `second` must get the slot
        await asyncio.wait_for(second, 1)
        return limiter.in_flight, len(limiter._waiters)

    assert asyncio.run(main()) == (1, 0)


def test_a_wake_up_that_comes_early_does_not_strand_a_waiter():
    # The pause timer may fire a hair before the pause ends (loop timers round to the millisecond):
    # the waiter it wakes finds the destination still paused and must still be woken at the end.
    async def main():
        limiter = ConcurrencyLimiter(AdaptiveLimit(initial=2, minimum=1, maximum=2))
        limiter.pause(0.05)
        waiter = asyncio.ensure_future(limiter.acquire())
        await asyncio.sleep(0)  # the waiter is queued
        limiter._wake.cancel()
        limiter._wake = None
        limiter._wake_waiters()  # as an early timer would: still paused, so it re-arms instead
        assert limiter._wake is not None and not waiter.done()
        await asyncio.wait_for(waiter, 5)  # woken when the pause really ends
        assert limiter.in_flight == 1 and limiter.paused_for_s() == 0

    asyncio.run(main())
