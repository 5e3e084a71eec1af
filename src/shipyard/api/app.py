"""The app factory. Nothing is built at import time; the lifespan owns every resource."""

from __future__ import annotations

import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import structlog
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from fastapi.routing import APIRoute

from shipyard import __version__
from shipyard.api.auth import AuthMiddleware, is_protected
from shipyard.api.errors import install_error_handlers
from shipyard.api.middleware import InputLimitsMiddleware, TelemetryMiddleware
from shipyard.api.openai_schemas import ChatCompletionRequest
from shipyard.api.routes import (
    alerts,
    ask,
    budgets,
    chat,
    collections,
    deployments,
    documents,
    events,
    health,
    inference,
    jobs,
    keys,
    me,
    monitors,
    projects,
    prompts,
    registry,
    requests,
    scoring,
    search,
    traces,
)
from shipyard.api.schemas import IngestRequest
from shipyard.platform import Platform, build_platform
from shipyard.settings import Settings, get_settings

log = structlog.get_logger(__name__)

# How long a thread may hold the GIL while another waits (CPython's default is 5 ms). The event
# loop waits for the GIL after each of its I/O calls, so while CPU-bound threads run (a tenant's
# template render, a model's predict, a PDF's parsing) every request paid up to a switch interval
# per I/O call: a project's 4 slow renders put another project's render + list at 0.8-2.4 s;
# at 1 ms, 0.13-0.5 s (tests/prompts/test_render_limits.py). Set for the process the API runs in.
SWITCH_INTERVAL_SECONDS = 0.001


def create_app(settings: Settings | None = None, services: Platform | None = None) -> FastAPI:
    """Build the API. Pass `services` (a built platform) to share it (tests, embedding); else it
    is built here. The lifespan runs it."""
    settings = settings or (services.settings if services else get_settings())
    services = services or build_platform(settings)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        assert services is not None
        sys.setswitchinterval(SWITCH_INTERVAL_SECONDS)
        async with services.arunning(worker=settings.jobs.worker_in_process, serving=True):
            log.info("api_started", store=services.database.printable_url, worker=settings.jobs.worker_in_process)
            if settings.security.secret_key is None and services.database.dialect != "sqlite":
                log.warning("secrets_stored_unencrypted",
                            fix="set SHIPYARD_SECRET_KEY (`shipyard secret-key` makes one)")  # fmt: skip
            yield
        log.info("api_stopped")

    app = FastAPI(
        title="shipyard",
        version=__version__,
        summary="Self-hosted platform for running AI in production.",
        lifespan=lifespan,
        generate_unique_id_function=_operation_id,
        # shipyard instruments itself (OTel-named HTTP metrics, request log, trace ids); FastAPI's
        # native OpenTelemetry hooks would be a second, unconfigured copy that still looks up the
        # global providers on every request (~3 µs, bench/api_overhead.py).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.platform = services
    install_error_handlers(app)
    # Starlette tries routes in order; each that misses costs ~0.3 µs (a `PrefixedRoute`; 0.7 µs
    # as a plain APIRoute, when MLflow invocations, 100th, paid ~70 µs a prediction). The data
    # plane comes first — the OpenAI API, model serving, ask, search — then the control plane,
    # and FastAPI's own docs routes last. No two routes of different routers match one path
    # (tests/api/test_routes.py), so the order decides speed only, never which route answers.
    routers = (
        chat.router,
        scoring.router,
        inference.router,
        ask.router,
        search.router,
        health.router,
        me.router,
        projects.router,
        keys.router,
        jobs.router,
        requests.router,
        collections.router,
        documents.router,
        prompts.router,
        traces.router,
        budgets.router,
        registry.router,
        deployments.router,
        monitors.router,
        alerts.router,
        events.router,
    )
    documentation = list(app.router.routes)  # /openapi.json, /docs, /redoc: added by FastAPI()
    # Flattened into the app instead of include_router(): FastAPI now wraps included routers in a
    # matching layer that cost ~11 µs a request. Routers carry their own prefixes.
    app.router.routes[:] = [route for router in routers for route in router.routes] + documentation
    # Added last = outermost. Telemetry sees every response (401s, 429s and 413s too); a caller
    # without a valid key is refused before its body is read.
    app.add_middleware(InputLimitsMiddleware, max_bytes=settings.api.max_body_bytes)
    app.add_middleware(
        AuthMiddleware,
        access=services.access,
        rate_limiter=services.rate_limiter,
        default_rate_limit=settings.api.rate_limit_per_minute,
        metrics=services.metrics,
        failures_per_minute=settings.api.auth_failures_per_minute,
    )
    app.add_middleware(TelemetryMiddleware, metrics=services.metrics, request_log=services.request_log)
    app.openapi = lambda: _openapi_with_bearer_auth(app)  # type: ignore[method-assign]
    return app


def _openapi_with_bearer_auth(app: FastAPI) -> dict[str, Any]:
    """The OpenAPI schema, declaring the API-key scheme that AuthMiddleware enforces."""
    if app.openapi_schema is None:
        schema = get_openapi(title=app.title, version=app.version, summary=app.summary, routes=app.routes)
        # Bodies a route parses itself (JSON or multipart ingestion) are described in its
        # openapi_extra by reference: their schemas must be in the document too.
        components = schema.setdefault("components", {}).setdefault("schemas", {})
        for model in (IngestRequest, ChatCompletionRequest):
            definition = model.model_json_schema(ref_template="#/components/schemas/{model}")
            components.update(definition.pop("$defs", {}))
            components[model.__name__] = definition
        schema.setdefault("components", {})["securitySchemes"] = {
            "apiKey": {"type": "http", "scheme": "bearer", "description": "An API key: `Authorization: Bearer sy_…`"}
        }
        for path, operations in schema["paths"].items():
            if is_protected(path):
                for operation in operations.values():
                    operation["security"] = [{"apiKey": []}]
        app.openapi_schema = schema
    return app.openapi_schema


def _operation_id(route: APIRoute) -> str:
    """Stable operation ids (the SDK is generated from them): the route's explicit id or its name."""
    return route.operation_id or route.name
