from __future__ import annotations

from fastapi import APIRouter, status

from shipyard.api.deps import AdminDep, ServicesDep
from shipyard.api.schemas import ProjectCreate, ProjectPublic

router = APIRouter(prefix="/v1/projects", tags=["projects"])


@router.get("", operation_id="list_projects")
def list_projects(_: AdminDep, services: ServicesDep) -> list[ProjectPublic]:
    return [ProjectPublic.model_validate(p) for p in services.access.list_projects()]


@router.post("", operation_id="create_project", status_code=status.HTTP_201_CREATED)
def create_project(body: ProjectCreate, _: AdminDep, services: ServicesDep) -> ProjectPublic:
    return ProjectPublic.model_validate(services.access.create_project(body.name))
