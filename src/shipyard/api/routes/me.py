from __future__ import annotations

from fastapi import APIRouter, Request

from shipyard.api.deps import authorize
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.auth import Role
from shipyard.schemas.access import MePublic, ProjectRef

router = APIRouter(route_class=PrefixedRoute, prefix="/v1", tags=["auth"], responses=ERROR_RESPONSES)


@router.get("/me", operation_id="get_me")
async def get_me(request: Request) -> MePublic:
    """The calling key: its id, name, role and project."""
    principal = authorize(request, Role.VIEWER)
    return MePublic(
        key_id=principal.key_id,
        key_name=principal.key_name,
        role=principal.role,
        project=ProjectRef(id=principal.project_id, name=principal.project),
    )
