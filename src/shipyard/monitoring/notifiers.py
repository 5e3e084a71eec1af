"""Alert notifications: Alertmanager's webhook payload, or a Slack-compatible message.

`webhook` notifiers receive exactly what Alertmanager's `webhook_config` receivers get (version
4: status, receiver, groupLabels, commonLabels, commonAnnotations, alerts with startsAt/endsAt,
generatorURL and fingerprint), so anything written for Alertmanager — a bridge to a pager, a
chat bot, an incident tool — works unchanged. `slack` notifiers post `{"text": …}` to an
incoming-webhook URL (Slack, Mattermost and Rocket.Chat accept it).

Deliveries run on a background thread, are retried on network errors, 429 and 5xx, and the last
outcome is kept on the notifier (`GET /v1/alerts/notifiers`).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import httpx
import structlog

from shipyard.events.delivery import DeliveryQueue, Receivers
from shipyard.outbound import shown_url
from shipyard.secretbox import SecretBox, SecretUnreadable
from shipyard.store import AlertNotifierRow, Database
from shipyard.store.types import utcnow

log = structlog.get_logger(__name__)

# Alertmanager writes a zero time for "not resolved yet".
ZERO_TIME = "0001-01-01T00:00:00Z"


@dataclass(frozen=True)
class NotifierTarget:
    id: str
    project_id: str
    name: str
    kind: str  # webhook | slack
    url: str  # as stored: sealed
    match: dict[str, str]
    send_resolved: bool


@dataclass(frozen=True)
class NotifierStatus:
    """A notifier as listings show it: the URL cut to scheme and host, the last delivery's outcome."""

    name: str
    kind: str
    url: str
    match: dict[str, str]
    send_resolved: bool
    last_status: int | None
    last_error: str | None
    last_delivery_at: datetime | None


@dataclass(frozen=True)
class Notice:
    """One alert as a notification carries it."""

    status: str  # firing | resolved
    labels: dict[str, str]
    annotations: dict[str, str]
    starts_at: datetime
    ends_at: datetime | None
    fingerprint: str
    alert_id: str
    value: float | None


def matches(match: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(key) == value for key, value in match.items())


def alertmanager_payload(receiver: str, notices: Sequence[Notice], external_url: str = "") -> dict[str, Any]:
    """Alertmanager's webhook body (version 4) for one group: the notices share an alertname."""
    common_labels = _common([n.labels for n in notices])
    common_annotations = _common([n.annotations for n in notices])
    group_labels = {"alertname": common_labels.get("alertname", "")}
    return {
        "version": "4",
        "groupKey": "{}:" + "{" + ",".join(f'{k}="{v}"' for k, v in group_labels.items()) + "}",
        "truncatedAlerts": 0,
        "status": "firing" if any(n.status == "firing" for n in notices) else "resolved",
        "receiver": receiver,
        "groupLabels": group_labels,
        "commonLabels": common_labels,
        "commonAnnotations": common_annotations,
        "externalURL": external_url,
        "alerts": [
            {
                "status": n.status,
                "labels": n.labels,
                "annotations": n.annotations,
                "startsAt": _time(n.starts_at),
                "endsAt": _time(n.ends_at) if n.ends_at else ZERO_TIME,
                "generatorURL": f"{external_url}/v1/alerts/{n.alert_id}",
                "fingerprint": n.fingerprint,
            }
            for n in notices
        ],
    }


def slack_payload(notices: Sequence[Notice]) -> dict[str, Any]:
    """One message: a line per alert, firing ones first."""
    firing = [n for n in notices if n.status == "firing"]
    resolved = [n for n in notices if n.status == "resolved"]
    name = notices[0].labels.get("alertname", "alert") if notices else "alert"
    head = f"[FIRING:{len(firing)}] {name}" if firing else f"[RESOLVED] {name}"
    lines = [f"*{head}*"]
    for notice in [*firing, *resolved]:
        mark = ":red_circle:" if notice.status == "firing" else ":large_green_circle:"
        labels = " ".join(f"{k}={v}" for k, v in sorted(notice.labels.items()) if k != "alertname")
        summary = notice.annotations.get("summary", "")
        lines.append(f"{mark} {summary} ({labels})".strip())
    return {"text": "\n".join(lines)}


class NotificationSender:
    """A delivery queue of (notifier, payload), fair across projects; never blocks the evaluator.

    Notifier URLs are stored sealed (`secretbox`) and go through the outbound address policy when
    they are set and again at every delivery."""

    def __init__(
        self, database: Database, receivers: Receivers, secrets: SecretBox, *, timeout_seconds: float = 5.0
    ) -> None:
        self._db = database
        self.receivers = receivers
        self.secrets = secrets
        self._deliveries: DeliveryQueue[tuple[NotifierTarget, dict[str, Any]]] = DeliveryQueue(
            "notifications", lambda client, item: self._deliver(client, *item), timeout_seconds=timeout_seconds
        )
        self.delivered = 0
        self.failed = 0

    def send(self, notifier: NotifierTarget, notices: Sequence[Notice], external_url: str = "") -> None:
        if not notices:
            return
        if notifier.kind == "slack":
            body = slack_payload(notices)
        else:
            body = alertmanager_payload(notifier.name, notices, external_url)
        if not self._deliveries.put(notifier.project_id, (notifier, body)):
            self.failed += 1

    def shown(self, sealed_url: str) -> str:
        """Scheme and host of a stored notifier URL, for listings (never the secret rest)."""
        try:
            return shown_url(self.secrets.open(sealed_url))
        except SecretUnreadable:
            return "(unreadable: SHIPYARD_SECRET_KEY changed)"

    def start(self) -> None:
        """Nothing to start: delivery threads start with the first item queued."""

    def flush(self) -> None:
        """Wait until what is queued now has been delivered or given up on."""
        self.drain()

    def drain(self, timeout: float = 10.0) -> None:
        self._deliveries.drain(timeout)

    def close(self, timeout: float = 10.0) -> None:
        self._deliveries.close(timeout)

    def _deliver(self, client: httpx.Client, notifier: NotifierTarget, body: dict[str, Any]) -> None:
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = {"Content-Type": "application/json", "User-Agent": "shipyard-alerts"}
        url = self.secrets.open(notifier.url)
        stop = self._deliveries.stopping
        status, error = self.receivers.post(client, notifier.id, url, content, headers, stop=stop)
        if error is None:
            self.delivered += 1
        else:
            self.failed += 1
            log.warning("notification_failed", notifier=notifier.name, receiver=shown_url(url), error=error)
        with self._db.write() as session:
            stored = session.get(AlertNotifierRow, notifier.id)
            if stored is not None:
                stored.last_status, stored.last_error, stored.last_delivery_at = status, error, utcnow()


def _common(items: Sequence[dict[str, str]]) -> dict[str, str]:
    if not items:
        return {}
    first = items[0]
    return {k: v for k, v in first.items() if all(i.get(k) == v for i in items[1:])}


def _time(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")
