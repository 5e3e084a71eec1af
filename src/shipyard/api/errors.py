"""One error envelope for every failure: `{"error": {"code", "message"[, "details"]}}`."""

from __future__ import annotations

import math
import traceback
from typing import Any

import structlog
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard.errors import NestingTooDeep, ShipyardError, Unauthenticated
from shipyard.limits import MAX_JSON_DEPTH
from shipyard.specs import error_message

log = structlog.get_logger(__name__)

# The OpenAI-compatible routes answer errors in OpenAI's shape (a superset of ours).
OPENAI_PATHS = frozenset({"/v1/chat/completions", "/v1/models", "/v1/embeddings"})

_HTTP_CODES = {
    400: "bad_request",
    401: "unauthenticated",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
}


def error_response(
    request: Request | None,
    status: int,
    code: str,
    message: str,
    *,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
    path: str | None = None,
) -> JSONResponse:
    """The JSON error body; also notes the error on the request for the request log."""
    if request is not None:
        request.state.error = (code, message)
        path = request.url.path
    protocol = _protocol_body(path or "", status, message)
    if protocol is not None:
        return JSONResponse(protocol, status_code=status, headers=headers)
    body: dict[str, Any] = {"code": code, "message": message}
    if path in OPENAI_PATHS:
        # OpenAI's envelope has these two too; its clients read `message` either way.
        body["type"] = "invalid_request_error" if status < 500 else "api_error"
        body["param"] = None
    if details:
        body["details"] = details
    return JSONResponse({"error": body}, status_code=status, headers=headers)


# MLflow's scoring server answers errors as {"error_code", "message"}, with its error codes.
_MLFLOW_CODES = {400: "BAD_REQUEST", 401: "UNAUTHENTICATED", 403: "PERMISSION_DENIED", 404: "RESOURCE_DOES_NOT_EXIST",
                 422: "BAD_REQUEST", 429: "REQUEST_LIMIT_EXCEEDED", 503: "TEMPORARILY_UNAVAILABLE"}  # fmt: skip


def _protocol_body(path: str, status: int, message: str) -> dict[str, Any] | None:
    """The error shape of the inference protocol `path` belongs to, or None for shipyard's own."""
    if path.startswith("/v2/") or (path.startswith("/v1/models/") and path.endswith(":predict")):
        return {"error": message}  # Open Inference Protocol v2 and KServe V1
    if path == "/invocations" or (path.startswith("/deployments/") and path.endswith("/invocations")):
        return {"error_code": _MLFLOW_CODES.get(status, "INTERNAL_ERROR"), "message": message}
    return None


async def _shipyard_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, ShipyardError)
    headers: dict[str, str] = {}
    retry_after = getattr(exc, "retry_after", None)  # RateLimited, and upstream errors that know it
    if retry_after is not None:
        headers["Retry-After"] = str(math.ceil(retry_after))
    if isinstance(exc, Unauthenticated):
        headers["WWW-Authenticate"] = "Bearer"
    if exc.http_status >= 500:
        log.error("request_failed", code=exc.code, error=exc.message)
    return error_response(request, exc.http_status, exc.code, exc.message, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = list(exc.errors())
    if any(error.get("type") == "json_invalid" for error in errors):
        reason = errors[0].get("ctx", {}).get("error", "invalid JSON")
        return error_response(request, 400, "malformed_json", f"request body is not valid JSON: {reason}")
    details = [{"loc": [str(part) for part in error["loc"]], "msg": error["msg"]} for error in errors]
    summary = "; ".join(error_message(error) for error in errors[:5])
    return error_response(request, 422, "invalid_request", f"invalid request: {summary}", details=details)


class EdgeRefusal(StarletteHTTPException):
    """Raised by middleware while a body streams in (HTTPException passes FastAPI's body parsing
    unchanged), with shipyard's error code."""

    def __init__(self, status_code: int, code: str, message: str) -> None:
        super().__init__(status_code, message)
        self.code = code


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = getattr(exc, "code", None) or _HTTP_CODES.get(exc.status_code, "http_error")
    message = str(exc.detail)
    if exc.status_code == 404 and message == "Not Found":
        message = f"no route {request.method} {request.url.path}"
    return error_response(request, exc.status_code, code, message, headers=dict(exc.headers or {}))


async def _recursion_error(request: Request, exc: Exception) -> JSONResponse:
    """A backstop, not the limit: JSON bodies are refused past MAX_JSON_DEPTH before any code
    walks them, so this catches the inputs nested some other way (a template's expressions).
    Overflowing the interpreter's stack is decided by how deep the input nests, so the same call
    always fails and only the caller can change it: a 400, which clients do not retry and which
    does not count as a server error. Where it recursed is logged in case the recursion was ours
    (not the whole traceback: a thousand frames take seconds to render)."""
    frames = list(traceback.walk_tb(exc.__traceback__))
    where = [f"{frame.f_code.co_filename}:{line} {frame.f_code.co_name}" for frame, line in frames[-3:]]
    log.warning("input_too_deep", path=request.url.path, frames=len(frames), where=where)
    message = (
        "the input is nested too deeply to process; send it flatter "
        f"(JSON bodies may nest at most {MAX_JSON_DEPTH} levels of arrays and objects)"
    )
    return error_response(request, NestingTooDeep.http_status, NestingTooDeep.code, message)


async def _unexpected_error(request: Request, exc: Exception) -> JSONResponse:
    trace_id = getattr(request.state, "trace_id", "")
    log.exception("unhandled_error", error=type(exc).__name__)
    return error_response(
        request,
        500,
        "internal_error",
        f"internal error; the server log has the details under trace {trace_id}",
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(ShipyardError, _shipyard_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RecursionError, _recursion_error)
    app.add_exception_handler(Exception, _unexpected_error)
