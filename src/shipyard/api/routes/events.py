"""The audit log (`GET /v1/audit`) and the webhooks told about it (`/v1/webhooks`)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from shipyard.api.deps import audit_of, authorize, webhooks_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, PageOf
from shipyard.auth import Role
from shipyard.events.webhooks import MAX_EVENT_PATTERNS, MAX_SECRET_CHARS, MAX_URL_CHARS
from shipyard.paging import MAX_PAGE_SIZE
from shipyard.schemas.events import AuditEventPublic, WebhookPublic

router = APIRouter(route_class=PrefixedRoute, tags=["events"], responses=ERROR_RESPONSES)


class WebhookCreate(BaseModel):
    """The bounds are `WebhookService.create`'s (a 400 in its words); shown here only."""

    model_config = ConfigDict(extra="forbid")
    url: str = Field(
        description="http(s) URL that receives a JSON POST per event.", json_schema_extra={"maxLength": MAX_URL_CHARS}
    )
    events: list[str] = Field(
        default_factory=lambda: ["*"],
        description="Event patterns: `model.*`, `deployment.rolled_back`, `*`.",
        json_schema_extra={"minItems": 1, "maxItems": MAX_EVENT_PATTERNS},
    )
    secret: str | None = Field(
        default=None,
        description="Signs each body: `X-Shipyard-Signature: sha256=<HMAC>`.",
        json_schema_extra={"maxLength": MAX_SECRET_CHARS},
    )


@router.get("/v1/audit", operation_id="list_audit_events")
def list_audit(
    request: Request,
    target: Annotated[
        str | None, Query(description="`deployment:bikes`, or a prefix ending in : or / (`model:bike-demand/`)")
    ] = None,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE_SIZE)] = 50,
    cursor: str | None = None,
) -> PageOf[AuditEventPublic]:
    """Who changed what and when, newest first."""
    principal = authorize(request, Role.VIEWER)
    page = audit_of(request).find(principal.project_id, target=target, action=action, limit=limit, cursor=cursor)
    return PageOf(data=[AuditEventPublic.of(e) for e in page.items], next_cursor=page.next_cursor)


@router.post("/v1/webhooks", operation_id="create_webhook", status_code=status.HTTP_201_CREATED)
def create_webhook(request: Request, body: WebhookCreate) -> WebhookPublic:
    principal = authorize(request, Role.EDITOR)
    webhook = webhooks_of(request).create(principal.project_id, body.url, body.events, body.secret)
    return WebhookPublic.of(webhook)


@router.get("/v1/webhooks", operation_id="list_webhooks")
def list_webhooks(request: Request) -> list[WebhookPublic]:
    """The project's webhooks with their last delivery's outcome."""
    principal = authorize(request, Role.VIEWER)
    return [WebhookPublic.of(w) for w in webhooks_of(request).list(principal.project_id)]


@router.delete("/v1/webhooks/{webhook_id}", operation_id="delete_webhook", status_code=status.HTTP_204_NO_CONTENT)
def delete_webhook(request: Request, webhook_id: str) -> None:
    principal = authorize(request, Role.EDITOR)
    webhooks_of(request).delete(principal.project_id, webhook_id)
