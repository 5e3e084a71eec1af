from __future__ import annotations

from fastapi import APIRouter, Request, status

from shipyard.api.deps import access_of, authorize
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.auth import Role
from shipyard.auth.service import KeySpec
from shipyard.schemas.access import KeyCreated, KeyPublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/keys", tags=["keys"], responses=ERROR_RESPONSES)


@router.get("", operation_id="list_keys")
def list_keys(request: Request, project: str | None = None, include_revoked: bool = False) -> list[KeyPublic]:
    """Keys of one project (by name), or of all projects."""
    authorize(request, Role.ADMIN)
    keys = access_of(request).list_keys(project, include_revoked=include_revoked)
    return [KeyPublic.model_validate(k) for k in keys]


@router.post("", operation_id="create_key", status_code=status.HTTP_201_CREATED)
def create_key(request: Request, body: KeySpec) -> KeyCreated:
    """Create a key; the response holds the secret, which is never shown again."""
    authorize(request, Role.ADMIN)
    created = access_of(request).add_key(body)
    return KeyCreated.of(created)


@router.delete("/{key_id}", operation_id="revoke_key")
def revoke_key(request: Request, key_id: str) -> KeyPublic:
    """Revoke a key (idempotent)."""
    authorize(request, Role.ADMIN)
    return KeyPublic.model_validate(access_of(request).revoke_key(key_id))
