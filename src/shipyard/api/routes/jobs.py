from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status

from shipyard.api.deps import authorize, handlers_of, jobs_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, JobCreate, PageOf
from shipyard.auth import Role
from shipyard.jobs import JobStatus
from shipyard.paging import MAX_PAGE_SIZE
from shipyard.schemas.jobs import JobPublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/jobs", tags=["jobs"], responses=ERROR_RESPONSES)


@router.get("", operation_id="list_jobs")
def list_jobs(
    request: Request,
    status: JobStatus | None = None,
    kind: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: str | None = None,
) -> PageOf[JobPublic]:
    """Jobs of the caller's project, newest first."""
    principal = authorize(request, Role.VIEWER)
    page = jobs_of(request).list(principal.project_id, status=status, kind=kind, limit=limit, cursor=cursor)
    return PageOf[JobPublic](data=[JobPublic.model_validate(j) for j in page.items], next_cursor=page.next_cursor)


@router.get("/{job_id}", operation_id="get_job")
def get_job(request: Request, job_id: str) -> JobPublic:
    """One job with its progress (done/total, message), result or error."""
    principal = authorize(request, Role.VIEWER)
    return JobPublic.model_validate(jobs_of(request).get(principal.project_id, job_id))


@router.post("", operation_id="create_job", status_code=status.HTTP_202_ACCEPTED)
def create_job(request: Request, body: JobCreate) -> JobPublic:
    """Enqueue a job of a registered kind in the caller's project (operators)."""
    principal = authorize(request, Role.ADMIN)
    handlers_of(request).require(body.kind)
    job = jobs_of(request).enqueue(
        principal.project_id, body.kind, body.payload, dedupe_key=body.dedupe_key, max_attempts=body.max_attempts
    )
    return JobPublic.model_validate(job)
