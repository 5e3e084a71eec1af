"""Deployments over HTTP: create, canary, shadow, promote, rollback; logged predictions and labels."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from anyio import to_thread
from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from shipyard.api.deps import authorize, deployments_of, model_server_of, predictions_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, PageOf
from shipyard.auth import Role
from shipyard.limits import MAX_NOTE_CHARS, StoreInt
from shipyard.models import DEFAULT_ALIAS, Deployment, ServingOptions
from shipyard.models.deployments import CanarySpec
from shipyard.models.predictions import MAX_LABELS_PER_CALL
from shipyard.names import Named
from shipyard.schemas.deployments import DeploymentPublic, PredictionPublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/deployments", tags=["deployments"], responses=ERROR_RESPONSES)


class DeploymentOptions(BaseModel):
    """`ServingOptions` over HTTP: its defaults, and its own check (`checked()`) of the bounds."""

    model_config = ConfigDict(extra="forbid")
    max_batch_size: int = ServingOptions.max_batch_size
    max_wait_ms: float = ServingOptions.max_wait_ms
    log_sample_rate: float = ServingOptions.log_sample_rate

    def options(self) -> ServingOptions:
        return ServingOptions(self.max_batch_size, self.max_wait_ms, self.log_sample_rate)


class DeploymentCreate(DeploymentOptions):
    name: Annotated[str, Named("deployment")]
    model: str
    alias: str = DEFAULT_ALIAS


class ShadowSet(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: StoreInt


class Rollback(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, json_schema_extra={"maxLength": MAX_NOTE_CHARS})


class Label(BaseModel):
    model_config = ConfigDict(extra="forbid")
    prediction_id: str
    label: Any


class Labels(BaseModel):
    model_config = ConfigDict(extra="forbid")
    # Checked by add_labels (a 400 for every caller); shown here.
    labels: list[Label] = Field(json_schema_extra={"minItems": 1, "maxItems": MAX_LABELS_PER_CALL})


class LabelsResult(BaseModel):
    labelled: int
    not_found: list[str]


def _public(request: Request, deployment: Deployment) -> DeploymentPublic:
    runtime = model_server_of(request).current(deployment.project_id, deployment.name)
    return DeploymentPublic.of(deployment, runtime)


@router.post("", operation_id="create_deployment", status_code=status.HTTP_201_CREATED)
async def create_deployment(request: Request, body: DeploymentCreate) -> DeploymentPublic:
    """Serve `model@alias` under `name` (the version must be approved); loads it before answering."""
    principal = authorize(request, Role.EDITOR)
    options = body.options()
    deployment = await to_thread.run_sync(
        lambda: deployments_of(request).create(
            principal.project_id, body.name, body.model, alias=body.alias, options=options, by=principal.key_name
        )
    )
    await model_server_of(request).sync_now()
    return _public(request, deployment)


@router.get("", operation_id="list_deployments")
def list_deployments(request: Request) -> list[DeploymentPublic]:
    principal = authorize(request, Role.VIEWER)
    return [_public(request, d) for d in deployments_of(request).list(principal.project_id)]


@router.get("/{name}", operation_id="get_deployment")
def get_deployment(request: Request, name: str) -> DeploymentPublic:
    principal = authorize(request, Role.VIEWER)
    return _public(request, deployments_of(request).get(principal.project_id, name))


@router.delete("/{name}", operation_id="delete_deployment", status_code=status.HTTP_204_NO_CONTENT)
async def delete_deployment(request: Request, name: str) -> None:
    principal = authorize(request, Role.EDITOR)
    deployments_of(request).delete(principal.project_id, name, by=principal.key_name)
    await model_server_of(request).sync_now()


async def _change(request: Request, role: Role, action: Any) -> DeploymentPublic:
    principal = authorize(request, role)
    deployment = await to_thread.run_sync(lambda: action(deployments_of(request), principal))
    await model_server_of(request).sync_now()
    return _public(request, deployment)


@router.put("/{name}/options", operation_id="configure_deployment")
async def configure(request: Request, name: str, body: DeploymentOptions) -> DeploymentPublic:
    """Batching (max rows per call, max wait) and the prediction-log sample rate."""
    options = body.options()
    return await _change(request, Role.EDITOR, lambda d, p: d.configure(p.project_id, name, options, by=p.key_name))


@router.put("/{name}/canary", operation_id="set_canary")
async def set_canary(request: Request, name: str, body: CanarySpec) -> DeploymentPublic:
    """Send `percent` of the traffic to `version` (sticky per `X-Request-Key`/`key` when given)."""
    return await _change(request, Role.EDITOR, lambda d, p: d.set_canary(p.project_id, name, body, by=p.key_name))


@router.put("/{name}/shadow", operation_id="set_shadow")
async def set_shadow(request: Request, name: str, body: ShadowSet) -> DeploymentPublic:
    """Copy every request to `version`; its answers are logged, never returned."""
    return await _change(
        request, Role.EDITOR, lambda d, p: d.set_shadow(p.project_id, name, body.version, by=p.key_name)
    )


@router.post("/{name}/promote", operation_id="promote_deployment")
async def promote(request: Request, name: str) -> DeploymentPublic:
    """Move the alias to the canary (or shadow) version."""
    return await _change(request, Role.EDITOR, lambda d, p: d.promote(p.project_id, name, by=p.key_name))


@router.post("/{name}/rollback", operation_id="rollback_deployment")
async def rollback(request: Request, name: str, body: Rollback | None = None) -> DeploymentPublic:
    """Drop the canary/shadow; without one, move the alias back to the previous version (still loaded)."""
    reason = body.reason if body else None
    return await _change(
        request, Role.EDITOR, lambda d, p: d.rollback(p.project_id, name, by=p.key_name, reason=reason)
    )


@router.get("/{name}/predictions", operation_id="list_predictions")
def list_predictions(
    request: Request,
    name: str,
    version: StoreInt | None = None,
    role: Literal["champion", "canary", "shadow", "pinned"] | None = None,
    labelled: bool | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
    cursor: str | None = None,
) -> PageOf[PredictionPublic]:
    """Logged predictions, newest first."""
    principal = authorize(request, Role.VIEWER)
    deployments_of(request).get(principal.project_id, name)
    page = predictions_of(request).find(
        principal.project_id, name, version=version, role=role, labelled=labelled, limit=limit, cursor=cursor
    )
    return PageOf(data=[PredictionPublic.of(p) for p in page.items], next_cursor=page.next_cursor)


@router.post("/{name}/labels", operation_id="post_labels")
def post_labels(request: Request, name: str, body: Labels) -> LabelsResult:
    """Ground truth for logged predictions, by prediction id (ids not logged are returned)."""
    principal = authorize(request, Role.EDITOR)
    deployments_of(request).get(principal.project_id, name)
    missing = predictions_of(request).add_labels(
        principal.project_id, name, [(x.prediction_id, x.label) for x in body.labels]
    )
    return LabelsResult(labelled=len(body.labels) - len(missing), not_found=missing)
