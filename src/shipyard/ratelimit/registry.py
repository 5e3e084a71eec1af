"""Picks the rate-limiter adapter from settings."""

from __future__ import annotations

from shipyard.ratelimit.ports import RateLimiter


def build_rate_limiter(redis_url: str | None, *, key_prefix: str) -> RateLimiter:
    """Redis when a URL is configured (shared by replicas), otherwise in-process memory."""
    if redis_url:
        from shipyard.ratelimit.adapters.redis import RedisRateLimiter

        return RedisRateLimiter(redis_url, key_prefix=key_prefix)
    from shipyard.ratelimit.adapters.memory import MemoryRateLimiter

    return MemoryRateLimiter()
