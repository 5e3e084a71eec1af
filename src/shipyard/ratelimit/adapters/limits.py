"""Rate limiting through the `limits` library (memory:// or redis:// storage).

Sliding-window counter: smooth like a moving window but O(1) per hit on Redis (two counters),
so several replicas share one limit at one round trip per request.
"""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItemPerMinute
from limits.storage import Storage, storage_from_string
from limits.strategies import SlidingWindowCounterRateLimiter

from shipyard.ratelimit.ports import Decision

log = structlog.get_logger(__name__)


class LimitsRateLimiter:
    def __init__(self, storage_uri: str, *, key_prefix: str = "shipyard") -> None:
        options: dict[str, float | str | bool] = {}
        self.is_remote = storage_uri.startswith(("redis://", "rediss://"))
        if self.is_remote:
            # A slow Redis must not stall requests: give up after 0.5 s and fail open.
            options = {"key_prefix": f"{key_prefix}:ratelimit", "socket_timeout": 0.5}
        storage = storage_from_string(storage_uri, **options)
        assert isinstance(storage, Storage)
        self._storage = storage
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._items: dict[int, RateLimitItemPerMinute] = {}
        self.errors = 0

    def hit(self, key: str, per_minute: int) -> Decision:
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        try:
            if self._limiter.hit(item, key):
                return Decision(allowed=True, limit=per_minute, remaining=-1, retry_after=0)
            stats = self._limiter.get_window_stats(item, key)
        except Exception as exc:  # noqa: BLE001 - a limiter outage must not take the API down
            # Fail open: serving without limits beats refusing every request while Redis is away.
            self.errors += 1
            log.warning("rate_limiter_unavailable", error=str(exc)[:200])
            return Decision(allowed=True, limit=per_minute, remaining=-1, retry_after=0)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed=False, limit=per_minute, remaining=stats.remaining, retry_after=retry_after)

    def close(self) -> None:
        reset = getattr(self._storage, "storage", None)
        close = getattr(reset, "close", None)
        if callable(close):
            close()
