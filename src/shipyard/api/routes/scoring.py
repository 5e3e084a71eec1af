"""MLflow's scoring protocol (what `mlflow models serve` speaks), per deployment.

`POST /deployments/{name}/invocations` takes exactly one of `dataframe_split`,
`dataframe_records`, `instances`, `inputs` (plus optional `params`), or a CSV body, and answers
`{"predictions": […]}`; `/ping`, `/health` and `/version` are there for probes and clients.
The bare `/invocations` serves SHIPYARD_SERVE_DEPLOYMENT, or the project's only deployment, so
a client written for `mlflow models serve` only needs the new URL and an API key.
"""

from __future__ import annotations

import io
import json
from importlib import metadata
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response

from shipyard.api.deps import authorize, model_server_of, settings_of
from shipyard.api.routes.inference import _PROTOCOL_ERRORS, prediction_headers, read_json
from shipyard.api.routing import PrefixedRoute
from shipyard.auth import Role
from shipyard.models import InputSchema
from shipyard.models.errors import DeploymentNotFound, InvalidPayload

router = APIRouter(route_class=PrefixedRoute, tags=["inference"])

FORMATS = ("dataframe_split", "dataframe_records", "instances", "inputs")


@router.get("/ping", operation_id="mlflow_ping", response_class=PlainTextResponse)
@router.get("/health", operation_id="mlflow_health", response_class=PlainTextResponse)
def ping() -> str:
    return "\n"


@router.get("/version", operation_id="mlflow_version", response_class=PlainTextResponse)
def version() -> str:
    """The MLflow version models are loaded with (what MLflow's scoring server reports)."""
    return metadata.version("mlflow")


@router.get("/deployments/{name}/ping", operation_id="mlflow_deployment_ping", responses=_PROTOCOL_ERRORS)
def deployment_ping(request: Request, name: str) -> Response:
    principal = authorize(request, Role.VIEWER)
    runtime = model_server_of(request).runtime(principal.project_id, name)
    return PlainTextResponse("\n", status_code=200 if runtime.ready else 503)


@router.post("/invocations", operation_id="mlflow_invocations", responses=_PROTOCOL_ERRORS)
async def invocations(request: Request) -> Response:
    principal = authorize(request, Role.VIEWER)
    name = settings_of(request).api.serve_deployment
    if name is None:
        names = model_server_of(request).names(principal.project_id)
        if len(names) != 1:
            raise DeploymentNotFound(
                "/invocations serves the project's only deployment, but it has "
                f"{len(names)} ({', '.join(names) or 'none'}): use /deployments/NAME/invocations "
                "or set SHIPYARD_SERVE_DEPLOYMENT"
            )
        name = names[0]
    return await _score(request, name)


@router.post(
    "/deployments/{name}/invocations", operation_id="mlflow_deployment_invocations", responses=_PROTOCOL_ERRORS
)
async def deployment_invocations(request: Request, name: str) -> Response:
    return await _score(request, name)


async def _score(request: Request, name: str) -> Response:
    principal = authorize(request, Role.VIEWER)
    content_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    params: dict[str, Any] | None = None
    if content_type == "text/csv":
        to_frame = _csv(await request.body())
    elif content_type in ("application/json", ""):
        body = await read_json(request)
        to_frame, params = _json(body)
    else:
        return JSONResponse(
            {
                "error_code": "BAD_REQUEST",
                "message": f"content type {content_type!r} is not supported; use application/json or text/csv",
            },
            status_code=415,
        )
    prediction = await model_server_of(request).predict(
        principal.project_id, name, to_frame, key=request.headers.get("x-request-key"), params=params
    )
    return Response(
        json.dumps({"predictions": prediction.outputs}),
        media_type="application/json",
        headers=prediction_headers(prediction),
    )


def _json(body: Any) -> tuple[Any, dict[str, Any] | None]:
    if not isinstance(body, dict):
        raise InvalidPayload(f"the body must be a JSON object with one of: {', '.join(FORMATS)}")
    given = [key for key in FORMATS if key in body]
    unknown = [key for key in body if key not in (*FORMATS, "params")]
    if len(given) != 1 or unknown:
        found = ", ".join(given + unknown) or "none of them"
        raise InvalidPayload(f"give exactly one of {', '.join(FORMATS)} (and optionally params); got {found}")
    params = body.get("params")
    if params is not None and not isinstance(params, dict):
        raise InvalidPayload("params must be an object")
    kind, payload = given[0], body[given[0]]
    if kind == "dataframe_split":
        return (lambda schema: _split(schema, payload)), params
    if kind == "inputs" and isinstance(payload, dict):
        return (lambda schema: schema.from_columns(_columns(payload))), params
    return (lambda schema: schema.from_records(payload)), params


def _columns(payload: dict[str, Any]) -> dict[str, list[Any]]:
    return {name: values if isinstance(values, list) else [values] for name, values in payload.items()}


def _split(schema: InputSchema, payload: Any) -> Any:
    if not isinstance(payload, dict) or not isinstance(payload.get("data"), list):
        raise InvalidPayload("dataframe_split must be an object with 'data' (a list of rows) and 'columns'")
    columns = payload.get("columns") or schema.names
    rows = payload["data"]
    for index, row in enumerate(rows):
        if not isinstance(row, list) or len(row) != len(columns):
            raise InvalidPayload(
                f"dataframe_split.data[{index}] must be a list of {len(columns)} values "
                f"({', '.join(map(str, columns))})"
            )
    return schema.from_columns({str(c): [row[i] for row in rows] for i, c in enumerate(columns)})


def _csv(body: bytes) -> Any:
    import pandas as pd

    try:
        frame = pd.read_csv(io.BytesIO(body))
    except (ValueError, pd.errors.ParserError) as exc:
        raise InvalidPayload(f"the CSV body cannot be read: {exc}") from None
    data = {str(c): frame[c].tolist() for c in frame.columns}
    return lambda schema: schema.from_columns(data)
