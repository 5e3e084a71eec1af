"""Alerts: rules evaluated in-process, one lifecycle, deduplication, silences, notifications and
actions — and the same history for alerts Prometheus evaluated (through Alertmanager's webhook).

Every evaluation (a worker holding the `alerts.evaluate` lease, every SHIPYARD_ALERT_EVAL_SECONDS)
asks each rule for its conditions (`conditions.py`). A condition that holds opens an alert for its
label set — `pending` while the rule's `for` has not elapsed, then `firing` — and one that stops
holding resolves it. One open alert per label set: re-evaluations update it (deduplication), and
a resolved alert is history. A firing alert is notified once, again every repeat interval while it
fires (Alertmanager's default: 4 h), and once when it resolves. Silenced alerts keep their
lifecycle but notify nobody and take no action — as an Alertmanager silence keeps a notification
(and so an action behind a receiver) from happening.

When a rule with `action: rollback_canary` starts firing, the deployment's canary is rolled back
(audit log: `deployment.rolled_back` by `alert:<rule>`, with the condition as the reason).
"""

from __future__ import annotations

import builtins
import hashlib
import json
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.errors import Conflict, InvalidInput, NotFound, ShipyardError
from shipyard.events import AuditLog
from shipyard.ids import ProjectId, new_id
from shipyard.models import DeploymentService
from shipyard.monitoring.conditions import Condition, RuleContext, rule_conditions
from shipyard.monitoring.monitors import Monitor, MonitorNotFound, MonitorService
from shipyard.monitoring.notifiers import Notice, NotificationSender, NotifierStatus, NotifierTarget, matches
from shipyard.monitoring.rules import AlertSpec, Notifier, parse_spec, prometheus_rules, rules_yaml, spec_dict
from shipyard.monitoring.silences import Silences
from shipyard.paging import Page, check_limit, id_cursors, page_of
from shipyard.store import AlertNotifierRow, AlertRow, AlertRuleRow, Database, leases
from shipyard.store.types import utcnow

log = structlog.get_logger(__name__)
_CURSORS = id_cursors("alr")

# Notifiers per project: more is a configuration mistake, and each one costs a delivery per alert.
MAX_NOTIFIERS = 20

STATES = ("pending", "firing", "resolved")
LEASE = "alerts.evaluate"


class AlertNotFound(NotFound):
    code = "alert_not_found"


@dataclass(frozen=True)
class Alert:
    id: str
    rule: str
    source: str  # shipyard | prometheus
    fingerprint: str
    severity: str
    labels: dict[str, str]
    annotations: dict[str, str]
    state: str
    value: float | None
    started_at: datetime
    fired_at: datetime | None
    resolved_at: datetime | None
    evaluated_at: datetime
    notified_at: datetime | None
    silenced_by: str | None
    action: str | None
    history: list[dict[str, Any]]


@dataclass(frozen=True)
class Evaluation:
    """What one evaluation did."""

    rules: int
    opened: int
    fired: int
    resolved: int
    notifications: int
    skipped: bool = False  # another process holds the evaluator lease


def fingerprint(labels: dict[str, str]) -> str:
    """16 hex digits, stable for a label set (Alertmanager's fingerprints have the same shape)."""
    return hashlib.sha256(json.dumps(labels, sort_keys=True).encode()).hexdigest()[:16]


class AlertService:
    def __init__(
        self,
        database: Database,
        monitors: MonitorService,
        deployments: DeploymentService,
        audit: AuditLog,
        sender: NotificationSender,
        *,
        project_name: Callable[[ProjectId], str],
        repeat_seconds: float = 4 * 3600,
        flush: Callable[[], None] | None = None,
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        self._db = self.database = database
        self._monitors = monitors
        self._deployments = deployments
        self._audit = audit
        self.sender = sender
        self.project_name = project_name
        self._repeat = timedelta(seconds=repeat_seconds)
        self._flush = flush
        self._clock = clock
        self.silences = Silences(database, clock=clock)
        self._evaluating = threading.Lock()  # the schedule and an API call in one process take turns

    # -- configuration ---------------------------------------------------------------------------

    def apply(self, project_id: ProjectId, spec: AlertSpec, *, by: str, operator: bool = False) -> dict[str, int]:
        """Make `spec` the project's whole alerting configuration: rules and notifiers not in it
        are removed (their open alerts resolve at the next evaluation); an unchanged anomaly
        rule keeps its detector's state.

        `operator`: the spec is a file an operator applies (`shipyard alerts apply`), so its
        notifiers may read their URL from the server's environment (`webhook_env`); a spec sent
        over HTTP by a tenant may not name server variables."""
        spec = spec.checked()
        if len(spec.notifiers) > MAX_NOTIFIERS:
            raise InvalidInput(f"at most {MAX_NOTIFIERS} notifiers per project, got {len(spec.notifiers)}")
        for alert in spec.alerts:
            if alert.drift is not None:
                self._monitors.get(project_id, alert.drift.monitor)  # MonitorNotFound (404)
        notifiers = [(n, self._notifier_url(n, operator)) for n in spec.notifiers]
        wanted = {s.name: ("slo", s.model_dump(mode="json", by_alias=True)) for s in spec.slos}
        wanted.update({a.name: (a.kind, a.model_dump(mode="json", by_alias=True)) for a in spec.alerts})
        now = self._clock()
        with self._db.write() as session:
            _store_rules(session, project_id, wanted, by, now)
            _store_notifiers(session, project_id, notifiers, now)
        counts = {"slos": len(spec.slos), "alerts": len(spec.alerts), "notifiers": len(spec.notifiers)}
        self._audit.record(project_id, by, "alerts.applied", "alerts", counts)
        return counts

    def _notifier_url(self, notifier: Notifier, operator: bool) -> str:
        """The notifier's URL, checked against the outbound address policy, sealed for storage."""
        url = notifier.resolved_url(environment=operator)
        self.sender.receivers.policy.check_destination(url, f"notifier {notifier.name!r}")
        return self.sender.secrets.seal(url)

    def config(self, project_id: ProjectId, *, reveal_urls: bool = False) -> dict[str, Any]:
        """The applied spec, as it would be written; notifier URLs cut to scheme and host (they
        may hold secrets) unless `reveal_urls`."""
        with self._db.read() as session:
            rules = session.scalars(
                select(AlertRuleRow).where(AlertRuleRow.project_id == project_id).order_by(AlertRuleRow.name)
            ).all()
            notifiers = self.notifiers(project_id)
        data: dict[str, Any] = {
            "slos": [r.spec for r in rules if r.kind == "slo"],
            "alerts": [r.spec for r in rules if r.kind != "slo"],
            "notifiers": [
                {
                    "name": n.name,
                    n.kind: self.sender.secrets.open(n.url) if reveal_urls else self.sender.shown(n.url),
                    "match": n.match,
                    "send_resolved": n.send_resolved,
                }
                for n in notifiers
            ],  # fmt: skip
        }
        return spec_dict(AlertSpec.model_validate(data))

    def prometheus_rules(self, project_id: ProjectId) -> str:
        """The applied spec as a Prometheus rule file (anomaly rules stay in-process)."""
        applied = self.config(project_id, reveal_urls=True) if self._has_config(project_id) else {}
        spec = parse_spec(applied, "applied spec")
        monitors = {m.name: m.deployment for m in self._monitors.list(project_id) if m.deployment}
        skipped = [a.name for a in spec.alerts if a.kind == "anomaly"]
        return rules_yaml(prometheus_rules(spec, self.project_name(project_id), monitors), skipped)

    def _has_config(self, project_id: ProjectId) -> bool:
        with self._db.read() as session:
            return (
                session.scalars(select(AlertRuleRow.id).where(AlertRuleRow.project_id == project_id)).first()
                is not None
            )

    def now(self) -> datetime:
        return self._clock()

    def notifiers(self, project_id: ProjectId) -> builtins.list[NotifierTarget]:
        return [NotifierTarget(r.id, r.project_id, r.name, r.kind, r.url, dict(r.match), r.send_resolved)
                for r in self.notifier_rows(project_id)]  # fmt: skip

    def notifier_statuses(self, project_id: ProjectId) -> builtins.list[NotifierStatus]:
        """The notifiers as listings show them (URL cut to scheme and host) with their last delivery."""
        return [
            NotifierStatus(r.name, r.kind, self.sender.shown(r.url), dict(r.match), r.send_resolved,
                           r.last_status, r.last_error, r.last_delivery_at)
            for r in self.notifier_rows(project_id)
        ]  # fmt: skip

    def notifier_rows(self, project_id: ProjectId) -> builtins.list[AlertNotifierRow]:
        """The stored notifiers with their last delivery's outcome."""
        query = select(AlertNotifierRow).where(AlertNotifierRow.project_id == project_id)
        with self._db.read() as session:
            return list(session.scalars(query.order_by(AlertNotifierRow.name)).all())

    # -- reading ------------------------------------------------------------------------------------

    def list(
        self,
        project_id: ProjectId,
        *,
        state: str | None = None,
        rule: str | None = None,
        severity: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Alert]:
        """Alerts newest first (open and resolved: the history)."""
        query = select(AlertRow).where(AlertRow.project_id == project_id)
        if state is not None:
            if state not in STATES:
                raise InvalidInput(f"state must be one of {', '.join(STATES)}, got {state!r}")
            query = query.where(AlertRow.state == state)
        if rule is not None:
            query = query.where(AlertRow.rule == rule)
        if severity is not None:
            query = query.where(AlertRow.severity == severity)
        if cursor is not None:
            query = query.where(AlertRow.id < _CURSORS.check(cursor))
        limit = check_limit(limit)
        with self._db.read() as session:
            rows = session.scalars(query.order_by(AlertRow.id.desc()).limit(limit + 1)).all()
            return page_of(rows, limit, alert_of, lambda a: a.id)

    def get(self, project_id: ProjectId, alert_id: str) -> Alert:
        with self._db.read() as session:
            row = session.get(AlertRow, alert_id)
            if row is None or row.project_id != project_id:
                raise AlertNotFound(f"no alert {alert_id!r} in this project")
            return alert_of(row)

    # -- evaluating ---------------------------------------------------------------------------------

    def evaluate(self, *, holder: str = "local", lease_seconds: float = 90.0) -> Evaluation:
        """Evaluate every project's rules once, if this process holds the evaluator lease."""
        if not leases.acquire(self._db, LEASE, holder, lease_seconds):
            return Evaluation(0, 0, 0, 0, 0, skipped=True)
        if self._flush is not None:
            self._flush()  # this process's latest minutes count too
        with self._db.read() as session:
            projects = set(session.scalars(select(AlertRuleRow.project_id).distinct()))
            projects |= set(session.scalars(
                select(AlertRow.project_id).where(AlertRow.open_key.is_not(None), AlertRow.source == "shipyard")
            ))  # fmt: skip
        totals = [0, 0, 0, 0, 0]
        for project_id in sorted(projects):
            try:
                counts = self.evaluate_project(ProjectId(project_id))
            except Exception:  # noqa: BLE001 - one project's broken rule must not stop the others
                log.exception("alert_evaluation_failed", project_id=project_id)
                continue
            totals = [a + b for a, b in zip(totals, counts, strict=True)]
        rules, opened, fired, resolved, sent = totals
        return Evaluation(rules, opened, fired, resolved, sent)

    def evaluate_now(self, project_id: ProjectId) -> tuple[int, int, int, int, int]:
        """Evaluate one project's rules at once (an API or CLI call). A scheduled evaluation in
        this process is waited for; one in another process that opened the same alert first
        makes this one evaluate again on its result, and Conflict only if that collides too."""
        if self._flush is not None:
            self._flush()
        try:
            return self.evaluate_project(project_id)
        except IntegrityError:
            pass  # the other process's alerts are committed now: this evaluation starts from them
        try:
            return self.evaluate_project(project_id)
        except IntegrityError:
            raise Conflict("alerts were being evaluated at the same moment; try again") from None

    def evaluate_project(self, project_id: ProjectId) -> tuple[int, int, int, int, int]:
        with self._evaluating:
            return self._evaluate_project(project_id)

    def _evaluate_project(self, project_id: ProjectId) -> tuple[int, int, int, int, int]:
        now = self._clock()
        with self._db.read() as session:
            rules = list(session.scalars(select(AlertRuleRow).where(AlertRuleRow.project_id == project_id)))
        project = self.project_name(project_id)
        conditions: builtins.list[Condition] = []
        states: dict[str, dict[str, Any] | None] = {}
        failed: set[str] = set()
        for rule in rules:
            ctx = RuleContext(self._db, project_id, project, now, self._monitor_lookup(project_id), state=rule.state)
            try:
                conditions.extend(rule_conditions(rule.kind, rule.spec, ctx))
            except Exception as exc:  # noqa: BLE001 - one rule that cannot be read must not stop the others
                log.warning("alert_rule_failed", rule=rule.name, error=f"{type(exc).__name__}: {exc}")
                failed.add(rule.name)
                continue
            if ctx.new_state is not None:
                states[rule.id] = ctx.new_state
        changes = self._transition(project_id, conditions, states, now, failed)
        opened, fired, resolved, notices = changes
        for alert_id, condition in fired:
            self._act(project_id, alert_id, condition)
        sent = self._notify(project_id, notices)
        return len(rules), opened, len(fired), resolved, sent

    def _monitor_lookup(self, project_id: ProjectId) -> Callable[[str], Monitor | None]:
        def find(name: str) -> Monitor | None:
            try:
                return self._monitors.get(project_id, name)
            except MonitorNotFound:
                return None

        return find

    def _transition(
        self,
        project_id: ProjectId,
        conditions: Sequence[Condition],
        states: dict[str, dict[str, Any] | None],
        now: datetime,
        failed: set[str],
    ) -> tuple[int, builtins.list[tuple[str, Condition]], int, builtins.list[tuple[AlertRow, str]]]:
        """Apply one evaluation's conditions to the open alerts, in one transaction. Alerts of
        rules that could not be evaluated (`failed`) stay as they are: no verdict is not "clear"."""
        opened, resolved = 0, 0
        fired: builtins.list[tuple[str, Condition]] = []
        notices: builtins.list[tuple[AlertRow, str]] = []
        silences = self.silences.active(project_id, now)
        with self._db.write() as session:
            for rule_id, state in states.items():
                rule_row = session.get(AlertRuleRow, rule_id)
                if rule_row is not None:
                    rule_row.state = state
            open_rows = {
                r.fingerprint: r
                for r in session.scalars(
                    select(AlertRow).where(
                        AlertRow.project_id == project_id, AlertRow.open_key.is_not(None), AlertRow.source == "shipyard"
                    )  # fmt: skip
                )
            }
            seen: set[str] = set()
            for condition in conditions:
                key = fingerprint(condition.labels)
                seen.add(key)
                row = open_rows.get(key)
                if not condition.holds:
                    if row is not None:
                        resolved += 1
                        if resolve_row(row, now, "condition cleared") and not row.silenced_by:
                            notices.append((row, "resolved"))
                    continue
                if row is None:
                    opened += 1
                    row = open_row(project_id, condition, key, now)
                    session.add(row)
                row.value, row.evaluated_at, row.annotations = condition.value, now, condition.annotations
                row.silenced_by = self.silences.silencing(silences, condition.labels)
                if row.state == "pending" and now - row.started_at >= timedelta(seconds=condition.for_seconds):
                    row.state, row.fired_at = "firing", now
                    row.history = [*row.history, history_entry(now, "firing", condition.value, condition.note)]
                    if not row.silenced_by:
                        fired.append((row.id, condition))
                if row.state == "firing" and not row.silenced_by and self._due(row, now):
                    row.notified_at = now
                    notices.append((row, "firing"))
            for key, row in open_rows.items():
                if key not in seen and row.rule not in failed:  # the rule, or its label set, is gone
                    resolved += 1
                    if resolve_row(row, now, "rule removed or changed") and not row.silenced_by:
                        notices.append((row, "resolved"))
        return opened, fired, resolved, notices

    def _due(self, row: AlertRow, now: datetime) -> bool:
        return row.notified_at is None or now - row.notified_at >= self._repeat

    def _act(self, project_id: ProjectId, alert_id: str, condition: Condition) -> None:
        """Carry out a firing rule's action and record what happened on the alert."""
        if condition.action != "rollback_canary" or not condition.deployment:
            return
        reason = f"alert {condition.rule} ({condition.severity}): {condition.note or 'firing'}"
        outcome = self.rollback_canary(project_id, condition.deployment, by=f"alert:{condition.rule}", reason=reason)
        with self._db.write() as session:
            row = session.get(AlertRow, alert_id)
            if row is not None:
                row.action = outcome
                row.history = [*row.history, history_entry(self._clock(), row.state, row.value, outcome)]

    def rollback_canary(self, project_id: ProjectId, deployment: str, *, by: str, reason: str) -> str:
        try:
            current = self._deployments.get(project_id, deployment)
            if current.canary_version is None:
                return f"no canary of deployment {deployment} to roll back"
            self._deployments.rollback(project_id, deployment, by=by, reason=reason)
        except ShipyardError as exc:
            log.error("alert_rollback_failed", deployment=deployment, error=str(exc))
            return f"rollback of deployment {deployment}'s canary failed: {exc}"
        log.warning("alert_rolled_back_canary", deployment=deployment, version=current.canary_version, by=by)
        return f"rolled back canary version {current.canary_version} of deployment {deployment}"

    def _notify(self, project_id: ProjectId, notices: Sequence[tuple[AlertRow, str]]) -> int:
        """Send each notifier the notices that match it, one payload per alertname."""
        if not notices:
            return 0
        sent = 0
        for notifier in self.notifiers(project_id):
            groups: dict[str, list[Notice]] = {}
            for row, status in notices:
                if status == "resolved" and not notifier.send_resolved:
                    continue
                if not matches(notifier.match, row.labels):
                    continue
                groups.setdefault(row.labels.get("alertname", row.rule), []).append(_notice(row, status))
            for group in groups.values():
                self.sender.send(notifier, group)
                sent += 1
        return sent


def _store_rules(
    session: Session, project_id: ProjectId, wanted: dict[str, tuple[str, dict[str, Any]]], by: str, now: datetime
) -> None:
    existing = {r.name: r for r in session.scalars(select(AlertRuleRow).where(AlertRuleRow.project_id == project_id))}
    for name, row in existing.items():
        if name not in wanted:
            session.delete(row)
    for name, (kind, data) in wanted.items():
        found = existing.get(name)
        if found is None:
            session.add(AlertRuleRow(id=new_id("arl"), project_id=project_id, name=name, kind=kind, spec=data,
                                     created_by=by, created_at=now, updated_at=now))  # fmt: skip
        elif found.spec != data or found.kind != kind:  # a changed rule starts afresh (an anomaly detector too)
            found.kind, found.spec, found.state, found.updated_at = kind, data, None, now


def _store_notifiers(
    session: Session, project_id: ProjectId, notifiers: Sequence[tuple[Notifier, str]], now: datetime
) -> None:
    query = select(AlertNotifierRow).where(AlertNotifierRow.project_id == project_id)
    stored = {r.name: r for r in session.scalars(query)}
    for name, stale in stored.items():
        if name not in {n.name for n, _ in notifiers}:
            session.delete(stale)
    for notifier, url in notifiers:
        target = stored.get(notifier.name) or AlertNotifierRow(
            id=new_id("ntf"), project_id=project_id, name=notifier.name, created_at=now
        )
        target.kind, target.url, target.match = notifier.kind, url, notifier.match
        target.send_resolved = notifier.send_resolved
        session.add(target)


def open_row(project_id: ProjectId, condition: Condition, key: str, now: datetime) -> AlertRow:
    return AlertRow(
        id=new_id("alr"), project_id=project_id, rule=condition.rule, source="shipyard", fingerprint=key,
        open_key=key, severity=condition.severity, labels=condition.labels, annotations=condition.annotations,
        state="pending", value=condition.value, started_at=now, evaluated_at=now,
        history=[history_entry(now, "pending", condition.value, condition.note)],
    )  # fmt: skip


def resolve_row(row: AlertRow, now: datetime, note: str) -> bool:
    """Close an open alert; True if it had fired (a resolved notification is due)."""
    was_firing = row.state == "firing"
    row.state, row.resolved_at, row.open_key, row.evaluated_at = "resolved", now, None, now
    row.history = [*row.history, history_entry(now, "resolved", row.value, note)]
    return was_firing and row.notified_at is not None


def history_entry(at: datetime, state: str, value: float | None, note: str) -> dict[str, Any]:
    return {"at": at.isoformat(), "state": state, "value": value, "note": note}


def _notice(row: AlertRow, status: Literal["firing", "resolved"] | str) -> Notice:
    return Notice(status, dict(row.labels), dict(row.annotations), row.fired_at or row.started_at,
                  row.resolved_at if status == "resolved" else None, row.fingerprint, row.id, row.value)  # fmt: skip


def alert_of(row: AlertRow) -> Alert:
    return Alert(
        id=row.id, rule=row.rule, source=row.source, fingerprint=row.fingerprint, severity=row.severity,
        labels=dict(row.labels), annotations=dict(row.annotations), state=row.state, value=row.value,
        started_at=row.started_at, fired_at=row.fired_at, resolved_at=row.resolved_at, evaluated_at=row.evaluated_at,
        notified_at=row.notified_at, silenced_by=row.silenced_by, action=row.action, history=list(row.history),
    )  # fmt: skip
