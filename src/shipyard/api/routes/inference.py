"""Model inference in the Open Inference Protocol v2 (KServe v2, Triton, MLServer) and KServe V1.

Models are addressed by deployment name. Each protocol's payload becomes the same checked
DataFrame (models/schema.py), so errors name the offending input the same way everywhere, in
each protocol's own error shape (`{"error": "…"}`). A request may carry `X-Request-Key` to keep
its canary/champion side sticky. The prediction id comes back in `X-Prediction-Id` (and in the
v2 response's `parameters`); ground truth is posted later under it.
"""

from __future__ import annotations

import json
import math
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response

from shipyard import __version__, limits
from shipyard.api.deps import authorize, model_server_of
from shipyard.api.routing import PrefixedRoute
from shipyard.auth import Role
from shipyard.limits import StoreInt
from shipyard.models import InputSchema, Prediction, Runtime
from shipyard.models.errors import InvalidPayload, ModelNotFound, ModelUnavailable
from shipyard.models.schema import OIP_TYPES, TO_OIP

router = APIRouter(route_class=PrefixedRoute, tags=["inference"])

_PROTOCOL_ERRORS: dict[int | str, dict[str, Any]] = {
    code: {"description": text, "content": {"application/json": {"example": {"error": text}}}}
    for code, text in (
        (400, "invalid inputs"),
        (401, "missing or invalid API key"),
        (404, "unknown deployment"),
        (422, "the model rejected the input"),
        (503, "no working model"),
    )
}


async def read_json(request: Request) -> Any:
    """The JSON body, whatever its content type (clients of these protocols often send none),
    held to the same nesting limit as every JSON body (limits.py)."""
    body = await request.body()
    try:
        return limits.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise InvalidPayload(f"request body is not valid JSON: {exc}") from None


def prediction_headers(prediction: Prediction) -> dict[str, str]:
    return {"X-Prediction-Id": prediction.id, "X-Model-Version": str(prediction.version)}


# -- Open Inference Protocol v2 -------------------------------------------------------------------


@router.get("/v2/health/live", operation_id="oip_live")
def live() -> dict[str, bool]:
    return {"live": True}


@router.get("/v2/health/ready", operation_id="oip_ready", responses={503: {"description": "not ready"}})
def ready(request: Request) -> JSONResponse:
    """Ready once this process has loaded every deployment's model."""
    server = model_server_of(request)
    is_ready = server.synced and all(r.ready for r in server.all_runtimes())
    return JSONResponse({"ready": is_ready}, status_code=200 if is_ready else 503)


@router.get("/v2", operation_id="oip_server_metadata")
def server_metadata() -> dict[str, Any]:
    return {"name": "shipyard", "version": __version__, "extensions": []}


@router.get("/v2/models/{name}", operation_id="oip_model_metadata", responses=_PROTOCOL_ERRORS)
@router.get(
    "/v2/models/{name}/versions/{version}", operation_id="oip_model_version_metadata", responses=_PROTOCOL_ERRORS
)
def model_metadata(request: Request, name: str, version: StoreInt | None = None) -> dict[str, Any]:
    """Inputs (from the model's signature), the versions served, and the platform."""
    runtime = _runtime(request, name)
    model = runtime.models.get(version) if version is not None else runtime.champion
    if model is None and version is not None:
        served = ", ".join(str(v) for v in sorted(runtime.models)) or "none"
        raise ModelNotFound(f"deployment {name!r} does not serve version {version}; it serves: {served}")
    if model is None:
        raise ModelUnavailable(f"deployment {name!r} has no working model: {runtime.problem or 'still loading'}")
    return {
        "name": name,
        "versions": [str(v) for v in sorted(runtime.models)],
        "platform": "mlflow",
        "inputs": [
            {"name": c.name, "datatype": TO_OIP.get(c.type, "BYTES"), "shape": [-1]} for c in model.schema.columns
        ],
        "outputs": [{"name": "predict", "datatype": "FP64", "shape": [-1]}],
    }


@router.get("/v2/models/{name}/ready", operation_id="oip_model_ready", responses=_PROTOCOL_ERRORS)
@router.get(
    "/v2/models/{name}/versions/{version}/ready", operation_id="oip_model_version_ready", responses=_PROTOCOL_ERRORS
)
def model_ready(request: Request, name: str, version: StoreInt | None = None) -> JSONResponse:
    runtime = _runtime(request, name)
    is_ready = runtime.ready if version is None else version in runtime.models
    return JSONResponse({"name": name, "ready": is_ready}, status_code=200 if is_ready else 503)


@router.post("/v2/models/{name}/infer", operation_id="oip_infer", responses=_PROTOCOL_ERRORS)
@router.post("/v2/models/{name}/versions/{version}/infer", operation_id="oip_infer_version", responses=_PROTOCOL_ERRORS)
async def infer(request: Request, name: str, version: StoreInt | None = None) -> Response:
    """`{id?, parameters?, inputs: [{name, shape, datatype, data}]}`: one input tensor per column
    (or one [rows, columns] tensor in signature order)."""
    principal = authorize(request, Role.VIEWER)
    body = await read_json(request)
    if not isinstance(body, dict) or not isinstance(body.get("inputs"), list) or not body["inputs"]:
        raise InvalidPayload("the body must be an object with a non-empty 'inputs' list")
    inputs = body["inputs"]
    prediction = await model_server_of(request).predict(
        principal.project_id, name, lambda schema: _oip_frame(schema, inputs), key=_key(request), version=version
    )
    outputs = _oip_outputs(prediction.outputs)
    result = {
        "model_name": name,
        "model_version": str(prediction.version),
        "id": str(body.get("id") or prediction.id),
        "parameters": {"prediction_id": prediction.id, "role": prediction.role},
        "outputs": outputs,
    }
    return Response(json.dumps(result), media_type="application/json", headers=prediction_headers(prediction))


def _oip_frame(schema: InputSchema, inputs: list[Any]) -> Any:
    columns: dict[str, list[Any]] = {}
    for index, tensor in enumerate(inputs):
        if not isinstance(tensor, dict):
            raise InvalidPayload(f"inputs[{index}] must be an object with name, shape, datatype and data")
        missing = [k for k in ("name", "shape", "datatype", "data") if k not in tensor]
        if missing:
            raise InvalidPayload(f"inputs[{index}] has no {missing[0]!r}")
        tensor_name, shape, datatype, data = tensor["name"], tensor["shape"], tensor["datatype"], tensor["data"]
        if not isinstance(shape, list) or not shape or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise InvalidPayload(f"input {tensor_name!r}: shape must be a list of non-negative integers")
        flat = _flatten(data)
        if math.prod(shape) != len(flat):
            raise InvalidPayload(
                f"input {tensor_name!r}: shape {shape} needs {math.prod(shape)} values, got {len(flat)}"
            )
        by_name = {c.name: c for c in schema.columns}
        if tensor_name not in by_name and len(inputs) == 1 and len(shape) == 2 and schema.columns:
            if shape[1] != len(schema.columns):
                raise InvalidPayload(
                    f"input {tensor_name!r}: shape {shape} has {shape[1]} columns; the model takes "
                    f"{len(schema.columns)}: {', '.join(schema.names)}"
                )
            # One tensor has one datatype for columns of several types (FP32 for integer codes
            # too): each column's values are checked instead (an integer column takes 3.0, not 3.5).
            for position, column in enumerate(schema.columns):
                columns[column.name] = flat[position :: shape[1]]
            continue
        if len(shape) > 2 or (len(shape) == 2 and shape[1] != 1):
            raise InvalidPayload(f"input {tensor_name!r}: shape {shape} is not one column ([rows] or [rows, 1])")
        if tensor_name in by_name:
            _check_datatype(tensor_name, by_name[tensor_name].type, datatype)
        columns[str(tensor_name)] = flat
    return schema.from_columns(columns)


def _check_datatype(name: str, column_type: str, datatype: Any) -> None:
    allowed = OIP_TYPES.get(column_type)
    if allowed is not None and datatype not in allowed:
        raise InvalidPayload(
            f"input {name!r}: datatype {datatype!r} does not fit the model's {column_type} column; "
            f"use {TO_OIP[column_type]}"
        )


def _flatten(data: Any) -> list[Any]:
    if not isinstance(data, list):
        raise InvalidPayload("tensor data must be a list")
    if data and isinstance(data[0], list):
        flat: list[Any] = []
        for item in data:
            flat.extend(_flatten(item) if isinstance(item, list) else [item])
        return flat
    return data


def _oip_outputs(values: list[Any]) -> list[dict[str, Any]]:
    if values and all(isinstance(v, dict) for v in values):  # a DataFrame: one tensor per column
        names = list(dict.fromkeys(k for v in values for k in v))
        return [_tensor(str(n), [v.get(n) for v in values]) for n in names]
    return [_tensor("predict", values)]


def _tensor(name: str, values: list[Any]) -> dict[str, Any]:
    shape = [len(values)]
    flat = values
    if values and isinstance(values[0], list):
        shape.append(len(values[0]))
        flat = [x for row in values for x in row]
    kinds = {type(v) for v in flat if v is not None}
    datatype = (
        "BOOL"
        if kinds == {bool}
        else "INT64"
        if kinds == {int}
        else "FP64"
        if kinds <= {int, float} and kinds
        else "BYTES"
    )
    return {"name": name, "shape": shape, "datatype": datatype, "data": flat}


# -- KServe V1 ------------------------------------------------------------------------------------


@router.get("/v1/models/{name}", operation_id="kserve_v1_model_ready", responses=_PROTOCOL_ERRORS)
def v1_model(request: Request, name: str) -> dict[str, Any]:
    runtime = _runtime(request, name)
    return {"name": name, "ready": runtime.ready}


@router.post("/v1/models/{name}:predict", operation_id="kserve_v1_predict", responses=_PROTOCOL_ERRORS)
async def v1_predict(request: Request, name: str) -> Response:
    """`{"instances": [{column: value}, …] or [[v1, v2, …], …]}` → `{"predictions": […]}`."""
    principal = authorize(request, Role.VIEWER)
    body = await read_json(request)
    if not isinstance(body, dict) or "instances" not in body:
        raise InvalidPayload("the body must be an object with an 'instances' list")
    instances = body["instances"]
    prediction = await model_server_of(request).predict(
        principal.project_id, name, lambda schema: schema.from_records(instances), key=_key(request)
    )
    return Response(
        json.dumps({"predictions": prediction.outputs}),
        media_type="application/json",
        headers=prediction_headers(prediction),
    )


def _runtime(request: Request, name: str) -> Runtime:
    principal = authorize(request, Role.VIEWER)
    return model_server_of(request).runtime(principal.project_id, name)


def _key(request: Request) -> str | None:
    return request.headers.get("x-request-key")
