"""Picks the rate-limiter adapter from settings: one line per backend."""

from __future__ import annotations

from shipyard.errors import ConfigError
from shipyard.ratelimit.ports import RateLimiter

_REDIS_SCHEMES = ("redis://", "rediss://", "unix://")


def build_rate_limiter(redis_url: str | None, *, key_prefix: str) -> RateLimiter:
    """Redis when a URL is configured (shared by replicas), otherwise in-process memory."""
    if not redis_url:
        from shipyard.ratelimit.adapters.memory import MemoryRateLimiter

        return MemoryRateLimiter()
    if not redis_url.startswith(_REDIS_SCHEMES):
        scheme = redis_url.split("://")[0]
        raise ConfigError(f"SHIPYARD_REDIS_URL must start with one of {', '.join(_REDIS_SCHEMES)}; got {scheme}://…")
    from shipyard.ratelimit.adapters.redis import RedisRateLimiter

    return RedisRateLimiter(redis_url, key_prefix=key_prefix)
