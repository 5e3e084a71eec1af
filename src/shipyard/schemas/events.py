"""Audit events and webhooks, as the API answers them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shipyard.events import AuditEvent, Webhook


class AuditEventPublic(BaseModel):
    id: str
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]

    @classmethod
    def of(cls, event: AuditEvent) -> AuditEventPublic:
        return cls(
            id=event.id, at=event.at, actor=event.actor, action=event.action, target=event.target, detail=event.detail
        )


class WebhookPublic(BaseModel):
    id: str
    url: str
    events: list[str]
    has_secret: bool
    created_at: datetime
    last_status: int | None
    last_error: str | None
    last_delivery_at: datetime | None

    @classmethod
    def of(cls, webhook: Webhook) -> WebhookPublic:
        return cls(**vars(webhook))
