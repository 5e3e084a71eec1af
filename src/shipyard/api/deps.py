"""Dependencies shared by the routes: services, the calling principal, role checks."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated

import anyio
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from shipyard.auth import Principal, Role
from shipyard.errors import PermissionDenied, RateLimited
from shipyard.services import Services

_bearer = HTTPBearer(auto_error=False, description="An API key: `Authorization: Bearer sy_…`")


def get_services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


ServicesDep = Annotated[Services, Depends(get_services)]


async def get_principal(
    request: Request,
    services: ServicesDep,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """Verify the key, then count the request against the key's rate limit."""
    secret = credentials.credentials if credentials else None
    principal = await _authenticate(services, secret)
    request.state.principal = principal
    limit = principal.rate_limit_per_minute or services.settings.rate_limit_per_minute
    limiter = services.rate_limiter
    if limiter.is_remote:
        decision = await anyio.to_thread.run_sync(limiter.hit, principal.key_id, limit)
    else:
        decision = limiter.hit(principal.key_id, limit)
    if not decision.allowed:
        services.metrics.rate_limited.inc()
        raise RateLimited(
            f"rate limit of {limit} requests per minute exceeded for this key; retry in {decision.retry_after} s",
            retry_after=decision.retry_after,
        )
    return principal


async def _authenticate(services: Services, secret: str | None) -> Principal:
    if not secret:
        return services.access.authenticate(secret)  # raises Unauthenticated, no I/O
    cached = services.access.cached_principal(secret)
    if cached is not None:
        return cached
    return await anyio.to_thread.run_sync(services.access.authenticate, secret)


PrincipalDep = Annotated[Principal, Depends(get_principal)]


def require(role: Role) -> Callable[[Principal], Awaitable[Principal]]:
    """A dependency that lets through keys with at least `role`, else 403."""

    async def check(principal: PrincipalDep) -> Principal:
        if not principal.role.allows(role):
            raise PermissionDenied(f"this needs the {role.value} role; the key has {principal.role.value}")
        return principal

    return check


ViewerDep = Annotated[Principal, Depends(require(Role.VIEWER))]
EditorDep = Annotated[Principal, Depends(require(Role.EDITOR))]
AdminDep = Annotated[Principal, Depends(require(Role.ADMIN))]
