"""Alerting as code: one file (or API body) holds a project's SLOs, alert rules and notifiers.

    slos:                       # burn-rate alerts (slo.py)
      - {name: bikes-errors, objective: 99.5, sli: {availability: {deployment: bikes}}}
    alerts:
      - name: canary-errors     # a threshold on a signal over a window
        threshold: {signal: error_rate, deployment: bikes, role: canary}
        window: 5m
        above: 0.05
        min_events: 20
        action: rollback_canary
      - name: ask-latency-anomaly   # the online detector on a signal, minute by minute
        anomaly: {signal: latency_p95, route: /v1/ask}
      - name: bikes-drift       # a drift monitor's verdict
        drift: {monitor: bikes-drift}
    notifiers:
      - {name: oncall, webhook: "http://receiver/alerts", match: {severity: page}}
      - {name: team, slack: "https://hooks.slack.com/services/…"}

Applying a file replaces the project's whole alerting configuration (what is not in it is
removed), so the file in version control is the truth. Everything but anomaly rules also
compiles to Prometheus rule files (`prometheus_rules`) for production.
"""

from __future__ import annotations

import os
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shipyard.errors import InvalidInput
from shipyard.monitoring import promql
from shipyard.monitoring.references import format_duration, parse_duration
from shipyard.monitoring.signals import Signal
from shipyard.monitoring.slo import PAGE_ALERT, TICKET_ALERT, Slo, check_slos, prometheus_groups
from shipyard.names import check_name
from shipyard.specs import validation_message
from shipyard.yamlfile import load_yaml

SEVERITIES = ("page", "ticket", "info")
ACTIONS = ("rollback_canary",)
Severity = Literal["page", "ticket", "info"]
MAX_WINDOW_SECONDS = 3 * 86400  # the series keep minutes for 8 h and hours beyond; 3 d is the longest window
DEFAULT_ANOMALY_HOLD = "15m"


class DriftTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")
    monitor: str = Field(description="A drift monitor of the project")


class AlertDef(BaseModel):
    """One alert rule: exactly one of `threshold`, `anomaly` or `drift`."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    name: str
    threshold: Signal | None = None
    anomaly: Signal | None = None
    drift: DriftTarget | None = None
    window: str = Field(default="5m", description="threshold: the window the signal is read over")
    above: float | None = Field(
        default=None, allow_inf_nan=False, description="threshold: fire when the signal is above this"
    )
    below: float | None = Field(
        default=None, allow_inf_nan=False, description="threshold: fire when the signal is below this"
    )
    min_events: int = Field(default=0, ge=0, description="threshold: no verdict with fewer events in the window")
    hold: str = Field(
        default=DEFAULT_ANOMALY_HOLD, description="anomaly: the alert stays firing this long after the last anomaly"
    )
    for_: str = Field(default="0s", alias="for", description="The condition must hold this long before firing")
    severity: Severity = "page"
    action: Literal["rollback_canary"] | None = None
    description: str | None = None

    @model_validator(mode="after")
    def _consistent(self) -> AlertDef:
        kinds = [k for k in ("threshold", "anomaly", "drift") if getattr(self, k) is not None]
        if len(kinds) != 1:
            raise ValueError("an alert is exactly one of threshold, anomaly or drift")
        if self.threshold is not None and (self.above is None) == (self.below is None):
            raise ValueError("a threshold alert needs exactly one of above or below")
        if self.threshold is None and (self.above is not None or self.below is not None):
            raise ValueError("above/below belong to threshold alerts")
        seconds = self._seconds("window", self.window)
        if not 60 <= seconds <= MAX_WINDOW_SECONDS:
            raise ValueError(f"window must be between 1m and 3d, got {self.window}")
        self._seconds("for", self.for_)
        self._seconds("hold", self.hold)
        if self.action == "rollback_canary" and not self.watches_deployment:
            raise ValueError("action rollback_canary needs a rule on a deployment (or a drift monitor)")
        return self

    def _seconds(self, field: str, value: str) -> int:
        """`parse_duration` (0 … 400 days), its InvalidInput saying which rule and field."""
        try:
            return parse_duration(value)
        except InvalidInput as exc:
            raise InvalidInput(f"alert {self.name[:64]!r}: {field}: {exc}") from None

    @property
    def kind(self) -> Literal["threshold", "anomaly", "drift"]:
        return "threshold" if self.threshold else "anomaly" if self.anomaly else "drift"

    @property
    def signal(self) -> Signal | None:
        return self.threshold or self.anomaly

    @property
    def watches_deployment(self) -> bool:
        """Whether the rule is about one deployment (a drift monitor always is)."""
        return self.drift is not None or (self.signal is not None and self.signal.deployment is not None)


class Notifier(BaseModel):
    """Where notifications go: `webhook` (Alertmanager's webhook payload) or `slack` (a
    Slack-compatible incoming webhook); `*_env` names an environment variable holding the URL."""

    model_config = ConfigDict(extra="forbid")
    name: str
    webhook: str | None = None
    slack: str | None = None
    webhook_env: str | None = None
    slack_env: str | None = None
    match: dict[str, str] = Field(default_factory=dict, description="Only alerts with these labels")
    send_resolved: bool = True

    @model_validator(mode="after")
    def _one_url(self) -> Notifier:
        given = [k for k in ("webhook", "slack", "webhook_env", "slack_env") if getattr(self, k)]
        if len(given) != 1:
            raise ValueError("a notifier has exactly one of webhook, slack, webhook_env or slack_env")
        return self

    @property
    def kind(self) -> Literal["webhook", "slack"]:
        return "slack" if self.slack or self.slack_env else "webhook"

    def resolved_url(self, *, environment: bool = False) -> str:
        """The URL; for `*_env` read from the server's environment, which only an operator's spec
        may do (`environment`): a tenant naming variables could probe them or send alerts to
        whatever URL one holds. InvalidInput otherwise, and when the variable is not set."""
        variable = self.webhook_env or self.slack_env
        if variable and not environment:
            raise InvalidInput(
                f"notifier {self.name!r}: webhook_env and slack_env read the server's environment and work "
                "only in a spec an operator applies with `shipyard alerts apply`; give the URL itself"
            )
        url = os.environ.get(variable, "") if variable else (self.webhook or self.slack or "")
        if variable and not url:
            raise InvalidInput(f"notifier {self.name!r}: environment variable {variable} is not set")
        if not url.startswith(("http://", "https://")):
            raise InvalidInput(f"notifier {self.name!r}: the URL must start with http:// or https://")
        return url


class AlertSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slos: list[Slo] = Field(default_factory=list)
    alerts: list[AlertDef] = Field(default_factory=list)
    notifiers: list[Notifier] = Field(default_factory=list)

    def checked(self, source: str = "alert spec") -> AlertSpec:
        check_slos(self.slos, source)
        names = [s.name for s in self.slos]
        for alert in self.alerts:
            check_name("alert", alert.name)
            names.append(alert.name)
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise InvalidInput(f"{source}: rule name(s) used twice: {', '.join(duplicates)}")
        notifiers = [n.name for n in self.notifiers]
        for name in notifiers:
            check_name("notifier", name)
        if len(set(notifiers)) != len(notifiers):
            raise InvalidInput(f"{source}: notifier names must be unique")
        return self


def parse_spec(data: Any, source: str = "alert spec") -> AlertSpec:
    """Check a spec given as data (a parsed file or an API body); InvalidInput saying where."""
    try:
        spec = AlertSpec.model_validate(data if data is not None else {})
    except ValidationError as exc:
        raise InvalidInput(f"{source}: {validation_message(exc)}") from None
    except InvalidInput as exc:
        raise InvalidInput(f"{source}: {exc}") from None
    return spec.checked(source)


def load_spec(text: str, source: str = "alert spec") -> AlertSpec:
    return parse_spec(load_yaml(text, source), source)


def spec_dict(spec: AlertSpec) -> dict[str, Any]:
    """The spec as it would be written (for GET and for storing), without defaults left unset."""
    return spec.model_dump(mode="json", by_alias=True, exclude_none=True, exclude_defaults=True)


def alert_labels(alert: AlertDef, project: str, deployment: str | None = None) -> dict[str, str]:
    """Labels every alert of `alert` carries (for routing, silences and deduplication)."""
    labels = {"alertname": alert.name, "severity": alert.severity, "project": project}
    signal = alert.signal
    if signal is not None:
        labels["signal"] = signal.signal
        for key in ("route", "method", "deployment", "role", "model"):
            if (value := getattr(signal, key)) is not None:
                labels[key] = str(value)
    if alert.drift is not None:
        labels["monitor"] = alert.drift.monitor
        if deployment:
            labels["deployment"] = deployment
    return labels


def slo_labels(slo: Slo, project: str, severity: str) -> dict[str, str]:
    labels = {"alertname": PAGE_ALERT if severity == "page" else TICKET_ALERT, "severity": severity, "slo": slo.name,
              "project": project}  # fmt: skip
    if slo.sli.target.deployment is not None:
        labels["deployment"] = slo.sli.target.deployment
    return labels


def prometheus_rules(spec: AlertSpec, project: str, monitors: dict[str, str] | None = None) -> dict[str, Any]:
    """A Prometheus rule file for everything in `spec` that Prometheus can evaluate; `monitors`
    maps drift monitors to their deployments (for the labels an action needs)."""
    groups: list[dict[str, Any]] = []
    for slo in spec.slos:
        extra = {"project": project}
        if slo.sli.target.deployment is not None:
            extra["deployment"] = slo.sli.target.deployment
        groups.extend(prometheus_groups(slo, project, extra))
    rules = [rule for alert in spec.alerts if (rule := _prometheus_alert(alert, project, monitors or {}))]
    if rules:
        groups.append({"name": f"shipyard-{project}-alerts", "rules": rules})
    return {"groups": groups}


def _prometheus_alert(alert: AlertDef, project: str, monitors: dict[str, str]) -> dict[str, Any] | None:
    if alert.kind == "anomaly":
        return None
    labels = alert_labels(alert, project, monitors.get(alert.drift.monitor) if alert.drift else None)
    labels.pop("alertname")
    if alert.action is not None:
        labels["shipyard_action"] = alert.action
    rule: dict[str, Any] = {"alert": alert.name}
    if alert.drift is not None:
        selector = promql.matchers({"project": project, "monitor": alert.drift.monitor})
        rule["expr"] = f"max({promql.DRIFTING}{selector}) == 1"
    else:
        assert alert.threshold is not None
        window = format_duration(parse_duration(alert.window))
        operator, bound = (">", alert.above) if alert.above is not None else ("<", alert.below)
        expr = f"({promql.signal_expr(alert.threshold, project, window)}) {operator} {bound:g}"
        if alert.min_events:
            expr += f" and on() ({promql.count_expr(alert.threshold, project, window)}) >= {alert.min_events}"
        rule["expr"] = expr
    if parse_duration(alert.for_):
        rule["for"] = format_duration(parse_duration(alert.for_))
    rule["labels"] = labels
    rule["annotations"] = {"summary": alert_summary(alert)}
    return rule


def alert_summary(alert: AlertDef) -> str:
    if alert.description:
        return alert.description
    if alert.drift is not None:
        return f"drift monitor {alert.drift.monitor} finds drift"
    signal = alert.signal
    assert signal is not None
    if alert.anomaly is not None:
        return f"anomaly in {signal.describe()}"
    bound = f"above {alert.above:g}" if alert.above is not None else f"below {alert.below:g}"
    return f"{signal.describe()} {bound} over {alert.window}"


def rules_yaml(rules: dict[str, Any], skipped: list[str] | None = None) -> str:
    header = "# Generated by `shipyard alerts export-prometheus`; edit the alert spec, not this.\n"
    if skipped:
        header += f"# Evaluated by shipyard only (no PromQL equivalent): {', '.join(skipped)}\n"
    return header + yaml.safe_dump(rules, sort_keys=False, width=200)
