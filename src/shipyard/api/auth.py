"""Authentication and rate limiting for `/v1/` and model serving, as pure ASGI middleware.

Done here rather than in FastAPI dependencies: a chain of four dependencies per request cost
more than the authentication itself (bench/api_overhead.py). Routes read the verified
principal from `request.state.principal` through one cheap dependency (`api/deps.py`).
A request without a valid key never reaches routing or body parsing.

Invalid keys are limited per client address (`SHIPYARD_AUTH_FAILURES_PER_MINUTE`): each costs a
hash and a store query, so past the limit an address is refused with 429 before its key is
checked, until its minute is over. Counts are shared through the rate limiter (Redis when
configured); the refusal itself is remembered in-process, so it costs nothing.
"""

from __future__ import annotations

import math
import time

import anyio
from starlette.types import ASGIApp, Receive, Scope, Send

from shipyard.api.errors import error_response
from shipyard.auth import AccessService, Principal
from shipyard.errors import RateLimited, ShipyardError, Unauthenticated
from shipyard.ratelimit import RateLimiter
from shipyard.telemetry import Metrics

# Addresses remembered as refused, at most; past it expired entries are dropped first.
MAX_BLOCKED_ADDRESSES = 10_000

# Everything under /v1/, and model serving (Open Inference v2 models, MLflow scoring); the
# health probes (/v2/health/*, /ping, /health, /version) stay open for load balancers.
PROTECTED_PREFIXES = ("/v1/", "/v2/models", "/deployments/", "/invocations")


def is_protected(path: str) -> bool:
    return path.startswith(PROTECTED_PREFIXES)


class AuthMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        *,
        access: AccessService,
        rate_limiter: RateLimiter,
        default_rate_limit: int,
        metrics: Metrics,
        failures_per_minute: int = 60,
    ) -> None:
        self.app = app
        self.access = access
        self.rate_limiter = rate_limiter
        self.default_rate_limit = default_rate_limit
        self.metrics = metrics
        self.failures_per_minute = failures_per_minute
        self._blocked: dict[str, float] = {}  # client address → monotonic time its refusal ends

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not scope["path"].startswith(PROTECTED_PREFIXES):
            await self.app(scope, receive, send)
            return
        try:
            principal = await self._authenticate(_bearer_token(scope), scope)
            scope.setdefault("state", {})["principal"] = principal
            await self._check_rate(principal)
        except ShipyardError as exc:
            await _reject(scope, receive, send, exc)
            return
        await self.app(scope, receive, send)

    async def _authenticate(self, secret: str | None, scope: Scope) -> Principal:
        cached = self.access.cached_principal(secret)
        if cached is not None:
            return cached
        if not secret:
            raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
        address = _client_address(scope)
        self._refuse_if_blocked(address)
        try:
            principal: Principal = await anyio.to_thread.run_sync(self.access.authenticate, secret)
        except Unauthenticated:
            await self._count_failure(address)
            raise
        return principal

    def _refuse_if_blocked(self, address: str) -> None:
        until = self._blocked.get(address)
        if until is None:
            return
        left = until - time.monotonic()
        if left <= 0:
            del self._blocked[address]
            return
        self.metrics.rate_limited.inc()
        raise RateLimited(
            f"too many requests with invalid API keys from this address; retry in {math.ceil(left)} s",
            retry_after=math.ceil(left),
        )

    async def _count_failure(self, address: str) -> None:
        decision = await self.rate_limiter.hit(f"auth-failures:{address}", self.failures_per_minute)
        if decision.allowed:
            return
        if len(self._blocked) >= MAX_BLOCKED_ADDRESSES:
            now = time.monotonic()
            self._blocked = {a: t for a, t in self._blocked.items() if t > now}
            if len(self._blocked) >= MAX_BLOCKED_ADDRESSES:
                self._blocked.clear()
        self._blocked[address] = time.monotonic() + decision.retry_after
        self._refuse_if_blocked(address)

    async def _check_rate(self, principal: Principal) -> None:
        limit = principal.rate_limit_per_minute or self.default_rate_limit
        decision = await self.rate_limiter.hit(principal.key_id, limit)
        if not decision.allowed:
            self.metrics.rate_limited.inc()
            raise RateLimited(
                f"rate limit of {limit} requests per minute exceeded for this key; retry in {decision.retry_after} s",
                retry_after=decision.retry_after,
            )


def _client_address(scope: Scope) -> str:
    """The client's address (behind a proxy: as uvicorn's --forwarded-allow-ips makes it)."""
    client = scope.get("client")
    return str(client[0]) if client else "unknown"


def _bearer_token(scope: Scope) -> str | None:
    name: bytes
    value: bytes
    for name, value in scope["headers"]:
        if name == b"authorization":
            scheme, _, token = value.decode("latin-1").partition(" ")
            if scheme.lower() == "bearer" and token.strip():
                return token.strip()
            return None
    return None


async def _reject(scope: Scope, receive: Receive, send: Send, exc: ShipyardError) -> None:
    scope.setdefault("state", {})["error"] = (exc.code, exc.message)
    headers: dict[str, str] = {}
    if isinstance(exc, RateLimited):
        headers["Retry-After"] = str(exc.retry_after)
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    response = error_response(None, exc.http_status, exc.code, exc.message, headers=headers, path=scope["path"])
    await response(scope, receive, send)
