from __future__ import annotations

from fastapi import APIRouter

from shipyard.api.deps import PrincipalDep
from shipyard.api.schemas import MePublic, ProjectRef

router = APIRouter(prefix="/v1", tags=["auth"])


@router.get("/me", operation_id="get_me")
async def get_me(principal: PrincipalDep) -> MePublic:
    """The calling key: its id, name, role and project."""
    return MePublic(
        key_id=principal.key_id,
        key_name=principal.key_name,
        role=principal.role,
        project=ProjectRef(id=principal.project_id, name=principal.project),
    )
