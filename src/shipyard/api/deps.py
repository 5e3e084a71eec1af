"""What every route needs first: the services, and the verified caller with a role check.

Plain functions called on the first line of a handler, not FastAPI `Depends`: resolving even
one dependency cost ~9 µs a request, a seventh of an authenticated call's whole budget
(bench/api_overhead.py). `AuthMiddleware` has already verified the key for every /v1/ route;
`authorize` only reads the result and checks the role.
"""

from __future__ import annotations

from fastapi import Request

from shipyard.auth import Principal, Role
from shipyard.errors import PermissionDenied, Unauthenticated
from shipyard.services import Services


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


def authorize(request: Request, role: Role) -> Principal:
    """The caller (verified by AuthMiddleware) if its key has at least `role`; else 401/403."""
    principal: Principal | None = getattr(request.state, "principal", None)
    if principal is None:  # only a route outside /v1/ can get here
        raise Unauthenticated("missing API key: send 'Authorization: Bearer <key>'")
    if not principal.role.allows(role):
        raise PermissionDenied(f"this needs the {role.value} role; the key has {principal.role.value}")
    return principal
