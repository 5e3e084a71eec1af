"""Rate limits shared by every API replica, through Redis and the `limits` library.

Sliding-window counter (the same algorithm as the in-process adapter): smooth like a moving
window, but O(1) per hit on Redis (two counters), one round trip per request. The async client
runs on the event loop: a thread hop per request cost 3x the round trip (bench/api_overhead.py).
"""

from __future__ import annotations

import math
import time

import structlog
from limits import RateLimitItemPerMinute
from limits.aio.storage import RedisStorage
from limits.aio.strategies import SlidingWindowCounterRateLimiter
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from shipyard.ratelimit.ports import Decision

log = structlog.get_logger(__name__)

RETRY_AFTER_FAILURE_SECONDS = 5.0


class RedisRateLimiter:
    def __init__(self, redis_url: str, *, key_prefix: str = "shipyard") -> None:
        self._storage = RedisStorage(
            "async+" + redis_url,
            implementation="redispy",
            key_prefix=f"{key_prefix}:ratelimit",
            # A slow Redis must not stall requests: give up after 0.5 s and fail open.
            socket_timeout=0.5,
            socket_connect_timeout=0.5,
            # No client-side retries: a retry with backoff holds the request for seconds.
            retry=Retry(NoBackoff(), 0),  # type: ignore[arg-type]  # passed through to redis-py
        )
        self._limiter = SlidingWindowCounterRateLimiter(self._storage)
        self._items: dict[int, RateLimitItemPerMinute] = {}
        self.errors = 0
        self._skip_until = 0.0

    async def hit(self, key: str, per_minute: int) -> Decision:
        if time.monotonic() < self._skip_until:
            return Decision(allowed=True, limit=per_minute, remaining=-1, retry_after=0)
        item = self._items.get(per_minute)
        if item is None:
            item = self._items[per_minute] = RateLimitItemPerMinute(per_minute)
        try:
            if await self._limiter.hit(item, key):
                return Decision(allowed=True, limit=per_minute, remaining=-1, retry_after=0)
            stats = await self._limiter.get_window_stats(item, key)
        except Exception as exc:  # noqa: BLE001 - a limiter outage must not take the API down
            # Fail open: serving without limits beats refusing every request while Redis is away.
            # After a failure, don't try again for a while: every request would pay the timeout.
            self.errors += 1
            self._skip_until = time.monotonic() + RETRY_AFTER_FAILURE_SECONDS
            log.warning("rate_limiter_unavailable", error=str(exc)[:200])
            return Decision(allowed=True, limit=per_minute, remaining=-1, retry_after=0)
        retry_after = max(1, math.ceil(stats.reset_time - time.time()))
        return Decision(allowed=False, limit=per_minute, remaining=stats.remaining, retry_after=retry_after)

    async def close(self) -> None:
        # `limits` has no close(); its redis-py bridge keeps the client as `bridge.storage`.
        client = getattr(getattr(self._storage, "bridge", None), "storage", None)
        aclose = getattr(client, "aclose", None)
        if callable(aclose):
            await aclose()
