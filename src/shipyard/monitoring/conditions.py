"""What each kind of rule says right now: its conditions, one per label set.

An SLO gives two (its page and its ticket alert), a threshold, anomaly or drift rule one. A
condition holds or not; the alert lifecycle (`alerts.py`) turns that into pending, firing and
resolved. Only anomaly rules carry state between evaluations: their online detector, fed the
minutes it has not seen yet.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from shipyard.monitoring.anomaly import AnomalyDetector
from shipyard.monitoring.monitors import Monitor
from shipyard.monitoring.references import parse_duration
from shipyard.monitoring.rules import AlertDef, alert_labels, alert_summary, slo_labels
from shipyard.monitoring.signals import ZERO_WHEN_EMPTY, per_minute, reading, value
from shipyard.monitoring.slo import BURN_RULES, Slo, burn_ratios, burning, slo_annotations
from shipyard.store import Database
from shipyard.telemetry import series
from shipyard.telemetry.series import MINUTE

# A minute is read once it is over and every process has had time to write it (they flush every
# few seconds).
SETTLE_SECONDS = 15
# How far back a new anomaly rule's detector is fed on its first evaluation (minute rows are kept
# this long before compaction).
ANOMALY_BACKFILL = series.COMPACT_AFTER


@dataclass(frozen=True)
class Condition:
    rule: str
    labels: dict[str, str]
    annotations: dict[str, str]
    holds: bool
    value: float | None
    severity: str
    for_seconds: int = 0
    deployment: str | None = None  # what an action acts on
    action: str | None = None
    note: str = ""


@dataclass
class RuleContext:
    database: Database
    project_id: str
    project: str  # its name, for labels
    now: datetime
    monitor: Callable[[str], Monitor | None]
    state: dict[str, Any] | None = None
    new_state: dict[str, Any] | None = field(default=None)


def slo_conditions(slo: Slo, ctx: RuleContext) -> list[Condition]:
    ratios = burn_ratios(ctx.database, slo, ctx.project_id, ctx.now)
    conditions = []
    for severity in ("page", "ticket"):
        rule = burning(slo, ratios, severity)
        rules = [r for r in BURN_RULES if r.severity == severity]
        shown = rule or rules[0]
        ratio = ratios.get(shown.long)
        burn = ratio / slo.budget if ratio is not None and slo.budget else None
        note = (
            f"error ratio {ratios[rule.long]:.4g} over {rule.long} and {ratios[rule.short]:.4g} over {rule.short} "
            f"(limit {rule.factor:g} × budget {slo.budget:g})"
            if rule
            else ""
        )
        conditions.append(
            Condition(
                rule=slo.name,
                labels=slo_labels(slo, ctx.project, severity),
                annotations=slo_annotations(slo, rules),
                holds=rule is not None,
                value=burn,
                severity=severity,
                deployment=slo.sli.target.deployment,
                action=slo.action if severity == "page" else None,
                note=note,
            )
        )
    return conditions


def threshold_condition(alert: AlertDef, ctx: RuleContext) -> Condition:
    signal = alert.threshold
    assert signal is not None
    seconds = parse_duration(alert.window)
    found = reading(signal, ctx.project_id, signal.signal)
    since = ctx.now - timedelta(seconds=seconds)
    samples = [s for query in found.queries for s in series.read(ctx.database, query, since, ctx.now)]
    current = value(signal, samples, found.bounds)
    if current is not None and signal.signal in ZERO_WHEN_EMPTY:
        current /= seconds / MINUTE  # counts are per minute, whatever the window
    events = sum(s.count for s in samples)
    enough = events >= alert.min_events
    holds = (
        current is not None
        and enough
        and (current > alert.above if alert.above is not None else current < (alert.below or 0.0))
    )
    note = f"{signal.signal} {current:.4g} over {alert.window} ({events:g} events)" if current is not None else ""
    return _condition(alert, ctx, holds, current, signal.deployment, note)


def anomaly_condition(alert: AlertDef, ctx: RuleContext) -> Condition:
    """Feed the minutes since the last evaluation to the rule's detector; holds while the last
    flagged minute is within `hold`."""
    signal = alert.anomaly
    assert signal is not None
    state = ctx.state or {}
    detector = AnomalyDetector.from_dict(state["detector"]) if "detector" in state else AnomalyDetector()
    end = _floor_minute(ctx.now - timedelta(seconds=MINUTE + SETTLE_SECONDS)) + timedelta(seconds=MINUTE)
    start = datetime.fromisoformat(state["next_minute"]) if "next_minute" in state else end - ANOMALY_BACKFILL
    last_flag = datetime.fromisoformat(state["last_flag"]) if state.get("last_flag") else None
    last_value: float | None = state.get("last_value")
    if start < end:
        found = reading(signal, ctx.project_id, signal.signal)
        samples = [s for q in found.queries for s in series.read(ctx.database, q, start, end)]
        for minute, minute_value in per_minute(signal, samples, found.bounds, start, end):
            point = detector.update(minute_value if minute_value is not None else float("nan"))
            if minute_value is not None:
                last_value = minute_value
            if point.anomaly:
                last_flag = minute
    ctx.new_state = {
        "detector": detector.to_dict(),
        "next_minute": max(start, end).isoformat(),
        "last_flag": last_flag.isoformat() if last_flag else None,
        "last_value": last_value,
    }
    hold = timedelta(seconds=parse_duration(alert.hold))
    holds = last_flag is not None and ctx.now - last_flag <= hold
    note = f"{signal.signal} {last_value:.4g} at {last_flag:%H:%M} UTC is new behaviour" if holds and last_value else ""
    return _condition(alert, ctx, holds, last_value, signal.deployment, note)


def drift_condition(alert: AlertDef, ctx: RuleContext) -> Condition:
    assert alert.drift is not None
    monitor = ctx.monitor(alert.drift.monitor)
    holds = monitor is not None and monitor.last_status == "drift"
    deployment = monitor.deployment if monitor is not None else None
    note = f"monitor {alert.drift.monitor}'s last run found drift" if holds else ""
    return _condition(alert, ctx, holds, 1.0 if holds else 0.0, deployment, note)


def rule_conditions(kind: str, spec: dict[str, Any], ctx: RuleContext) -> list[Condition]:
    if kind == "slo":
        return slo_conditions(Slo.model_validate(spec), ctx)
    alert = AlertDef.model_validate(spec)
    if alert.kind == "threshold":
        return [threshold_condition(alert, ctx)]
    if alert.kind == "anomaly":
        return [anomaly_condition(alert, ctx)]
    return [drift_condition(alert, ctx)]


def _condition(
    alert: AlertDef, ctx: RuleContext, holds: bool, current: float | None, deployment: str | None, note: str
) -> Condition:
    return Condition(
        rule=alert.name,
        labels=alert_labels(alert, ctx.project, deployment),
        annotations={"summary": alert_summary(alert)},
        holds=holds,
        value=current,
        severity=alert.severity,
        for_seconds=parse_duration(alert.for_),
        deployment=deployment,
        action=alert.action,
        note=note,
    )


def _floor_minute(moment: datetime) -> datetime:
    return moment.replace(second=0, microsecond=0)
