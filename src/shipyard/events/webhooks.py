"""Webhooks: audit events POSTed as JSON to the URLs a project registered, off the request path.

Each delivery is signed when the webhook has a secret (`X-Shipyard-Signature: sha256=<hex HMAC
of the body>`, as GitHub does), retried on network errors and 5xx with backoff, and its last
outcome is kept on the webhook so a broken receiver is visible in `GET /v1/webhooks`.
"""

from __future__ import annotations

import fnmatch
import hashlib
import hmac
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import httpx
import structlog
from sqlalchemy import select

from shipyard.errors import InvalidInput, NotFound
from shipyard.events.audit import AuditEvent
from shipyard.events.delivery import DeliveryQueue, post_with_retries
from shipyard.ids import ProjectId, new_id
from shipyard.store import Database, WebhookRow
from shipyard.store.types import utcnow

log = structlog.get_logger(__name__)


@dataclass(frozen=True)
class Webhook:
    id: str
    url: str
    events: list[str]
    has_secret: bool
    created_at: datetime
    last_status: int | None
    last_error: str | None
    last_delivery_at: datetime | None


class WebhookService:
    def __init__(self, database: Database, *, timeout_seconds: float = 5.0) -> None:
        self._db = database
        self._deliveries: DeliveryQueue[AuditEvent] = DeliveryQueue(
            "webhooks", self._deliver_event, timeout_seconds=timeout_seconds
        )
        self.delivered = 0
        self.failed = 0

    def create(self, project_id: ProjectId, url: str, events: list[str], secret: str | None = None) -> Webhook:
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise InvalidInput(f"webhook url must be an http:// or https:// URL, got {url!r}")
        if not events:
            raise InvalidInput("give at least one event pattern, e.g. 'model.*' or '*'")
        row = WebhookRow(
            id=new_id("whk"),
            project_id=project_id,
            url=url,
            events=list(events),
            secret=secret or None,
            created_at=utcnow(),
        )
        with self._db.write() as session:
            session.add(row)
        return _webhook(row)

    def list(self, project_id: ProjectId) -> list[Webhook]:
        with self._db.read() as session:
            rows = session.scalars(
                select(WebhookRow).where(WebhookRow.project_id == project_id).order_by(WebhookRow.id)
            ).all()
            return [_webhook(row) for row in rows]

    def delete(self, project_id: ProjectId, webhook_id: str) -> None:
        with self._db.write() as session:
            row = session.get(WebhookRow, webhook_id)
            if row is None or row.project_id != project_id:
                raise NotFound(f"no webhook {webhook_id!r} in this project")
            session.delete(row)

    def notify(self, event: AuditEvent) -> None:
        """Queue `event` for delivery (an AuditLog listener; never blocks, never raises)."""
        if not self._deliveries.put(event):
            self.failed += 1

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until every queued event has been delivered or given up on (tests, shutdown)."""
        self._deliveries.drain(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._deliveries.close(timeout)

    def _deliver_event(self, client: httpx.Client, event: AuditEvent) -> None:
        for row in self._targets(event):
            self._deliver(client, row, event)

    def _targets(self, event: AuditEvent) -> Sequence[WebhookRow]:
        with self._db.read() as session:
            rows = session.scalars(select(WebhookRow).where(WebhookRow.project_id == event.project_id)).all()
        return [row for row in rows if any(fnmatch.fnmatchcase(event.action, p) for p in row.events)]

    def _deliver(self, client: httpx.Client, row: WebhookRow, event: AuditEvent) -> None:
        body = json.dumps(payload(event), separators=(",", ":")).encode()
        headers = {
            "Content-Type": "application/json",
            "X-Shipyard-Event": event.action,
            "X-Shipyard-Delivery": event.id,
            "User-Agent": "shipyard-webhooks",
        }
        if row.secret:
            digest = hmac.new(row.secret.encode(), body, hashlib.sha256).hexdigest()
            headers["X-Shipyard-Signature"] = f"sha256={digest}"
        status, error = post_with_retries(client, row.url, body, headers, stop=self._deliveries.stopping)
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            log.warning("webhook_failed", webhook=row.id, action=event.action, error=error)
        with self._db.write() as session:
            stored = session.get(WebhookRow, row.id)
            if stored is not None:
                stored.last_status, stored.last_error, stored.last_delivery_at = status, error, utcnow()


def payload(event: AuditEvent) -> dict[str, Any]:
    """The JSON body of a delivery."""
    return {
        "id": event.id,
        "event": event.action,
        "project_id": event.project_id,
        "at": event.at.isoformat(),
        "actor": event.actor,
        "target": event.target,
        "detail": event.detail,
    }


def _webhook(row: WebhookRow) -> Webhook:
    return Webhook(
        row.id,
        row.url,
        list(row.events),
        bool(row.secret),
        row.created_at,
        row.last_status,
        row.last_error,
        row.last_delivery_at,
    )
