"""SLOs as code, compiled to Prometheus multi-window, multi-burn-rate alerts.

An SLO says what share of events must be good over a 30-day budget: availability (requests that
did not fail with a 5xx, or predictions that did not error) or latency (requests answered within
a threshold that is a bucket bound of the histogram). It compiles to recording rules — the error
ratio over 5m, 30m, 1h, 6h and 3d — and two alerts, exactly as the Google SRE workbook's
"multiwindow, multi-burn-rate alerts" (chapter 5) set them up:

- page when the budget burns at 14.4× over 1 h and over 5 m (2 % of 30 days' budget in an hour),
  or at 6× over 6 h and over 30 m (5 % in six hours);
- ticket when it burns at 1× over 3 d and over 6 h (10 % in three days).

The short window makes an alert stop soon after the burning stops; the long one keeps a blip from
paging. Two engines read the same definition: Prometheus, through the rules compiled here, and
shipyard itself (`burn_ratios`, over the stored series) for the embedded default. The spec is YAML
(`shipyard alerts apply slos.yaml`, `shipyard alerts export-prometheus slos.yaml`):

    slos:
      - name: ask-availability
        objective: 99.9            # percent of good events over 30 days
        sli: {availability: {route: /v1/ask}}
      - name: bikes-latency
        objective: 99
        sli: {latency: {deployment: bikes, threshold: 0.1}}
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shipyard.errors import InvalidInput
from shipyard.monitoring import promql
from shipyard.monitoring.signals import Target, good_share, is_bad, reading
from shipyard.names import check_name
from shipyard.specs import validation_message
from shipyard.store import Database
from shipyard.telemetry import series
from shipyard.yamlfile import load_yaml

WINDOWS = ("5m", "30m", "1h", "6h", "3d")
WINDOW_SECONDS = {"5m": 300, "30m": 1800, "1h": 3600, "6h": 21600, "3d": 259200}
RECORD = "shipyard_slo:error_ratio:rate{window}"
PAGE_ALERT = "ShipyardSLOBurnRateHigh"
TICKET_ALERT = "ShipyardSLOBudgetBurn"


@dataclass(frozen=True)
class BurnRule:
    """Alert when the error ratio exceeds `factor` × the budget over both windows."""

    severity: Literal["page", "ticket"]
    factor: float
    long: str
    short: str


# The SRE workbook's recommended parameters for a 30-day budget.
BURN_RULES = (
    BurnRule("page", 14.4, "1h", "5m"),
    BurnRule("page", 6.0, "6h", "30m"),
    BurnRule("ticket", 1.0, "3d", "6h"),
)


class Availability(Target):
    pass


class Latency(Target):
    threshold: float = Field(gt=0, description="Seconds; a bucket bound of the latency histogram")


class Sli(BaseModel):
    model_config = ConfigDict(extra="forbid")
    availability: Availability | None = None
    latency: Latency | None = None

    @model_validator(mode="after")
    def _exactly_one(self) -> Sli:
        if (self.availability is None) == (self.latency is None):
            raise ValueError("an sli is either availability or latency")
        return self

    @property
    def target(self) -> Target:
        found = self.availability or self.latency
        assert found is not None
        return found


class Slo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    objective: float = Field(gt=0, lt=100, description="Percent of good events over the 30-day budget")
    sli: Sli
    description: str | None = None
    action: Literal["rollback_canary"] | None = Field(
        default=None, description="rollback_canary: remove the deployment's canary when the SLO pages"
    )

    @property
    def budget(self) -> float:
        """The share of events that may be bad."""
        return round(1 - self.objective / 100, 10)

    @model_validator(mode="after")
    def _action_fits(self) -> Slo:
        if self.action == "rollback_canary" and self.sli.target.deployment is None:
            raise ValueError("action rollback_canary needs an SLI on a deployment")
        return self


class SloFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slos: list[Slo] = Field(min_length=1)


def load_slos(text: str, source: str = "SLO file") -> list[Slo]:
    """Parse and check an SLO file; InvalidInput saying what is wrong and where."""
    data = load_yaml(text, source)
    try:
        slos = SloFile.model_validate(data).slos
    except ValidationError as exc:
        raise InvalidInput(f"{source}: {validation_message(exc)}") from None
    check_slos(slos, source)
    return slos


def check_slos(slos: Sequence[Slo], source: str) -> None:
    seen: set[str] = set()
    for slo in slos:
        check_name("SLO", slo.name)
        if slo.name in seen:
            raise InvalidInput(f"{source}: SLO {slo.name!r} is defined twice")
        seen.add(slo.name)
        if slo.sli.latency is not None:
            _check_bucket(slo.name, slo.sli.latency)


def _check_bucket(name: str, latency: Latency) -> None:
    bounds = reading(latency, "").bounds
    if latency.threshold not in bounds:
        raise InvalidInput(
            f"SLO {name!r}: threshold {latency.threshold:g} s is not a bucket bound of the latency histogram; "
            f"use one of {', '.join(f'{b:g}' for b in bounds)}"
        )


def error_ratio(slo: Slo, window: str, project: str = "default") -> str:
    """PromQL for the share of bad events over `window`."""
    if slo.sli.latency is not None:
        return promql.slow_ratio(slo.sli.latency, project, window, slo.sli.latency.threshold)
    return promql.error_ratio(slo.sli.target, project, window)


def burn_ratios(database: Database, slo: Slo, project_id: str, now: datetime) -> dict[str, float | None]:
    """The error ratio over each window from the stored series (the in-process engine); None for
    a window without events (Prometheus's 0/0: no alert)."""
    target = slo.sli.target
    found = reading(target, project_id)
    since = now - timedelta(seconds=WINDOW_SECONDS["3d"])
    samples = [s for query in found.queries for s in series.read(database, query, since, now)]
    ratios: dict[str, float | None] = {}
    for window, seconds in WINDOW_SECONDS.items():
        start = now - timedelta(seconds=seconds)
        inside = [s for s in samples if s.minute >= start]
        if slo.sli.latency is not None:
            good = good_share(inside, found.bounds, slo.sli.latency.threshold)
            ratios[window] = None if good is None else 1 - good
            continue
        total = sum(s.count for s in inside)
        bad = sum(s.count for s in inside if is_bad(target.family, s.status))
        ratios[window] = bad / total if total else None
    return ratios


def burning(slo: Slo, ratios: dict[str, float | None], severity: str) -> BurnRule | None:
    """The first burn rule of `severity` whose two windows both exceed its limit, if any."""
    for rule in BURN_RULES:
        if rule.severity != severity:
            continue
        limit = rule.factor * slo.budget
        long, short = ratios.get(rule.long), ratios.get(rule.short)
        if long is not None and short is not None and long > limit and short > limit:
            return rule
    return None


def alert_rules(slo: Slo, project: str, extra_labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """The page and ticket alerting rules of one SLO (over its recording rules)."""
    alerts = []
    for severity in ("page", "ticket"):
        rules = [r for r in BURN_RULES if r.severity == severity]
        conditions = " or ".join(
            f"({_ratio(slo, r.long)} > {_limit(r, slo)} and {_ratio(slo, r.short)} > {_limit(r, slo)})" for r in rules
        )
        labels = {"severity": severity, "slo": slo.name, **(extra_labels or {})}
        if severity == "page" and slo.action is not None:
            labels["shipyard_action"] = slo.action
        alerts.append(
            {
                "alert": PAGE_ALERT if severity == "page" else TICKET_ALERT,
                "expr": conditions,
                "labels": labels,
                "annotations": slo_annotations(slo, rules),
            }
        )
    return alerts


def prometheus_rules(slos: list[Slo], project: str = "default") -> dict[str, Any]:
    """A Prometheus rule file: one group of recording rules and one of alerts per SLO."""
    groups: list[dict[str, Any]] = []
    for slo in slos:
        groups.extend(prometheus_groups(slo, project))
    return {"groups": groups}


def prometheus_groups(slo: Slo, project: str, extra_labels: dict[str, str] | None = None) -> list[dict[str, Any]]:
    records = [
        {"record": RECORD.format(window=w), "expr": error_ratio(slo, w, project), "labels": {"slo": slo.name}}
        for w in WINDOWS
    ]
    return [
        {"name": f"slo-{slo.name}-recordings", "rules": records},
        {"name": f"slo-{slo.name}-alerts", "rules": alert_rules(slo, project, extra_labels)},
    ]


def _limit(rule: BurnRule, slo: Slo) -> str:
    return f"{rule.factor:g} * {slo.budget:g}"


def _ratio(slo: Slo, window: str) -> str:
    return f'{RECORD.format(window=window)}{{slo="{slo.name}"}}'


def slo_annotations(slo: Slo, rules: Sequence[BurnRule]) -> dict[str, str]:
    burns = " or ".join(f"{r.factor:g}x over {r.long} and {r.short}" for r in rules)
    what = slo.description or describe(slo)
    return {
        "summary": f"SLO {slo.name} ({slo.objective:g} % {what}) is burning its 30-day error budget",
        "description": f"The error budget ({slo.budget:g}) burns at {burns}.",
    }


def describe(slo: Slo) -> str:
    target = slo.sli.target
    if slo.sli.latency is not None:
        return f"of requests to {target.describe()} within {slo.sli.latency.threshold:g} s"
    if target.deployment:
        return f"of {target.describe()}'s predictions without an error"
    if target.model:
        return f"of calls to {target.describe()} without an error"
    return f"of requests to {target.describe()} without a server error"
