"""The in-process sliding-window counter, driven by a fake clock."""

from __future__ import annotations

import asyncio

from shipyard.ratelimit.adapters.memory import MemoryRateLimiter as _Async
from shipyard.ratelimit.ports import Decision


class MemoryRateLimiter:
    """The adapter, driven synchronously for readable tests."""

    def __init__(self, clock: Clock) -> None:
        self._limiter = _Async(clock)
        self._windows = self._limiter._windows

    def hit(self, key: str, per_minute: int) -> Decision:
        return asyncio.run(self._limiter.hit(key, per_minute))


class Clock:
    def __init__(self, now: float = 600.0) -> None:  # 600 s = the start of a window
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_allows_up_to_the_limit_then_refuses_until_the_window_slides() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    assert [limiter.hit("k", 3).allowed for _ in range(4)] == [True, True, True, False]
    refused = limiter.hit("k", 3)
    assert refused.retry_after == 60  # the whole current window is full
    clock.now += 60 + 20  # next window, 1/3 in: the previous 3 still weigh 3 * 2/3 = 2
    assert limiter.hit("k", 3).allowed
    later = limiter.hit("k", 3)
    assert not later.allowed and 1 <= later.retry_after <= 40
    clock.now += later.retry_after
    assert limiter.hit("k", 3).allowed


def test_keys_are_independent_and_idle_keys_are_forgotten() -> None:
    clock = Clock()
    limiter = MemoryRateLimiter(clock)
    assert limiter.hit("a", 1).allowed and not limiter.hit("a", 1).allowed
    assert limiter.hit("b", 1).allowed
    clock.now += 200  # two windows later: both forgotten
    assert limiter.hit("a", 1).allowed
    assert len(limiter._windows) == 1
