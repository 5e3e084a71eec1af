"""In-process sliding-window counter (`ratelimit/window.py`) for the embedded default.

Written here instead of using `limits`' MemoryStorage: that storage starts a timer thread from
inside `hit()` to expire keys, which cost ~20 % of an authenticated request's CPU time in
bench/api_overhead.py. This one is a dict and a lock; stale windows are dropped lazily.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable

from shipyard.ratelimit.ports import Decision
from shipyard.ratelimit.window import WINDOW_SECONDS, retry_after, weighted_count

# Forget keys idle for two windows; checked at most once a window.
_SWEEP_EVERY = WINDOW_SECONDS


class MemoryRateLimiter:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._now = clock
        # key -> [window index, count in that window, count in the window before]
        self._windows: dict[str, list[float]] = {}
        self._lock = threading.Lock()
        self._last_sweep = self._now()
        self.errors = 0  # nothing here can fail; kept for the port

    async def hit(self, key: str, per_minute: int) -> Decision:
        now = self._now()
        index, offset = divmod(now, WINDOW_SECONDS)
        with self._lock:
            entry = self._windows.get(key)
            if entry is None or entry[0] < index - 1:
                entry = self._windows[key] = [index, 0.0, 0.0]
            elif entry[0] == index - 1:
                entry[0], entry[1], entry[2] = index, 0.0, entry[1]
            weighted = weighted_count(entry[1], entry[2], offset)
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
        return Decision(False, per_minute, 0, retry_after(entry[1], entry[2], offset, per_minute))

    def _sweep(self, index: float) -> None:
        stale = [key for key, entry in self._windows.items() if entry[0] < index - 1]
        for key in stale:
            del self._windows[key]

    async def close(self) -> None:
        self._windows.clear()
