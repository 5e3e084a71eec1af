"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a copy per request).

`TelemetryMiddleware` wraps everything: trace id, timing, metrics and the request-log row.
`BodySizeLimitMiddleware` refuses bodies over the configured size with 413.
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import structlog
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.api.errors import error_response
from shipyard.errors import PayloadTooLarge
from shipyard.store.types import utcnow
from shipyard.telemetry import Metrics, RequestLog, RequestRecord
from shipyard.telemetry.logging import TRACE_ID

log = structlog.get_logger(__name__)

_TRACEPARENT = re.compile(r"^[0-9a-f]{2}-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$")
# Probes and scrapes are not API calls: logging them would bury the calls people look for.
UNLOGGED_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})
UNMATCHED_ROUTE = "unmatched"


class TelemetryMiddleware:
    def __init__(self, app: ASGIApp, *, metrics: Metrics, request_log: RequestLog) -> None:
        self.app = app
        self.metrics = metrics
        self.request_log = request_log

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        trace_id = _trace_id(scope)
        state: dict[str, Any] = scope.setdefault("state", {})
        state["trace_id"] = trace_id
        status = 500

        async def send_with_trace(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", []), (b"x-trace-id", trace_id.encode())]
            await send(message)

        token = TRACE_ID.set(trace_id)
        try:
            await self.app(scope, receive, send_with_trace)
        finally:
            TRACE_ID.reset(token)
            self._record(scope, state, status, time.perf_counter() - started, trace_id)

    def _record(self, scope: Scope, state: dict[str, Any], status: int, seconds: float, trace_id: str) -> None:
        route_obj = scope.get("route")
        route = getattr(route_obj, "path", None) or UNMATCHED_ROUTE
        method = scope["method"]
        self.metrics.observe_request(method, route, status, seconds)
        path = scope["path"]
        if path in UNLOGGED_PATHS:
            return
        principal = state.get("principal")
        error_code, error = state.get("error", (None, None))
        self.request_log.record(
            RequestRecord(
                ts=utcnow(),
                method=method,
                route=route,
                path=path[:500],
                status=status,
                latency_ms=round(seconds * 1000, 3),
                project_id=principal.project_id if principal else None,
                key_id=principal.key_id if principal else None,
                trace_id=trace_id,
                error_code=error_code,
                error=error[:1000] if error else None,
            )
        )
        if status >= 400:
            log.info("request", method=method, route=route, status=status, error_code=error_code, trace_id=trace_id)


def _trace_id(scope: Scope) -> str:
    """The W3C traceparent's trace id when the caller sent one, else a new random one."""
    for name, value in scope["headers"]:
        if name == b"traceparent":
            match = _TRACEPARENT.match(value.decode("latin-1").strip())
            if match and match.group(1) != "0" * 32:
                return match.group(1)
    # Trace ids need uniqueness, not secrecy: getrandbits avoids a syscall per request
    # (as OpenTelemetry's own id generator does).
    return f"{random.getrandbits(128):032x}"


class BodySizeLimitMiddleware:
    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        chunked = False
        for name, value in scope["headers"]:
            if name == b"transfer-encoding":
                chunked = True
            elif name == b"content-length" and value.isdigit() and int(value) > self.max_bytes:
                # Refused before the app runs, so answer here (the app's handlers never see it).
                scope.setdefault("state", {})["error"] = (PayloadTooLarge.code, self._message())
                response = error_response(None, PayloadTooLarge.http_status, PayloadTooLarge.code, self._message())
                await response(scope, receive, send)
                return
        if not chunked:
            # With a Content-Length (checked above) the server never passes more bytes than it
            # announced; without one and not chunked there is no body (RFC 9112 §6.3).
            await self.app(scope, receive, send)
            return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise HTTPException(413, self._message())
            return message

        await self.app(scope, limited_receive, send)

    def _message(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes (SHIPYARD_MAX_BODY_BYTES)"
