"""Prometheus metrics, one registry per app (so tests and several apps never collide).

HTTP metrics follow the OpenTelemetry HTTP semantic conventions (`http.server.request.duration`
in seconds, by `http.request.method`, `http.route`, `http.response.status_code`), translated to
Prometheus names. Labels stay bounded: route templates, never ids or raw paths.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Summary, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

from shipyard.telemetry.series import SeriesRecorder

# The OpenTelemetry default buckets for http.server.request.duration (seconds).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
JOB_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)
# The OpenTelemetry GenAI semantic conventions' advised buckets.
GENAI_DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
GENAI_TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304)
TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
RETRIEVAL_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
RESULT_BUCKETS = (0, 1, 2, 5, 10, 20, 50, 100)
PREDICTION_BUCKETS = (0.001, 0.0025, 0.005, 0.0075, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)
# Prometheus scrapes every 15-60 s: a second-old exposition is as good as a fresh one.
RENDER_CACHE_SECONDS = 1.0


class ProjectNames:
    """Project ids to names for metric labels, looked up once per project and process (names never
    change); an id that cannot be looked up is used as it is."""

    def __init__(self, lookup: Callable[[Any], str] | None = None) -> None:
        self._lookup = lookup
        self._names: dict[str, str] = {}

    def __call__(self, project_id: str | None) -> str:
        if project_id is None:
            return ""
        name = self._names.get(project_id)
        if name is None:
            try:
                name = self._lookup(project_id) if self._lookup else project_id
            except Exception:  # noqa: BLE001 - a label must never fail a request
                return project_id
            self._names[project_id] = name
        return name


class Metrics:
    def __init__(self, series: SeriesRecorder | None = None, project_names: ProjectNames | None = None) -> None:
        self._render_lock = threading.Lock()
        self._rendered: tuple[float, bytes] = (-RENDER_CACHE_SECONDS, b"")
        self.registry = CollectorRegistry(auto_describe=True)
        self.series = series
        self.project_names = project_names or ProjectNames()
        self.http_duration = Histogram(
            "http_server_request_duration_seconds",
            "Duration of HTTP server requests.",
            ["http_request_method", "http_route", "http_response_status_code"],
            buckets=HTTP_BUCKETS,
            registry=self.registry,
        )
        self._http_children: dict[tuple[str, str, int], Histogram] = {}
        self.rate_limited = Counter(
            "shipyard_rate_limited_requests_total", "Requests refused with 429.", registry=self.registry
        )
        self.jobs_finished = Counter(
            "shipyard_job_attempts_total",
            "Job attempts by kind and outcome (succeeded, retrying, failed, interrupted).",
            ["kind", "outcome"],
            registry=self.registry,
        )
        self.job_duration = Histogram(
            "shipyard_job_duration_seconds",
            "Wall time of one job attempt.",
            ["kind"],
            buckets=JOB_BUCKETS,
            registry=self.registry,
        )

        self.feedback = Summary(
            "shipyard_feedback_score", "Feedback scores given to traces (-1..1).", ["project"], registry=self.registry
        )
        self.genai = GenAIMetrics(self.registry, series, self.project_names)
        self.serving = ServingMetrics(self.registry, series, self.project_names)

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._http_children.get(key)
        if child is None:  # label sets are bounded (route templates), so this cache is too
            child = self._http_children[key] = self.http_duration.labels(method, route, str(status))
        child.observe(seconds)
        if self.series is not None:
            self.series.record("http", route, method, str(status), seconds, bounds=HTTP_BUCKETS)

    def observe_feedback(self, project_id: str, score: float) -> None:
        self.feedback.labels(self.project_names(project_id)).observe(score)
        if self.series is not None:
            self.series.record("feedback", "", "", "ok", score, project_id=project_id)

    def observe_job(self, kind: str, outcome: str, seconds: float) -> None:
        self.jobs_finished.labels(kind, outcome).inc()
        self.job_duration.labels(kind).observe(seconds)

    def gauge(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A gauge read at scrape time (queue depths, drop counters kept elsewhere)."""
        Gauge(name, documentation, registry=self.registry).set_function(read)

    def counter(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """A counter whose value is kept elsewhere (e.g. a writer's drop count), read at scrape time."""
        self.registry.register(_ReadCounter(name, documentation, read))

    def add_collector(self, collector: Collector) -> None:
        self.registry.register(collector)

    def render(self) -> bytes:
        return generate_latest(self.registry)

    def render_cached(self, max_age_seconds: float = RENDER_CACHE_SECONDS) -> bytes:
        """The exposition, re-rendered at most every `max_age_seconds`: a scrape reads every
        collector (some query the store), and several scrapers — or a client looping on
        /metrics — must not cost that each time. Concurrent callers wait for one render."""
        with self._render_lock:
            rendered_at, body = self._rendered
            if time.monotonic() - rendered_at >= max_age_seconds:
                body = self.render()
                self._rendered = (time.monotonic(), body)
            return body


class GenAIMetrics:
    """LLM calls and retrieval, from the traces every ask and chat call records (one place, so the
    metrics and the traces cannot disagree). Names follow the OpenTelemetry GenAI conventions
    (`gen_ai.client.operation.duration`, `gen_ai.client.token.usage`,
    `gen_ai.server.time_to_first_token`) where they exist. Labels are the gateway's model names and
    provider models — bounded by the configuration — never collections, prompts or ids."""

    def __init__(
        self, registry: CollectorRegistry, series: SeriesRecorder | None = None, projects: ProjectNames | None = None
    ) -> None:
        self._series = series
        self._projects = projects or ProjectNames()
        # Label children by (metric, label values): `labels()` validates and locks on every call,
        # and a chat call touches up to ten of them. Bounded as the label sets themselves are.
        self._children: dict[tuple[Any, ...], Any] = {}
        model = ["gen_ai_request_model", "gen_ai_response_model"]
        self.duration = Histogram(
            "gen_ai_client_operation_duration_seconds",
            "Duration of LLM calls (all attempts).",
            [*model, "error_type"],
            buckets=GENAI_DURATION_BUCKETS,
            registry=registry,
        )
        self.tokens = Histogram(
            "gen_ai_client_token_usage",
            "Tokens per LLM call.",
            [*model, "gen_ai_token_type"],
            buckets=GENAI_TOKEN_BUCKETS,
            registry=registry,
        )
        self.first_token = Histogram(
            "gen_ai_server_time_to_first_token_seconds",
            "Time to the first streamed token.",
            model,
            buckets=TTFT_BUCKETS,
            registry=registry,
        )
        self.calls = Counter(
            "shipyard_llm_calls_total",
            "Ask and chat calls by project and outcome.",
            ["project", "kind", "model", "status"],
            registry=registry,
        )
        self.call_duration = Histogram(
            "shipyard_llm_call_duration_seconds",
            "The LLM part of every ask and chat call by project and model (what latency alerts read).",
            ["project", "model"],
            buckets=GENAI_DURATION_BUCKETS,
            registry=registry,
        )
        self.cost = Counter(
            "shipyard_llm_cost_total",
            "Cost of LLM calls (price table currency) by project.",
            ["project", *model],
            registry=registry,
        )
        self.project_tokens = Counter(
            "shipyard_llm_tokens_total",
            "Tokens of LLM calls by project, requested model and type (input, output).",
            ["project", "gen_ai_request_model", "gen_ai_token_type"],
            registry=registry,
        )
        self.cache_hits = Counter(
            "shipyard_llm_cache_hits_total",
            "Calls answered from the response cache.",
            ["gen_ai_request_model"],
            registry=registry,
        )
        self.fallbacks = Counter(
            "shipyard_llm_fallbacks_total",
            "Calls answered by another provider model than the first one tried.",
            ["gen_ai_request_model"],
            registry=registry,
        )
        self.truncations = Counter(
            "shipyard_llm_truncations_total", "Streams cut off after their first token.", model, registry=registry
        )
        self.attempt_errors = Counter(
            "shipyard_llm_attempt_errors_total",
            "Failed attempts by provider model and error code.",
            ["provider_model", "error_type"],
            registry=registry,
        )
        self.retrieval = Histogram(
            "shipyard_retrieval_duration_seconds",
            "Search calls (query embedding included).",
            ["mode"],
            buckets=RETRIEVAL_BUCKETS,
            registry=registry,
        )
        self.results = Histogram(
            "shipyard_retrieval_results",
            "Hits returned per search call.",
            ["mode"],
            buckets=RESULT_BUCKETS,
            registry=registry,
        )

    def observe_search(self, mode: str, seconds: float, results: int) -> None:
        self.retrieval.labels(mode).observe(seconds)
        self.results.labels(mode).observe(results)

    def observe_trace(self, trace: Any) -> None:
        """Count one ask or chat call (a `TraceRecord`)."""
        # A model name nobody configured is the caller's free text: never a label value.
        requested = "unknown" if trace.error_code == "model_not_found" else trace.model or "none"
        project = self._projects(trace.project_id)
        child = self._child
        child(self.calls, project, trace.kind, requested, trace.status).inc()
        details = trace.details or {}
        for attempt in details.get("attempts") or []:
            if attempt.get("error"):
                child(self.attempt_errors, attempt["deployment"], attempt["error"]).inc()
        answered = trace.provider_model or "none"
        seconds = _llm_seconds(trace)
        child(self.call_duration, project, requested).observe(seconds)
        if self._series is not None:
            self._series_of(trace, requested, answered, seconds)
        if trace.provider_model is None and not trace.cache_hit:
            return  # no LLM was called (extractive, nothing relevant, or it failed before one answered)
        child(self.duration, requested, answered, trace.error_code or "").observe(seconds)
        child(self.tokens, requested, answered, "input").observe(trace.input_tokens)
        child(self.tokens, requested, answered, "output").observe(trace.output_tokens)
        child(self.project_tokens, project, requested, "input").inc(trace.input_tokens)
        child(self.project_tokens, project, requested, "output").inc(trace.output_tokens)
        if details.get("first_token_ms") is not None:
            child(self.first_token, requested, answered).observe(details["first_token_ms"] / 1000)
        if trace.cost:
            child(self.cost, project, requested, answered).inc(trace.cost)
        if trace.cache_hit:
            child(self.cache_hits, requested).inc()
        attempts = details.get("attempts") or []
        if attempts and attempts[0].get("deployment") != answered:
            child(self.fallbacks, requested).inc()
        if trace.status == "truncated":
            child(self.truncations, requested, answered).inc()

    def _child(self, metric: Any, *labels: str) -> Any:
        """`metric.labels(*labels)`, looked up once per label set."""
        key = (id(metric), *labels)
        found = self._children.get(key)
        if found is None:
            found = self._children[key] = metric.labels(*labels)
        return found

    def _series_of(self, trace: Any, requested: str, answered: str, seconds: float) -> None:
        """Every call as a point of the project's `llm` series; tokens and cost when a model answered."""
        series = self._series
        assert series is not None
        project_id = trace.project_id
        bounds = GENAI_DURATION_BUCKETS
        series.record("llm", requested, answered, trace.status, seconds, project_id=project_id, bounds=bounds)
        if trace.provider_model is None and not trace.cache_hit:
            return
        series.record("llm_tokens", requested, "input", "ok", trace.input_tokens, project_id=project_id)
        series.record("llm_tokens", requested, "output", "ok", trace.output_tokens, project_id=project_id)
        if trace.cost:
            series.record("llm_cost", requested, answered, "ok", trace.cost, project_id=project_id)


class ServingMetrics:
    """Model serving per deployment and version (both bounded by what operators deploy)."""

    def __init__(
        self, registry: CollectorRegistry, series: SeriesRecorder | None = None, projects: ProjectNames | None = None
    ) -> None:
        self._series = series
        self._projects = projects or ProjectNames()
        labels = ["project", "deployment", "version", "role"]
        self.predictions = Counter(
            "shipyard_predictions_total",
            "Prediction requests by project, deployment, version, role (champion, canary, shadow) and status.",
            [*labels, "status"],
            registry=registry,
        )
        self.duration = Histogram(
            "shipyard_prediction_duration_seconds",
            "Time from a checked payload to the model's answer (queueing for a batch included).",
            labels,
            buckets=PREDICTION_BUCKETS,
            registry=registry,
        )
        self.batch_rows = Histogram(
            "shipyard_model_batch_rows",
            "Rows per model call (micro-batching merges concurrent requests).",
            ["deployment", "version"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.loads = Counter(
            "shipyard_model_loads_total",
            "Model version loads by outcome.",
            ["deployment", "outcome"],
            registry=registry,
        )

    def observe_prediction(
        self, project_id: str, deployment: str, version: int, role: str, status: str, seconds: float
    ) -> None:
        project = self._projects(project_id)
        self.predictions.labels(project, deployment, str(version), role, status).inc()
        self.duration.labels(project, deployment, str(version), role).observe(seconds)
        if self._series is not None:
            self._series.record("prediction", deployment, role, status, seconds, project_id=project_id,
                                bounds=PREDICTION_BUCKETS)  # fmt: skip

    def observe_batch(self, deployment: str, version: int, rows: int) -> None:
        self.batch_rows.labels(deployment, str(version)).observe(rows)

    def observe_load(self, deployment: str, ok: bool) -> None:
        self.loads.labels(deployment, "ok" if ok else "error").inc()


def _llm_seconds(trace: Any) -> float:
    """The LLM part of a call: its `llm` span for an ask, the whole call for a chat completion."""
    for span in (trace.details or {}).get("spans") or []:
        if span.get("name") == "llm":
            return float(span.get("duration_ms", 0.0)) / 1000
    return float(trace.duration_ms) / 1000


class _ReadCounter(Collector):
    def __init__(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        self._name, self._documentation, self._read = name, documentation, read

    def collect(self) -> Iterator[CounterMetricFamily]:
        yield CounterMetricFamily(self._name, self._documentation, value=self._read())


class JobCountsCollector(Collector):
    """`shipyard_jobs{status}` from the store at scrape time; nothing when the store is down."""

    def __init__(self, count_by_status: Callable[[], dict[str, int]]) -> None:
        self._count = count_by_status

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily("shipyard_jobs", "Jobs in the store by status.", labels=["status"])
        try:
            counts = self._count()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the store is away
            return
        for status, count in sorted(counts.items()):
            family.add_metric([status], count)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())


class DriftingMonitorsCollector(Collector):
    """`shipyard_monitor_drifting{project,monitor,deployment}` (1 while a monitor's last run found
    drift) from the store at scrape time, so Prometheus can alert on drift too."""

    def __init__(self, read: Callable[[], list[tuple[str, str, str, bool]]], projects: ProjectNames) -> None:
        self._read = read
        self._projects = projects

    def collect(self) -> Iterator[GaugeMetricFamily]:
        family = GaugeMetricFamily(
            "shipyard_monitor_drifting",
            "1 while a drift monitor's latest run found drift.",
            labels=["project", "monitor", "deployment"],
        )
        try:
            monitors = self._read()
        except Exception:  # noqa: BLE001 - a scrape must not fail because the store is away
            return
        for project_id, monitor, deployment, drifting in monitors:
            family.add_metric([self._projects(project_id), monitor, deployment], 1.0 if drifting else 0.0)
        yield family

    def describe(self) -> Iterator[GaugeMetricFamily]:
        return iter(())
