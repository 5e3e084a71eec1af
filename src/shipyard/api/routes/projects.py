from __future__ import annotations

from fastapi import APIRouter, Request, status

from shipyard.api.deps import access_of, authorize
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, ProjectCreate
from shipyard.auth import Role
from shipyard.schemas.access import ProjectPublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/projects", tags=["projects"], responses=ERROR_RESPONSES)


@router.get("", operation_id="list_projects")
def list_projects(request: Request) -> list[ProjectPublic]:
    authorize(request, Role.ADMIN)
    return [ProjectPublic.model_validate(p) for p in access_of(request).list_projects()]


@router.post("", operation_id="create_project", status_code=status.HTTP_201_CREATED)
def create_project(request: Request, body: ProjectCreate) -> ProjectPublic:
    authorize(request, Role.ADMIN)
    return ProjectPublic.model_validate(access_of(request).create_project(body.name))
