"""Pure ASGI middleware (no BaseHTTPMiddleware: it costs a task and a copy per request).

`TelemetryMiddleware` wraps everything: trace id, timing, metrics and the request-log row.
`InputLimitsMiddleware` refuses bodies over the configured size with 413, JSON nested past
`limits.MAX_JSON_DEPTH` with 400, and NUL characters in
the path, the query or a JSON body with 400: PostgreSQL cannot store them in text (nor in jsonb),
so refusing them at the edge keeps both stores alike and turns a 500 into a clear error.
(Files uploaded as bytes may hold NULs; the loaders remove them from the text they extract.)
"""

from __future__ import annotations

import random
import re
import time
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shipyard.api.errors import EdgeRefusal, error_response
from shipyard.errors import InvalidInput, NestingTooDeep, PayloadTooLarge
from shipyard.limits import check_json_depth
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


class InputLimitsMiddleware:
    """Size, NUL characters and JSON nesting (`limits.MAX_JSON_DEPTH`), checked as the body streams
    in, with one `receive` wrapper: nothing happens unless a route reads its body. Errors leave
    `receive` as an `EdgeRefusal` (FastAPI turns anything else raised while it reads a body into a
    generic 400) and are answered in the route's own error shape (OpenAI's, the protocols')."""

    def __init__(self, app: ASGIApp, *, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if "\x00" in scope["path"] or b"%00" in scope["query_string"]:
            await _refuse(scope, receive, send, 400, InvalidInput.code, NUL_MESSAGE)
            return
        chunked = sized = False
        json_body = True  # no content type: checked as JSON too (the inference routes parse any body)
        for name, value in scope["headers"]:
            if name == b"transfer-encoding":
                chunked = True
            elif name == b"content-type":
                json_body = _is_json(value)
            elif name == b"content-length":
                sized = value != b"0"
                if value.isdigit() and int(value) > self.max_bytes:
                    # Refused before the app runs, so answer here (its handlers never see it).
                    await _refuse(
                        scope, receive, send, PayloadTooLarge.http_status, PayloadTooLarge.code, self._message()
                    )
                    return
        if not chunked and not (sized and json_body):
            # With a Content-Length (checked above) the server never passes more bytes than it
            # announced; without one and not chunked there is no body (RFC 9112 §6.3).
            await self.app(scope, receive, send)
            return
        received = 0
        chunks: list[bytes] = []  # a JSON body's chunks so far, for the nesting check at its end

        async def checked_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                body = message.get("body", b"")
                received += len(body)
                if chunked and received > self.max_bytes:
                    raise EdgeRefusal(413, PayloadTooLarge.code, self._message())
                if json_body:
                    # The last bytes of the previous chunk too: an escape may span two chunks.
                    if _has_nul_escape(chunks[-1][-16:] + body if chunks else body):
                        raise EdgeRefusal(400, InvalidInput.code, NUL_MESSAGE)
                    chunks.append(body)
                    if not message.get("more_body", False):
                        whole = chunks[0] if len(chunks) == 1 else b"".join(chunks)
                        chunks.clear()
                        try:
                            check_json_depth(whole)
                        except NestingTooDeep as exc:
                            raise EdgeRefusal(exc.http_status, exc.code, exc.message) from None
            return message

        await self.app(scope, checked_receive, send)

    def _message(self) -> str:
        return f"request body is larger than the limit of {self.max_bytes} bytes (SHIPYARD_MAX_BODY_BYTES)"


NUL_MESSAGE = "text may not contain NUL characters (\\u0000): neither store can keep them"
_NUL_ESCAPE = re.compile(rb"(?<!\\)(?:\\\\)*\\u0000")


def _is_json(content_type: bytes) -> bool:
    """What FastAPI parses as JSON: `application/json` or `application/*+json`."""
    media = content_type.split(b";", 1)[0].strip().lower()
    return media == b"application/json" or (media.startswith(b"application/") and media.endswith(b"+json"))


def _has_nul_escape(body: bytes) -> bool:
    """Whether a JSON text holds the escape \\u0000 (not an escaped backslash before "u0000")."""
    return b"\\u0000" in body and _NUL_ESCAPE.search(body) is not None


async def _refuse(scope: Scope, receive: Receive, send: Send, status: int, code: str, message: str) -> None:
    scope.setdefault("state", {})["error"] = (code, message)
    await error_response(None, status, code, message, path=scope["path"])(scope, receive, send)
