"""Prometheus metrics, one registry per app (so tests and several apps never collide).

HTTP metrics follow the OpenTelemetry HTTP semantic conventions (`http.server.request.duration`
in seconds, by `http.request.method`, `http.route`, `http.response.status_code`), translated to
Prometheus names. Labels stay bounded: route templates, never ids or raw paths.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector

# The OpenTelemetry default buckets for http.server.request.duration (seconds).
HTTP_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)
JOB_BUCKETS = (0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600)


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
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

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        key = (method, route, status)
        child = self._http_children.get(key)
        if child is None:  # label sets are bounded (route templates), so this cache is too
            child = self._http_children[key] = self.http_duration.labels(method, route, str(status))
        child.observe(seconds)

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
