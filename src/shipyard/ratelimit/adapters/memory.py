"""In-process sliding-window-counter limiter for the embedded default (one process).

Written here instead of using `limits`' MemoryStorage: that storage starts a timer thread from
inside `hit()` to expire keys, which cost ~20 % of an authenticated request's CPU time in
bench/api_overhead.py. This one is a dict and a lock; stale windows are dropped lazily.
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable

from shipyard.ratelimit.ports import Decision

WINDOW_SECONDS = 60.0
# Forget keys idle for two windows; checked at most once a window.
_SWEEP_EVERY = WINDOW_SECONDS


class MemoryRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._now = clock
        # key -> [window index, count in that window, count in the window before]
        self._windows: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = self._now()

    async def hit(self, key: str, per_minute: int) -> Decision:
        now = self._now()
        index, offset = divmod(now, WINDOW_SECONDS)
        with self._lock:
            entry = self._windows.get(key)
            if entry is None or entry[0] < index - 1:
                entry = self._windows[key] = [index, 0.0, 0.0]
            elif entry[0] == index - 1:
                entry[0], entry[1], entry[2] = index, 0.0, entry[1]
            # The previous window counts in proportion to how much of it still overlaps.
            weighted = entry[2] * (1 - offset / WINDOW_SECONDS) + entry[1]
            if weighted + 1 <= per_minute:
                entry[1] += 1
                allowed, remaining = True, int(per_minute - weighted - 1)
            else:
                allowed, remaining = False, 0
            if now - self._last_sweep > _SWEEP_EVERY:
                self._sweep(index)
                self._last_sweep = now
        if allowed:
            return Decision(allowed=True, limit=per_minute, remaining=remaining, retry_after=0)
        return Decision(False, per_minute, 0, self._retry_after(entry, offset, per_minute))

    @staticmethod
    def _retry_after(entry: list[float], offset: float, per_minute: int) -> int:
        """Seconds until the weighted count drops below the limit (at least 1)."""
        current, previous = entry[1], entry[2]
        if current + 1 > per_minute or previous == 0:
            return max(1, math.ceil(WINDOW_SECONDS - offset))
        # previous * (1 - t/W) + current + 1 <= limit  →  t >= W * (1 - (limit - current - 1) / previous)
        needed = WINDOW_SECONDS * (1 - (per_minute - current - 1) / previous)
        return max(1, math.ceil(needed - offset))

    def _sweep(self, index: float) -> None:
        stale = [key for key, entry in self._windows.items() if entry[0] < index - 1]
        for key in stale:
            del self._windows[key]

    async def close(self) -> None:
        self._windows.clear()
