"""Per-key request rate limits: in-process by default, Redis when several replicas share them."""

from shipyard.ratelimit.ports import Decision, RateLimiter
from shipyard.ratelimit.registry import build_rate_limiter

__all__ = ["Decision", "RateLimiter", "build_rate_limiter"]
