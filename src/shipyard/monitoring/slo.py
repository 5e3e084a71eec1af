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
paging. The spec is YAML (`shipyard alerts export-prometheus slos.yaml`):

    slos:
      - name: ask-availability
        objective: 99.9            # percent of good events over 30 days
        sli: {availability: {route: /v1/ask}}
      - name: bikes-latency
        objective: 99
        sli: {latency: {deployment: bikes, threshold: 0.1}}
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

import yaml
from prometheus_client.utils import floatToGoString
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from shipyard.errors import InvalidInput
from shipyard.names import check_name
from shipyard.telemetry.metrics import HTTP_BUCKETS, PREDICTION_BUCKETS
from shipyard.yamlfile import load_yaml

WINDOWS = ("5m", "30m", "1h", "6h", "3d")
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


class _Selector(BaseModel):
    model_config = ConfigDict(extra="forbid")
    route: str | None = Field(default=None, description="An HTTP route template, e.g. /v1/ask (default: all)")
    method: str | None = Field(default=None, description="An HTTP method (default: all)")
    deployment: str | None = Field(default=None, description="A model deployment instead of HTTP routes")

    @model_validator(mode="after")
    def _one_target(self) -> _Selector:
        if self.deployment is not None and (self.route is not None or self.method is not None):
            raise ValueError("give either deployment or route/method, not both")
        return self


class Availability(_Selector):
    pass


class Latency(_Selector):
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


class Slo(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str
    objective: float = Field(gt=0, lt=100, description="Percent of good events over the 30-day budget")
    sli: Sli
    description: str | None = None

    @property
    def budget(self) -> float:
        """The share of events that may be bad."""
        return round(1 - self.objective / 100, 10)


class SloFile(BaseModel):
    model_config = ConfigDict(extra="forbid")
    slos: list[Slo] = Field(min_length=1)


def load_slos(text: str, source: str = "SLO file") -> list[Slo]:
    """Parse and check an SLO file; InvalidInput saying what is wrong and where."""
    data = load_yaml(text, source)
    try:
        slos = SloFile.model_validate(data).slos
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        raise InvalidInput(f"{source}: {where}: {first['msg']}") from None
    seen: set[str] = set()
    for slo in slos:
        check_name("SLO", slo.name)
        if slo.name in seen:
            raise InvalidInput(f"{source}: SLO {slo.name!r} is defined twice")
        seen.add(slo.name)
        if slo.sli.latency is not None:
            _check_bucket(slo.name, slo.sli.latency)
    return slos


def _check_bucket(name: str, latency: Latency) -> None:
    buckets = PREDICTION_BUCKETS if latency.deployment else HTTP_BUCKETS
    if latency.threshold not in buckets:
        raise InvalidInput(
            f"SLO {name!r}: threshold {latency.threshold:g} s is not a bucket bound of the latency histogram; "
            f"use one of {', '.join(f'{b:g}' for b in buckets)}"
        )


def error_ratio(slo: Slo, window: str) -> str:
    """PromQL for the share of bad events over `window`."""
    sli = slo.sli.availability or slo.sli.latency
    assert sli is not None
    latency = slo.sli.latency
    le = floatToGoString(latency.threshold) if latency is not None else ""  # type: ignore[no-untyped-call]
    if sli.deployment is not None:
        # Shadow calls are not answers anyone received: they do not count against the SLO.
        served = {"deployment": sli.deployment, "role": "!shadow"}
        if latency is not None:
            histogram = "shipyard_prediction_duration_seconds"
            good = _rate(f"{histogram}_bucket", {**served, "le": le}, window)
            return f"1 - ({good} / {_rate(f'{histogram}_count', served, window)})"
        bad = _rate("shipyard_predictions_total", {**served, "status": "error"}, window)
        return f"{bad} / {_rate('shipyard_predictions_total', served, window)}"
    requests: dict[str, str] = {}
    if sli.route is not None:
        requests["http_route"] = sli.route
    if sli.method is not None:
        requests["http_request_method"] = sli.method.upper()
    histogram = "http_server_request_duration_seconds"
    count = _rate(f"{histogram}_count", requests, window)
    if latency is not None:
        return f"1 - ({_rate(f'{histogram}_bucket', {**requests, 'le': le}, window)} / {count})"
    bad = _rate(f"{histogram}_count", {**requests, "http_response_status_code": "~5.."}, window)
    return f"{bad} / {count}"


def _rate(metric: str, labels: Mapping[str, str], window: str) -> str:
    return f"sum(rate({metric}{_matchers(labels)}[{window}]))"


def _matchers(labels: Mapping[str, str]) -> str:
    """`{a="x",b=~"y",c!="z"}`: a value starting with `~` is a regex match, with `!` a negative one."""
    parts = []
    for key, value in labels.items():
        if value.startswith("~"):
            parts.append(f'{key}=~"{_escape(value[1:])}"')
        elif value.startswith("!"):
            parts.append(f'{key}!="{_escape(value[1:])}"')
        else:
            parts.append(f'{key}="{_escape(value)}"')
    return "{" + ",".join(parts) + "}" if parts else ""


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


def prometheus_rules(slos: list[Slo]) -> dict[str, Any]:
    """A Prometheus rule file: one group of recording rules and one of alerts per SLO."""
    groups: list[dict[str, Any]] = []
    for slo in slos:
        records = [
            {"record": RECORD.format(window=w), "expr": error_ratio(slo, w), "labels": {"slo": slo.name}}
            for w in WINDOWS
        ]
        alerts = []
        for severity in ("page", "ticket"):
            rules = [r for r in BURN_RULES if r.severity == severity]
            conditions = " or ".join(
                f"({_ratio(slo, r.long)} > {_limit(r, slo)} and {_ratio(slo, r.short)} > {_limit(r, slo)})"
                for r in rules
            )
            alerts.append(
                {
                    "alert": PAGE_ALERT if severity == "page" else TICKET_ALERT,
                    "expr": conditions,
                    "labels": {"severity": severity, "slo": slo.name},
                    "annotations": _annotations(slo, rules),
                }
            )
        groups.append({"name": f"slo-{slo.name}-recordings", "rules": records})
        groups.append({"name": f"slo-{slo.name}-alerts", "rules": alerts})
    return {"groups": groups}


def _limit(rule: BurnRule, slo: Slo) -> str:
    return f"{rule.factor:g} * {slo.budget:g}"


def _ratio(slo: Slo, window: str) -> str:
    return f'{RECORD.format(window=window)}{{slo="{slo.name}"}}'


def _annotations(slo: Slo, rules: list[BurnRule]) -> dict[str, str]:
    burns = " or ".join(f"{r.factor:g}x over {r.long} and {r.short}" for r in rules)
    what = slo.description or _describe(slo)
    return {
        "summary": f"SLO {slo.name} ({slo.objective:g} % {what}) is burning its 30-day error budget",
        "description": f"The error budget ({slo.budget:g}) burns at {burns}.",
    }


def _describe(slo: Slo) -> str:
    sli = slo.sli.availability or slo.sli.latency
    assert sli is not None
    target = f"deployment {sli.deployment}" if sli.deployment else (sli.route or "all routes")
    if slo.sli.latency is not None:
        return f"of requests to {target} within {slo.sli.latency.threshold:g} s"
    return (
        f"of requests to {target} without a server error"
        if not sli.deployment
        else f"of {target}'s predictions without an error"
    )


def rules_yaml(slos: list[Slo]) -> str:
    header = "# Generated by `shipyard alerts export-prometheus` from an SLO file; edit the SLOs, not this.\n"
    return header + yaml.safe_dump(prometheus_rules(slos), sort_keys=False, width=200)
