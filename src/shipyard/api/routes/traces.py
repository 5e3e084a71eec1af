"""Traces of ask and chat calls (`GET /v1/traces[/{id}]`) and feedback on them."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request, status

from shipyard.api.deps import authorize, traces_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, PageOf
from shipyard.auth import Role
from shipyard.paging import MAX_PAGE_SIZE
from shipyard.schemas.traces import FeedbackPublic, TraceDetail, TracePublic
from shipyard.telemetry.traces import FeedbackSpec

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/traces", tags=["traces"], responses=ERROR_RESPONSES)


@router.get("", operation_id="list_traces")
def list_traces(
    request: Request,
    kind: Literal["ask", "chat"] | None = None,
    collection: str | None = None,
    model: str | None = None,
    status: Literal["ok", "no_answer", "truncated", "error"] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: str | None = None,
) -> PageOf[TracePublic]:
    """The caller's project's traces, newest first."""
    principal = authorize(request, Role.VIEWER)
    traces = traces_of(request)
    page = traces.find(principal.project_id, kind=kind, collection=collection, model=model, status=status,
                       since=since, until=until, limit=limit, cursor=cursor)  # fmt: skip
    summaries = traces.feedback_summaries(principal.project_id, [t.id for t in page.items])
    return PageOf[TracePublic](
        data=[TracePublic.of(t, summaries.get(t.id)) for t in page.items], next_cursor=page.next_cursor
    )


@router.get("/{trace_id}", operation_id="get_trace")
def get_trace(request: Request, trace_id: str) -> TraceDetail:
    principal = authorize(request, Role.VIEWER)
    traces = traces_of(request)
    trace = traces.get(principal.project_id, trace_id)
    items, summary = traces.feedback(principal.project_id, trace_id)
    return TraceDetail.with_feedback(trace, summary, items)


@router.post("/{trace_id}/feedback", operation_id="add_feedback", status_code=status.HTTP_201_CREATED)
def add_feedback(request: Request, trace_id: str, body: FeedbackSpec) -> FeedbackPublic:
    """Rate an answer. Any key of the project may (end users' feedback usually comes through the app's key)."""
    principal = authorize(request, Role.VIEWER)
    feedback = traces_of(request).add_feedback(principal.project_id, trace_id, body, key_name=principal.key_name)
    return FeedbackPublic.of(feedback)
