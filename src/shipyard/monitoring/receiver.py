"""The production path: alerts Prometheus evaluated, delivered by Alertmanager's webhook.

Point an Alertmanager `webhook_config` at `POST /v1/alerts/alertmanager` (with an editor key as
its bearer credentials) and the alerts land in the same history as the in-process ones
(`source: prometheus`). A firing alert whose labels carry `shipyard_action: rollback_canary` and
a `deployment` — rules exported by `shipyard alerts export-prometheus` do — rolls that
deployment's canary back, once per alert, as the in-process engine would.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy import select

from shipyard.errors import InvalidInput
from shipyard.ids import ProjectId, new_id
from shipyard.store import AlertRow

if TYPE_CHECKING:
    from shipyard.monitoring.alerts import AlertService


class AlertmanagerAlert(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)
    status: Literal["firing", "resolved"]
    labels: dict[str, str]
    annotations: dict[str, str] = Field(default_factory=dict)
    starts_at: datetime = Field(alias="startsAt")
    ends_at: datetime | None = Field(default=None, alias="endsAt")
    fingerprint: str | None = None


class AlertmanagerPayload(BaseModel):
    """Alertmanager's webhook body (version 4); fields shipyard does not use are accepted."""

    model_config = ConfigDict(extra="allow")
    version: str = "4"
    status: str | None = None
    receiver: str | None = None
    alerts: list[AlertmanagerAlert]


def parse_payload(data: Any) -> AlertmanagerPayload:
    try:
        return AlertmanagerPayload.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"not an Alertmanager webhook payload: {where}: {first['msg']}") from None


def receive_alertmanager(
    service: AlertService, project_id: ProjectId, alerts: Sequence[AlertmanagerAlert], *, by: str
) -> dict[str, int]:
    """Record each alert's state; returns what changed (and how many actions were taken)."""
    from shipyard.monitoring.alerts import fingerprint, history_entry, resolve_row

    database, now, project = service.database, service.now(), service.project_name(project_id)

    opened = resolved = 0
    actions: list[tuple[str, AlertmanagerAlert]] = []
    with database.write() as session:
        for alert in alerts:
            key = (alert.fingerprint or fingerprint(alert.labels))[:40]
            row = session.scalars(
                select(AlertRow).where(
                    AlertRow.project_id == project_id, AlertRow.source == "prometheus", AlertRow.open_key == f"p:{key}"
                )  # fmt: skip
            ).first()
            if alert.status == "resolved":
                if row is not None:
                    resolve_row(row, alert.ends_at or now, f"resolved in Prometheus ({by})")
                    resolved += 1
                continue
            if row is not None:
                row.evaluated_at, row.annotations = now, alert.annotations
                continue
            opened += 1
            started = alert.starts_at
            rule = alert.labels.get("slo") or alert.labels.get("alertname", "")
            note = f"firing in Prometheus since {started.isoformat()} ({by})"
            row = AlertRow(
                id=new_id("alr"), project_id=project_id, rule=rule,
                source="prometheus", fingerprint=key, open_key=f"p:{key}", severity=alert.labels.get("severity", ""),
                labels=alert.labels, annotations=alert.annotations, state="firing", value=None, started_at=started,
                fired_at=started, evaluated_at=now, notified_at=now,
                history=[history_entry(now, "firing", None, note)],
            )  # fmt: skip
            session.add(row)
            if _wants_rollback(alert, project):
                actions.append((row.id, alert))
    for alert_id, alert in actions:
        reason = f"Prometheus alert {alert.labels.get('alertname')} ({alert.labels.get('severity', 'page')}): " + (
            alert.annotations.get("summary") or "firing"
        )
        name = alert.labels.get("slo") or alert.labels.get("alertname", "")
        outcome = service.rollback_canary(project_id, alert.labels["deployment"], by=f"alert:{name}", reason=reason)
        with database.write() as session:
            stored = session.get(AlertRow, alert_id)
            if stored is not None:
                stored.action = outcome
                stored.history = [*stored.history, history_entry(now, "firing", None, outcome)]
    return {"received": len(alerts), "opened": opened, "resolved": resolved, "actions": len(actions)}


def _wants_rollback(alert: AlertmanagerAlert, project: str) -> bool:
    """Only for this project's rules: a key of one project never rolls back another's canary."""
    labels = alert.labels
    return (
        labels.get("shipyard_action") == "rollback_canary"
        and bool(labels.get("deployment"))
        and labels.get("project", project) == project
    )
