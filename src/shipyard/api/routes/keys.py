from __future__ import annotations

from dataclasses import asdict

from fastapi import APIRouter, status

from shipyard.api.deps import AdminDep, ServicesDep
from shipyard.api.schemas import KeyCreate, KeyCreated, KeyPublic

router = APIRouter(prefix="/v1/keys", tags=["keys"])


@router.get("", operation_id="list_keys")
def list_keys(
    _: AdminDep, services: ServicesDep, project: str | None = None, include_revoked: bool = False
) -> list[KeyPublic]:
    """Keys of one project (by name), or of all projects."""
    keys = services.access.list_keys(project, include_revoked=include_revoked)
    return [KeyPublic.model_validate(k) for k in keys]


@router.post("", operation_id="create_key", status_code=status.HTTP_201_CREATED)
def create_key(body: KeyCreate, _: AdminDep, services: ServicesDep) -> KeyCreated:
    """Create a key; the response holds the secret, which is never shown again."""
    created = services.access.create_key(body.name, body.role, body.project, body.rate_limit_per_minute)
    return KeyCreated(**asdict(created.key), key=created.secret)


@router.delete("/{key_id}", operation_id="revoke_key")
def revoke_key(key_id: str, _: AdminDep, services: ServicesDep) -> KeyPublic:
    """Revoke a key (idempotent)."""
    return KeyPublic.model_validate(services.access.revoke_key(key_id))
