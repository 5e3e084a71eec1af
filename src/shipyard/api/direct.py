"""Direct routes, for the hottest paths: the endpoint is the request handler.

An ordinary FastAPI route solves the endpoint's parameters, parses the body with `json.loads`,
validates the Python objects, and validates the return value against `response_model` before it
serialises it. A `DirectRoute` endpoint takes the `Request` and returns a `Response`: it parses
its body with `parsed_body` (the same rules and errors as FastAPI's) and serialises its answer
once. The route still is an `APIRoute` (a `PrefixedRoute`) — matched, named in
metrics, documented in OpenAPI (`json_body` describes the body) and answered by the same error
handlers. On the chat completion path it saves ~130 µs of a call's ~1.2 ms of server CPU
(docs/benchmarks.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from fastapi import Request, Response
from fastapi.exceptions import HTTPException, RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from shipyard.api.routing import PrefixedRoute

M = TypeVar("M", bound=BaseModel)


class DirectRoute(PrefixedRoute):
    """An `APIRoute` whose endpoint, `async (Request) -> Response`, handles the request itself."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        return self.endpoint


async def parsed_body(model: type[M], request: Request) -> M:
    """The request's body as a `model`, refused as FastAPI refuses a body parameter: JSON only
    under a JSON content type, a `RequestValidationError` located as FastAPI's ("body.messages"),
    and any other failure to read or decode it (bad UTF-8, a 5,000-digit number, a client gone
    mid-body) a 400, never a 500."""
    try:
        body = await request.body()
        if not body:
            raise RequestValidationError([{"type": "missing", "loc": ("body",), "msg": "Field required"}])
        # Under another content type the bytes are refused as not an object. FastAPI validates
        # `from_attributes`, hence its words for a list or bytes ("object to extract fields from").
        value = json.loads(body) if _is_json(request.headers.get("content-type")) else body
        return model.model_validate(value, from_attributes=True)
    except json.JSONDecodeError as exc:
        error = {"type": "json_invalid", "loc": ("body", exc.pos), "msg": "JSON decode error"}
        raise RequestValidationError([{**error, "ctx": {"error": exc.msg}}]) from exc
    except ValidationError as exc:
        raise body_errors(exc) from exc
    except (RequestValidationError, StarletteHTTPException):  # the edge's own refusals (api/middleware.py)
        raise
    except Exception as exc:
        raise HTTPException(400, "There was an error parsing the body") from exc


def body_errors(exc: ValidationError) -> RequestValidationError:
    """A body model's errors located as FastAPI's own ("body.documents.0.id"): one error format."""
    return RequestValidationError(
        [{**error, "loc": ("body", *error["loc"])} for error in exc.errors(include_url=False)]
    )


def _is_json(content_type: str | None) -> bool:
    media = (content_type or "").split(";", 1)[0].strip().lower()
    return media == "application/json" or (media.startswith("application/") and media.endswith("+json"))


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route that parses a JSON `model` itself (the app adds the model's
    schema to the document's components)."""
    schema = {"$ref": f"#/components/schemas/{model.__name__}"}
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
