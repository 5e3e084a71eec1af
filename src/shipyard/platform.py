"""The composition root: builds every adapter once, and the lifecycle that runs them, for the
API, workers, CLI commands and tests alike (`with platform.running(): …`)."""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field

import pluggy

from shipyard.auth import AccessService
from shipyard.errors import ConfigError
from shipyard.events import AuditLog, WebhookService
from shipyard.events.delivery import Receivers
from shipyard.jobs import HandlerRegistry, JobService, Worker
from shipyard.knowledge import Embedder, KnowledgeService
from shipyard.knowledge.collections import CollectionService
from shipyard.knowledge.documents import DocumentService
from shipyard.knowledge.fetch import FetchPolicy, parse_networks
from shipyard.knowledge.index import IndexCache
from shipyard.knowledge.index_files import IndexFiles
from shipyard.knowledge.ingest import Ingester
from shipyard.knowledge.ports import VectorStore
from shipyard.knowledge.registry import Embedders, build_retrievers
from shipyard.knowledge.search import SearchService
from shipyard.llm import Gateway, RetryPolicy, build_gateway, load_config
from shipyard.llm.budgets import BudgetService
from shipyard.llm.cache import build_response_cache
from shipyard.llm.metered import MeteredGateway
from shipyard.llm.service import ChatService
from shipyard.llm.tokens import TokenCounter
from shipyard.models import DeploymentService, ModelRegistry, ModelServer, PredictionLog, mlflow_location
from shipyard.monitoring import MonitorService
from shipyard.monitoring.alerts import AlertService
from shipyard.monitoring.notifiers import NotificationSender
from shipyard.outbound import AddressPolicy
from shipyard.plugins import build_plugin_manager
from shipyard.prompts import PromptService
from shipyard.rag import RagService, RagSettings
from shipyard.ratelimit import RateLimiter, build_rate_limiter
from shipyard.runtime import AsyncClosing, Closing, Lifecycle, PeriodicTask
from shipyard.secretbox import SecretBox, home_key
from shipyard.settings import Settings
from shipyard.store import Database, create_database
from shipyard.telemetry import Metrics, RequestLog
from shipyard.telemetry.metrics import DriftingMonitorsCollector, JobCountsCollector, ProjectNames
from shipyard.telemetry.otel import OtlpExporter
from shipyard.telemetry.series import SeriesRecorder
from shipyard.telemetry.traces import TraceStore


@dataclass
class Platform:
    """Every facade of one process, built once, and the lifecycle of its background parts.

    Entry points run it (`running()` from threads, `arunning()` in the API's lifespan); routes
    are handed the facade they use, never this whole object. Plugins receive it in their hooks.
    """

    settings: Settings
    database: Database
    access: AccessService
    jobs: JobService
    handlers: HandlerRegistry
    request_log: RequestLog
    rate_limiter: RateLimiter
    metrics: Metrics
    plugins: pluggy.PluginManager
    embedders: Embedders
    knowledge: KnowledgeService
    gateway: Gateway
    tokens: TokenCounter
    prompts: PromptService
    rag: RagService
    traces: TraceStore
    chat: ChatService
    budgets: BudgetService
    metered: MeteredGateway
    otlp: OtlpExporter | None
    audit: AuditLog
    webhooks: WebhookService
    registry: ModelRegistry
    deployments: DeploymentService
    predictions: PredictionLog
    model_server: ModelServer
    monitors: MonitorService
    series: SeriesRecorder
    alerts: AlertService
    lifecycle: Lifecycle = field(default_factory=Lifecycle)
    periodic: list[PeriodicTask] = field(default_factory=list)
    _job_worker: Worker | None = field(default=None, init=False, repr=False)

    # The knowledge facade's parts, for callers written before it (prefer `knowledge`).
    @property
    def collections(self) -> CollectionService:
        return self.knowledge.collections

    @property
    def documents(self) -> DocumentService:
        return self.knowledge.documents

    @property
    def ingester(self) -> Ingester:
        return self.knowledge.ingester

    @property
    def search(self) -> SearchService:
        return self.knowledge.searcher

    @property
    def vectors(self) -> VectorStore:
        return self.knowledge.retrievers.vectors

    @property
    def embedder(self) -> Embedder:
        """The configured default embedder (SHIPYARD_EMBEDDER_URL)."""
        return self.embedders.get()

    def new_worker(self) -> Worker:
        settings = self.settings
        return Worker(
            self.jobs,
            self.handlers,
            concurrency=settings.jobs.worker_concurrency,
            poll_seconds=settings.jobs.poll_seconds,
            lease_seconds=settings.jobs.lease_seconds,
            observer=self.metrics.observe_job,
        )

    @property
    def fetch_policy(self) -> FetchPolicy:
        """What URL ingestion may fetch (SSRF rules, size and time limits) under these settings."""
        return _fetch_policy(self.settings)

    def register_periodic(self, name: str, interval_seconds: float, task: Callable[[], None]) -> None:
        """A task that runs every `interval_seconds` in each process that runs a job worker (the
        first run at its start); plugins call it from `register_periodic_tasks`."""
        if any(existing.name == name for existing in self.periodic):
            raise ConfigError(f"a periodic task named {name!r} is already registered")
        self.periodic.append(PeriodicTask(name, interval_seconds, task))

    @contextmanager
    def running(self, *, worker: bool = False) -> Iterator[Platform]:
        """Run the background parts from synchronous code (a CLI command, `shipyard worker`, a
        test); leaving the block flushes and closes every one in reverse build order."""
        with self._roles(worker=worker, serving=False), self.lifecycle.running():
            yield self

    @asynccontextmanager
    async def arunning(self, *, worker: bool = False, serving: bool = True) -> AsyncIterator[Platform]:
        """Run the background parts inside an event loop (the API's lifespan). `serving` adds the
        model server's refresh loop, which lives on that loop."""
        with self._roles(worker=worker, serving=serving):
            async with self.lifecycle.arunning():
                yield self

    def close(self) -> None:
        """Close a platform that was built but is not running (every part, in reverse order)."""
        self.lifecycle.close()

    async def aclose(self) -> None:
        """Close the event-loop parts (LLM connection pools, caches) on the calling loop, the one
        their connections belong to; `close()` or the end of `running()` does the rest."""
        await self.lifecycle.aclose_loop_parts()

    def periodic_task(self, name: str) -> PeriodicTask:
        """A registered periodic task by name (run one round of it with `.flush()`)."""
        for task in self.periodic:
            if task.name == name:
                return task
        raise KeyError(f"no periodic task named {name!r}")

    @contextmanager
    def _roles(self, *, worker: bool, serving: bool) -> Iterator[None]:
        """Add the parts only some processes run, last (so closed first), for one run."""
        added: list[str] = []
        if serving:
            self.lifecycle.add("model-server", _ModelServing(self.model_server))
            added.append("model-server")
        if worker:
            self._job_worker = self._job_worker or self.new_worker()  # one per process: it listens to enqueues
            self.lifecycle.add("job-worker", self._job_worker)
            added.append("job-worker")
            for task in self.periodic:
                self.lifecycle.add(f"periodic:{task.name}", task)
                added.append(f"periodic:{task.name}")
        try:
            yield
        finally:
            for name in added:
                self.lifecycle.remove(name)


class _ModelServing:
    """The model server's refresh loop as a part of the lifecycle (it lives on the event loop)."""

    def __init__(self, server: ModelServer) -> None:
        self._server = server

    async def astart(self) -> None:
        await self._server.start()

    async def aclose(self) -> None:
        await self._server.stop()


def build_platform(settings: Settings) -> Platform:
    database = create_database(settings.resolved_database_url)
    secrets = SecretBox(_secret_keys(settings, database))
    # One address policy and one breaker per receiver for everything a tenant's URL is sent to.
    receivers = Receivers(AddressPolicy(parse_networks(settings.security.url_allow_networks)))
    jobs = JobService(
        database, max_attempts=settings.jobs.max_attempts, retry_base_seconds=settings.jobs.retry_base_seconds
    )
    request_log = RequestLog(
        database, max_queue=settings.request_log.queue_size, flush_seconds=settings.request_log.flush_seconds
    )
    redis_url = settings.store.redis_url.get_secret_value() if settings.store.redis_url else None
    # Cheap to build: the packaged model loads on first use, a remote one is only a client.
    embedders = Embedders(
        settings.knowledge.embedder_url,
        api_key=settings.knowledge.embedder_api_key.get_secret_value() if settings.knowledge.embedder_api_key else None,
    )
    access = AccessService(database, cache_seconds=settings.api.auth_cache_seconds)
    series = SeriesRecorder(database, flush_seconds=settings.monitoring.series_flush_seconds)
    metrics = Metrics(series, ProjectNames(access.project_name))
    tokens = TokenCounter()
    traces = TraceStore(
        database, max_queue=settings.request_log.queue_size, flush_seconds=settings.request_log.flush_seconds
    )
    gateway = _gateway(settings, tokens)
    budgets = BudgetService(database, flush_traces=traces.writer.flush_now)
    metered = MeteredGateway(
        gateway,
        budgets,
        build_response_cache(redis_url, key_prefix=settings.store.redis_key_prefix),
        cache_seconds=settings.llm.cache_seconds,
    )
    prompts = PromptService(database)
    # Large collections' search indexes are saved per revision: a restart loads, not rebuilds.
    index_files = IndexFiles(settings.home / "indexes")
    retrievers = build_retrievers(
        database,
        lambda load_vectors: IndexCache(
            database,
            load_vectors=load_vectors,
            sync_rebuild_seconds=settings.knowledge.index_sync_rebuild_seconds,
            ann_min_vectors=settings.knowledge.ann_min_chunks,
            files=index_files,
        ),
        vector_url=settings.knowledge.vector_url,
    )
    knowledge = KnowledgeService(
        database,
        embedders,
        retrievers,
        jobs,
        fetch_policy=_fetch_policy(settings),
        observe_search=metrics.genai.observe_search,
    )
    knowledge.collections.on_delete(lambda collection: index_files.drop(collection.id))
    collections = knowledge.collections
    audit = AuditLog(database)
    webhooks = WebhookService(database, receivers, secrets)
    audit.listen(webhooks.notify)
    # MLflow itself is imported only when a model feature is first used (~3 s).
    registry = ModelRegistry(database, mlflow_location(settings.home, settings.models.mlflow_uri), audit)
    deployments = DeploymentService(database, registry, audit, require_approval=settings.models.require_approval)
    predictions = PredictionLog(
        database, max_queue=settings.request_log.queue_size, flush_seconds=settings.request_log.flush_seconds
    )
    monitors = MonitorService(database, deployments, predictions, audit, collections=collections, embedders=embedders)
    platform = Platform(
        settings=settings,
        database=database,
        access=access,
        jobs=jobs,
        handlers=HandlerRegistry(),
        request_log=request_log,
        rate_limiter=build_rate_limiter(redis_url, key_prefix=settings.store.redis_key_prefix),
        metrics=metrics,
        plugins=build_plugin_manager(settings.process.plugins),
        embedders=embedders,
        knowledge=knowledge,
        gateway=gateway,
        tokens=tokens,
        prompts=prompts,
        rag=RagService(
            knowledge,
            prompts,
            metered,
            tokens,
            traces,
            RagSettings(
                model=settings.rag.model or settings.llm.model,
                top_k=settings.rag.top_k,
                min_similarity=settings.rag.min_similarity,
                context_tokens=settings.rag.context_tokens,
            ),
        ),
        traces=traces,
        chat=ChatService(metered, traces),
        budgets=budgets,
        metered=metered,
        otlp=OtlpExporter(settings.monitoring.otlp_endpoint) if settings.monitoring.otlp_endpoint else None,
        audit=audit,
        webhooks=webhooks,
        registry=registry,
        deployments=deployments,
        predictions=predictions,
        model_server=ModelServer(
            deployments, predictions, refresh_seconds=settings.models.refresh_seconds, observer=metrics.serving
        ),
        monitors=monitors,
        series=series,
        alerts=AlertService(
            database,
            monitors,
            deployments,
            audit,
            NotificationSender(database, receivers, secrets),
            project_name=access.project_name,
            repeat_seconds=settings.monitoring.alert_repeat_seconds,
            flush=series.flush_now,
        ),
    )
    platform.plugins.hook.register_job_handlers(
        register=platform.handlers.register, platform=platform, services=platform
    )
    platform.plugins.hook.register_periodic_tasks(register=platform.register_periodic, platform=platform)
    _register_parts(platform)
    writer = request_log.writer
    metrics.gauge("shipyard_request_log_queue_depth", "Request-log rows waiting to be written.", lambda: writer.depth)
    metrics.counter("shipyard_request_log_dropped", "Request-log rows dropped (queue full).", lambda: writer.dropped)
    metrics.counter("shipyard_request_log_written", "Request-log rows written to the store.", lambda: writer.written)
    traces.observe(metrics.genai.observe_trace)
    if platform.otlp is not None:
        traces.observe(platform.otlp.observe)
    prediction_writer = predictions.writer
    metrics.counter(
        "shipyard_predictions_dropped", "Logged predictions dropped (queue full).", lambda: prediction_writer.dropped
    )
    trace_writer = traces.writer
    metrics.gauge("shipyard_trace_queue_depth", "Traces waiting to be written.", lambda: trace_writer.depth)
    metrics.counter("shipyard_traces_dropped", "Traces dropped (queue full).", lambda: trace_writer.dropped)
    limiter = platform.rate_limiter
    metrics.counter(
        "shipyard_rate_limiter_errors",
        "Rate-limit checks that failed and let the request through.",
        lambda: limiter.errors,
    )
    metrics.add_collector(JobCountsCollector(jobs.count_by_status))
    metrics.add_collector(DriftingMonitorsCollector(monitors.drifting, metrics.project_names))
    traces.observe_feedback(metrics.observe_feedback)
    return platform


def _register_parts(platform: Platform) -> None:
    """The background parts, in build order: closed in reverse, so a part is closed only after
    every part that writes through it (the store last, the request log before the series)."""
    settings, lifecycle = platform.settings, platform.lifecycle
    lifecycle.close_timeout = settings.process.shutdown_grace_seconds
    database = platform.database
    lifecycle.add("store", Closing(lambda _timeout: database.dispose()))
    lifecycle.add("series", platform.series)
    lifecycle.add("request-log", platform.request_log.writer)
    lifecycle.add("traces", platform.traces.writer)
    if platform.otlp is not None:
        lifecycle.add("otlp", platform.otlp)
    lifecycle.add("predictions", platform.predictions.writer)
    lifecycle.add("webhooks", platform.webhooks)
    lifecycle.add("notifications", platform.alerts.sender)
    lifecycle.add("search-indexes", Closing(platform.knowledge.retrievers.indexes.close))
    lifecycle.add("rate-limiter", AsyncClosing(platform.rate_limiter.close))
    lifecycle.add("llm-gateway", AsyncClosing(platform.gateway.aclose))
    lifecycle.add("llm-cache", AsyncClosing(platform.metered.aclose))


def _fetch_policy(settings: Settings) -> FetchPolicy:
    return FetchPolicy(
        allow_networks=parse_networks(settings.security.url_allow_networks),
        max_bytes=settings.knowledge.url_max_bytes,
        timeout_seconds=settings.knowledge.url_timeout_seconds,
    )


def _secret_keys(settings: Settings, database: Database) -> list[str]:
    """`SHIPYARD_SECRET_KEY`'s keys; on SQLite without it, the key file in `SHIPYARD_HOME`."""
    if settings.security.secret_key is not None:
        return settings.security.secret_key.get_secret_value().split(",")
    if database.dialect == "sqlite":
        return [home_key(settings.home)]
    return []


def _gateway(settings: Settings, tokens: TokenCounter) -> Gateway:
    config = load_config(
        config_file=settings.llm.config,
        base_url=settings.llm.base_url,
        api_key=settings.llm.api_key.get_secret_value() if settings.llm.api_key else None,
        model=settings.llm.model,
        # Only for providers whose key the config file names by variable (`api_key_env`).
        environ=dict(os.environ),
    )
    policy = RetryPolicy(
        attempt_timeout=settings.llm.timeout_seconds,
        stall_seconds=settings.llm.stall_seconds,
        deadline_seconds=settings.llm.deadline_seconds,
        max_retries=settings.llm.max_retries,
        breaker_failures=settings.llm.breaker_failures,
        breaker_reset_seconds=settings.llm.breaker_reset_seconds,
    )
    return build_gateway(config, policy, tokens=tokens)
