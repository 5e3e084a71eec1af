"""Signals: the platform's own series as alert rules name them, and how to read them.

A signal is one number per minute (or per window) computed from the stored series
(`shipyard.telemetry.series`): request volume, error rate, a latency quantile, tokens, cost,
mean feedback score. What it is about is said by a target — an HTTP route and method, a
deployment and role, or an LLM model — or, with none, the whole platform (HTTP) or the project
(tokens, cost, feedback). The same spec compiles to PromQL over the Prometheus metrics
(`promql`), so a threshold rule means the same thing to both engines.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from shipyard.telemetry.metrics import GENAI_DURATION_BUCKETS, HTTP_BUCKETS, PREDICTION_BUCKETS
from shipyard.telemetry.series import MINUTE, Sample, SeriesQuery

SignalName = Literal[
    "requests", "error_rate", "latency_p50", "latency_p95", "latency_p99", "tokens", "cost", "feedback"
]
Family = Literal["http", "prediction", "llm", "feedback"]
ROLES = ("champion", "canary", "pinned", "shadow")
QUANTILES = {"latency_p50": 0.5, "latency_p95": 0.95, "latency_p99": 0.99}
# Counts: a minute without rows is a real zero. Ratios, latencies and means: no data.
ZERO_WHEN_EMPTY = ("requests", "tokens", "cost")
BAD_LLM_STATUSES = ("error", "truncated")


class Target(BaseModel):
    """What a signal or SLI is about: one of an HTTP route, a deployment or a model (or none)."""

    model_config = ConfigDict(extra="forbid")
    route: str | None = Field(default=None, description="An HTTP route template, e.g. /v1/ask")
    method: str | None = Field(default=None, description="An HTTP method")
    deployment: str | None = Field(default=None, description="A model deployment")
    role: Literal["champion", "canary", "pinned", "shadow"] | None = Field(
        default=None, description="Only this role's predictions (default: every served one, no shadow calls)"
    )
    model: str | None = Field(default=None, description="An LLM model name as clients ask for it")

    @model_validator(mode="after")
    def _one_family(self) -> Target:
        families = [f for f, given in (("route/method", self.route or self.method), ("deployment", self.deployment),
                                       ("model", self.model)) if given]  # fmt: skip
        if len(families) > 1:
            raise ValueError(f"give one of route/method, deployment or model, not {' and '.join(families)}")
        if self.role is not None and self.deployment is None:
            raise ValueError("role needs a deployment")
        return self

    @property
    def family(self) -> Family:
        if self.deployment is not None:
            return "prediction"
        if self.model is not None:
            return "llm"
        return "http"

    def describe(self) -> str:
        if self.deployment is not None:
            return f"deployment {self.deployment}" + (f" ({self.role})" if self.role else "")
        if self.model is not None:
            return f"model {self.model}"
        if self.route or self.method:
            return " ".join(p for p in (self.method.upper() if self.method else None, self.route) if p)
        return "all routes"


class Signal(Target):
    signal: SignalName

    @model_validator(mode="after")
    def _fits(self) -> Signal:
        if (
            self.signal in ("tokens", "cost")
            and self.family == "prediction"
            or (self.signal in ("tokens", "cost") and (self.route or self.method))
        ):
            raise ValueError(f"{self.signal} is a signal of LLM calls: give a model or no target")
        if self.signal == "feedback" and (self.route or self.method or self.deployment or self.model):
            raise ValueError("feedback is the project's mean feedback score: it takes no target")
        return self

    @property
    def source(self) -> Family:
        if self.signal == "feedback":
            return "feedback"
        if self.signal in ("tokens", "cost"):
            return "llm"
        return self.family

    def describe(self) -> str:
        what = self.signal.replace("_", " ")
        if self.signal == "feedback":
            return "mean feedback score"
        if self.signal in ("tokens", "cost") and self.model is None:
            return f"{what} of every model"
        return f"{what} of {Target.describe(self)}"


@dataclass(frozen=True)
class Reading:
    """How to read one signal from the store: which series, and their histogram bounds."""

    queries: tuple[SeriesQuery, ...]
    bounds: tuple[float, ...]


def reading(target: Target, project_id: str, signal: str = "requests") -> Reading:
    """The stored series behind `signal` of `target` in `project_id` (HTTP series are platform-wide)."""
    if signal == "feedback":
        return Reading((SeriesQuery("feedback", project_id),), ())
    if signal in ("tokens", "cost"):
        name = "llm_tokens" if signal == "tokens" else "llm_cost"
        return Reading((SeriesQuery(name, project_id, target=target.model),), ())
    family = target.family
    if family == "prediction":
        excluded = () if target.role is not None else ("shadow",)  # nobody received a shadow's answer
        query = SeriesQuery("prediction", project_id, target.deployment, target.role, excluded)
        return Reading((query,), PREDICTION_BUCKETS)
    if family == "llm":
        return Reading((SeriesQuery("llm", project_id, target=target.model),), GENAI_DURATION_BUCKETS)
    method = target.method.upper() if target.method else None
    return Reading((SeriesQuery("http", None, target.route, method),), HTTP_BUCKETS)


def is_bad(family: str, status: str) -> bool:
    """An event that counts against availability: a 5xx, a failed prediction, a failed LLM call."""
    if family == "http":
        return status.startswith("5")
    if family == "llm":
        return status in BAD_LLM_STATUSES
    return status == "error"


def value(signal: Signal, samples: Sequence[Sample], bounds: Sequence[float]) -> float | None:
    """The signal over `samples` (a minute or a whole window); None when there is nothing to say."""
    count = sum(s.count for s in samples)
    if signal.signal in ("tokens", "cost"):
        return sum(s.total for s in samples)
    if signal.signal == "requests":
        return count
    if count == 0:
        return None
    if signal.signal == "feedback":
        return sum(s.total for s in samples) / count
    if signal.signal == "error_rate":
        return sum(s.count for s in samples if is_bad(signal.source, s.status)) / count
    return quantile(QUANTILES[signal.signal], merged_buckets(samples, len(bounds)), bounds)


def merged_buckets(samples: Sequence[Sample], size: int) -> list[float]:
    merged = [0.0] * (size + 1)
    for sample in samples:
        if sample.buckets is not None and len(sample.buckets) == size + 1:
            for index, count in enumerate(sample.buckets):
                merged[index] += count
    return merged


def quantile(q: float, buckets: Sequence[float], bounds: Sequence[float]) -> float | None:
    """Prometheus's `histogram_quantile`: linear within the bucket holding rank q; the highest
    finite bound when the rank falls in the overflow bucket."""
    total = sum(buckets)
    if total == 0 or not bounds:
        return None
    rank = q * total
    seen = 0.0
    for index, count in enumerate(buckets[:-1]):
        if seen + count >= rank and count > 0:
            lower = bounds[index - 1] if index > 0 else 0.0
            return lower + (bounds[index] - lower) * (rank - seen) / count
        seen += count
    return bounds[-1]


def good_share(samples: Sequence[Sample], bounds: Sequence[float], threshold: float) -> float | None:
    """The share of events at or below `threshold` (a bound): 1 − the latency SLI's error ratio."""
    buckets = merged_buckets(samples, len(bounds))
    total = sum(buckets)
    if total == 0:
        return None
    index = list(bounds).index(threshold)
    return sum(buckets[: index + 1]) / total


def per_minute(
    signal: Signal, samples: Sequence[Sample], bounds: Sequence[float], start: datetime, end: datetime
) -> list[tuple[datetime, float | None]]:
    """One value per minute in [start, end), minutes with no rows as 0 (counts) or None."""
    by_minute: dict[datetime, list[Sample]] = {}
    for sample in samples:
        if sample.resolution == MINUTE:
            by_minute.setdefault(sample.minute, []).append(sample)
    values: list[tuple[datetime, float | None]] = []
    minute = start
    while minute < end:
        found = by_minute.get(minute)
        if found:
            values.append((minute, value(signal, found, bounds)))
        else:
            values.append((minute, 0.0 if signal.signal in ZERO_WHEN_EMPTY else None))
        minute += timedelta(seconds=MINUTE)
    return values
