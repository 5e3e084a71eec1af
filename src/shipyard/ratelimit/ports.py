"""The rate-limiter port."""

from __future__ import annotations

from typing import NamedTuple, Protocol


class Decision(NamedTuple):
    """Made on every request: a NamedTuple is several times cheaper than a frozen dataclass."""

    allowed: bool
    limit: int
    remaining: int
    # Seconds until a request would be allowed again (0 when allowed).
    retry_after: int


class RateLimiter(Protocol):
    """Async because the shared (Redis) adapter talks to the network from the event loop."""

    # Failed checks so far (each one let its request through: limiters fail open).
    errors: int

    async def hit(self, key: str, per_minute: int) -> Decision:
        """Count one request for `key` against `per_minute`; never raises (fails open)."""
        ...

    async def close(self) -> None:
        """Release connections (call from the event loop that used the limiter)."""
        ...
