"""The model registry over HTTP (`/v1/registry/models`): versions with metrics, aliases, tags,
approvals. (`/v1/models` is the OpenAI-compatible model list, so the registry lives here.)"""

from __future__ import annotations

from anyio import to_thread
from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from shipyard.api.deps import authorize, model_server_of, registry_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.auth import Role
from shipyard.limits import MAX_NOTE_CHARS, StoreInt
from shipyard.models.registry import MAX_TAG_KEY_CHARS, MAX_TAG_VALUE_CHARS
from shipyard.schemas.registry import ModelVersionPublic, RegisteredModelPublic

router = APIRouter(
    route_class=PrefixedRoute, prefix="/v1/registry/models", tags=["registry"], responses=ERROR_RESPONSES
)


class AliasMove(BaseModel):
    model_config = ConfigDict(extra="forbid")
    version: StoreInt


class Decision(BaseModel):
    model_config = ConfigDict(extra="forbid")
    reason: str | None = Field(default=None, json_schema_extra={"maxLength": MAX_NOTE_CHARS})


class TagSet(BaseModel):
    """The bounds are `ModelRegistry.set_tag`'s (a 400 in its words); shown here only."""

    model_config = ConfigDict(extra="forbid")
    key: str = Field(json_schema_extra={"minLength": 1, "maxLength": MAX_TAG_KEY_CHARS})
    value: str = Field(json_schema_extra={"maxLength": MAX_TAG_VALUE_CHARS})


@router.get("", operation_id="list_registered_models")
async def list_models(request: Request) -> list[RegisteredModelPublic]:
    principal = authorize(request, Role.VIEWER)
    models = await to_thread.run_sync(registry_of(request).models, principal.project_id)
    return [RegisteredModelPublic.of(m) for m in models]


@router.get("/{model}/versions", operation_id="list_model_versions")
async def list_versions(request: Request, model: str) -> list[ModelVersionPublic]:
    """Every version, newest first, with its run's metrics and params and its approval."""
    principal = authorize(request, Role.VIEWER)
    versions = await to_thread.run_sync(registry_of(request).versions, principal.project_id, model)
    return [ModelVersionPublic.of(v) for v in versions]


@router.get("/{model}/versions/{ref}", operation_id="get_model_version")
async def get_version(request: Request, model: str, ref: str) -> ModelVersionPublic:
    """One version by number or alias (`/versions/3`, `/versions/champion`)."""
    principal = authorize(request, Role.VIEWER)
    version = await to_thread.run_sync(registry_of(request).version, principal.project_id, model, ref)
    return ModelVersionPublic.of(version)


@router.put("/{model}/aliases/{alias}", operation_id="set_model_alias")
async def set_alias(request: Request, model: str, alias: str, body: AliasMove) -> ModelVersionPublic:
    """Point an alias at a version. A deployed alias only moves to an approved version, and every
    deployment serving it hot-swaps to that version."""
    principal = authorize(request, Role.EDITOR)
    version = await to_thread.run_sync(
        lambda: registry_of(request).set_alias(principal.project_id, model, alias, body.version, by=principal.key_name)
    )
    await model_server_of(request).sync_now()
    return ModelVersionPublic.of(version)


@router.delete("/{model}/aliases/{alias}", operation_id="delete_model_alias", status_code=204)
async def delete_alias(request: Request, model: str, alias: str) -> None:
    principal = authorize(request, Role.EDITOR)
    registry = registry_of(request)
    await to_thread.run_sync(lambda: registry.delete_alias(principal.project_id, model, alias, by=principal.key_name))


@router.post("/{model}/versions/{version}/tags", operation_id="set_model_version_tag", status_code=204)
async def set_tag(request: Request, model: str, version: StoreInt, body: TagSet) -> None:
    principal = authorize(request, Role.EDITOR)
    registry = registry_of(request)
    await to_thread.run_sync(
        lambda: registry.set_tag(principal.project_id, model, version, body.key, body.value, by=principal.key_name)
    )


@router.post("/{model}/versions/{version}/approve", operation_id="approve_model_version")
async def approve(request: Request, model: str, version: StoreInt, body: Decision | None = None) -> ModelVersionPublic:
    """Approve a version for production traffic (recorded with who, when and why)."""
    principal = authorize(request, Role.EDITOR)
    registry = registry_of(request)
    reason = body.reason if body else None
    found = await to_thread.run_sync(
        lambda: registry.approve(principal.project_id, model, version, by=principal.key_name, reason=reason)
    )
    return ModelVersionPublic.of(found)


@router.post("/{model}/versions/{version}/reject", operation_id="reject_model_version")
async def reject(request: Request, model: str, version: StoreInt, body: Decision) -> ModelVersionPublic:
    """Reject a version (a reason is required); it can no longer take production traffic."""
    principal = authorize(request, Role.EDITOR)
    registry = registry_of(request)
    found = await to_thread.run_sync(
        lambda: registry.reject(principal.project_id, model, version, by=principal.key_name, reason=body.reason or "")
    )
    return ModelVersionPublic.of(found)
