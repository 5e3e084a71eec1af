"""Picks the rate-limiter adapter from settings."""

from __future__ import annotations

from shipyard.ratelimit.adapters.limits import LimitsRateLimiter
from shipyard.ratelimit.ports import RateLimiter


def build_rate_limiter(redis_url: str | None, *, key_prefix: str) -> RateLimiter:
    """Redis when a URL is configured (shared by replicas), otherwise in-process memory."""
    return LimitsRateLimiter(redis_url or "memory://", key_prefix=key_prefix)
