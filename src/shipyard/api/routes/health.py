"""Liveness, readiness and metrics: unauthenticated, for orchestrators and scrapers."""

from __future__ import annotations

import hmac

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST

from shipyard.api.deps import database_of, metrics_of, settings_of
from shipyard.api.routing import PrefixedRoute
from shipyard.errors import StoreUnavailable, Unauthenticated
from shipyard.store import migration_state

router = APIRouter(route_class=PrefixedRoute, tags=["health"])


@router.get("/healthz", operation_id="healthz")
async def healthz() -> dict[str, str]:
    """Liveness: the process answers. Touches nothing else."""
    return {"status": "ok"}


@router.get("/readyz", operation_id="readyz", responses={503: {"description": "Not ready, with the reason"}})
def readyz(request: Request) -> JSONResponse:
    """Readiness: the store answers and its schema is at the newest migration."""
    try:
        state = migration_state(database_of(request))
    except StoreUnavailable as exc:
        return JSONResponse({"status": "unavailable", "reason": exc.message}, status_code=503)
    if not state.is_current:
        reason = (
            f"database schema is at {state.current or 'nothing'}, this version needs {state.head}: "
            "run `shipyard db upgrade`"
        )
        return JSONResponse({"status": "unavailable", "reason": reason}, status_code=503)
    return JSONResponse({"status": "ok", "schema": state.current})


@router.get("/metrics", operation_id="metrics", response_class=Response)
def metrics(request: Request) -> Response:
    """Prometheus text exposition; with `SHIPYARD_METRICS_TOKEN` set, only for that bearer token.
    Rendered at most once a second however many scrape it."""
    token = settings_of(request).api.metrics_token
    if token is not None:
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        expected = token.get_secret_value()
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.strip().encode(), expected.encode()):
            raise Unauthenticated("/metrics needs 'Authorization: Bearer <SHIPYARD_METRICS_TOKEN>'")
    return Response(
        metrics_of(request).render_cached(settings_of(request).api.metrics_cache_seconds),
        media_type=CONTENT_TYPE_LATEST,
    )
