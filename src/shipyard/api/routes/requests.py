from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query, Request

from shipyard.api.deps import authorize, request_log_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, PageOf
from shipyard.auth import Role
from shipyard.paging import MAX_PAGE_SIZE
from shipyard.schemas.requestlog import RequestPublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/requests", tags=["requests"], responses=ERROR_RESPONSES)


@router.get("", operation_id="list_requests")
def list_requests(
    request: Request,
    status: Annotated[int | None, Query(ge=100, le=599, description="Exact status, e.g. 404.")] = None,
    status_class: Annotated[int | None, Query(ge=1, le=5, description="4 for every 4xx.")] = None,
    route: Annotated[str | None, Query(description="Route template, e.g. /v1/jobs/{job_id}.")] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: str | None = None,
) -> PageOf[RequestPublic]:
    """The caller's project's API calls, newest first."""
    principal = authorize(request, Role.VIEWER)
    page = request_log_of(request).list(
        principal.project_id,
        status=status,
        status_class=status_class,
        route=route,
        since=since,
        until=until,
        limit=limit,
        cursor=cursor,
    )
    return PageOf[RequestPublic](
        data=[RequestPublic.model_validate(r) for r in page.items], next_cursor=page.next_cursor
    )
