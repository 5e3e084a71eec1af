"""Alerts, silences and notifiers, as the API answers and `shipyard alerts … --json` prints them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shipyard.monitoring.alerts import Alert
from shipyard.monitoring.notifiers import NotifierStatus
from shipyard.monitoring.silences import Silence


class AlertPublic(BaseModel):
    id: str
    rule: str
    source: str = Field(description="shipyard (evaluated here) or prometheus (from Alertmanager)")
    fingerprint: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str = Field(description="pending | firing | resolved")
    value: float | None = Field(description="The rule's number: a burn rate, a signal's value, a drift share")
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    evaluated_at: datetime
    notified_at: datetime | None
    silenced_by: str | None
    action: str | None = Field(description="What was done when it fired, e.g. a canary rolled back")
    history: list[dict[str, Any]] = Field(description="Every transition: at, state, value, note")

    @classmethod
    def of(cls, alert: Alert) -> AlertPublic:
        return cls(**vars(alert))


class SilencePublic(BaseModel):
    id: str
    matchers: dict[str, str]
    starts_at: datetime
    ends_at: datetime
    comment: str
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, silence: Silence) -> SilencePublic:
        return cls(**vars(silence))


class NotifierPublic(BaseModel):
    name: str
    kind: str = Field(description="webhook (Alertmanager's payload) or slack")
    url: str = Field(description="Scheme and host only: the rest may be a secret")
    match: dict[str, str]
    send_resolved: bool
    last_status: int | None
    last_error: str | None
    last_delivery_at: datetime | None

    @classmethod
    def of(cls, status: NotifierStatus) -> NotifierPublic:
        return cls(**vars(status))
