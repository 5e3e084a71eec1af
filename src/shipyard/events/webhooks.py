"""Webhooks: audit events POSTed as JSON to the URLs a project registered, off the request path.

Each delivery is signed when the webhook has a secret (`X-Shipyard-Signature: sha256=<hex HMAC
of the body>`, as GitHub does), retried on network errors and 5xx with backoff, and its last
outcome is kept on the webhook so a broken receiver is visible in `GET /v1/webhooks`. URLs go
through the outbound address policy when they are set and at every delivery; URL and secret are
stored sealed; listings show scheme and host only. A project has a bounded number of webhooks
and each a bounded list of event patterns.
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

import httpx
import structlog
from sqlalchemy import func, select

from shipyard.errors import InvalidInput, NotFound
from shipyard.events.audit import AuditEvent
from shipyard.events.delivery import DeliveryQueue, Receivers
from shipyard.ids import ProjectId, new_id
from shipyard.limits import check_length
from shipyard.outbound import shown_url
from shipyard.secretbox import SecretBox, SecretUnreadable
from shipyard.store import Database, WebhookRow
from shipyard.store.types import utcnow

log = structlog.get_logger(__name__)

# Per project: enough for every real integration; more is a way to multiply deliveries.
MAX_WEBHOOKS = 20
MAX_EVENT_PATTERNS = 20
MAX_PATTERN_CHARS = 100
MAX_URL_CHARS = 2000
MAX_SECRET_CHARS = 200


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
    def __init__(
        self, database: Database, receivers: Receivers, secrets: SecretBox, *, timeout_seconds: float = 5.0
    ) -> None:
        self._db = database
        self._receivers = receivers
        self._secrets = secrets
        self._deliveries: DeliveryQueue[AuditEvent] = DeliveryQueue(
            "webhooks", self._deliver_event, timeout_seconds=timeout_seconds
        )
        self.delivered = 0
        self.failed = 0

    def create(self, project_id: ProjectId, url: str, events: list[str], secret: str | None = None) -> Webhook:
        _check_patterns(events)
        check_length("url", url, MAX_URL_CHARS)
        check_length("secret", secret, MAX_SECRET_CHARS)
        self._receivers.policy.check_destination(url, "webhook url")
        row = WebhookRow(
            id=new_id("whk"),
            project_id=project_id,
            url=self._secrets.seal(url),
            events=list(events),
            secret=self._secrets.seal(secret) if secret else None,
            created_at=utcnow(),
        )
        with self._db.write() as session:
            count = session.scalar(select(func.count()).where(WebhookRow.project_id == project_id)) or 0
            if count >= MAX_WEBHOOKS:
                raise InvalidInput(f"a project has at most {MAX_WEBHOOKS} webhooks; delete one first")
            session.add(row)
        return self._webhook(row)

    def list(self, project_id: ProjectId) -> list[Webhook]:
        with self._db.read() as session:
            rows = session.scalars(
                select(WebhookRow).where(WebhookRow.project_id == project_id).order_by(WebhookRow.id)
            ).all()
            return [self._webhook(row) for row in rows]

    def delete(self, project_id: ProjectId, webhook_id: str) -> None:
        with self._db.write() as session:
            row = session.get(WebhookRow, webhook_id)
            if row is None or row.project_id != project_id:
                raise NotFound(f"no webhook {webhook_id!r} in this project")
            session.delete(row)

    def notify(self, event: AuditEvent) -> None:
        """Queue `event` for delivery (an AuditLog listener; never blocks, never raises)."""
        if not self._deliveries.put(event.project_id, event):
            self.failed += 1

    def start(self) -> None:
        """Nothing to start: delivery threads start with the first item queued."""

    def flush(self) -> None:
        """Wait until what is queued now has been delivered or given up on."""
        self.drain()

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
        status: int | None
        error: str | None
        try:
            url = self._secrets.open(row.url)
            if row.secret:
                digest = hmac.new(self._secrets.open(row.secret).encode(), body, hashlib.sha256).hexdigest()
                headers["X-Shipyard-Signature"] = f"sha256={digest}"
        except SecretUnreadable as exc:
            status, error = None, exc.message
        else:
            stop = self._deliveries.stopping
            status, error = self._receivers.post(client, row.id, url, body, headers, stop=stop)
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            log.warning("webhook_failed", webhook=row.id, action=event.action, error=error)
        with self._db.write() as session:
            stored = session.get(WebhookRow, row.id)
            if stored is not None:
                stored.last_status, stored.last_error, stored.last_delivery_at = status, error, utcnow()

    def _webhook(self, row: WebhookRow) -> Webhook:
        try:
            url = shown_url(self._secrets.open(row.url))
        except SecretUnreadable:
            url = "(unreadable: SHIPYARD_SECRET_KEY changed)"
        return Webhook(
            row.id,
            url,
            list(row.events),
            bool(row.secret),
            row.created_at,
            row.last_status,
            row.last_error,
            row.last_delivery_at,
        )


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


def _check_patterns(events: list[str]) -> None:
    if not events:
        raise InvalidInput("give at least one event pattern, e.g. 'model.*' or '*'")
    if len(events) > MAX_EVENT_PATTERNS:
        raise InvalidInput(f"a webhook has at most {MAX_EVENT_PATTERNS} event patterns, got {len(events)}")
    for pattern in events:
        if not pattern or len(pattern) > MAX_PATTERN_CHARS:
            raise InvalidInput(f"an event pattern has 1 to {MAX_PATTERN_CHARS} characters, got {len(pattern)}")
