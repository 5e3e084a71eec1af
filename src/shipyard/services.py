"""The composition root: builds every adapter once, for the API lifespan, the CLI and workers."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass

import pluggy

from shipyard.auth import AccessService
from shipyard.builtin_jobs import CLEANUP_KIND, MONITOR_KIND
from shipyard.events import AuditLog, WebhookService
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.jobs import HandlerRegistry, JobService, Worker
from shipyard.knowledge import Embedder
from shipyard.knowledge.collections import CollectionService
from shipyard.knowledge.documents import DocumentService
from shipyard.knowledge.fetch import FetchPolicy, parse_networks
from shipyard.knowledge.index import IndexCache
from shipyard.knowledge.index_files import IndexFiles
from shipyard.knowledge.ingest import Ingester
from shipyard.knowledge.ports import VectorStore
from shipyard.knowledge.registry import Embedders
from shipyard.knowledge.search import SearchService
from shipyard.knowledge.vectors import build_vector_store
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
from shipyard.plugins import build_plugin_manager
from shipyard.prompts import PromptService
from shipyard.rag import RagService, RagSettings
from shipyard.ratelimit import RateLimiter, build_rate_limiter
from shipyard.settings import Settings
from shipyard.store import Database, create_database
from shipyard.telemetry import Metrics, RequestLog
from shipyard.telemetry.metrics import DriftingMonitorsCollector, JobCountsCollector, ProjectNames
from shipyard.telemetry.otel import OtlpExporter
from shipyard.telemetry.series import SeriesRecorder
from shipyard.telemetry.traces import TraceStore


@dataclass
class Services:
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
    collections: CollectionService
    documents: DocumentService
    ingester: Ingester
    search: SearchService
    vectors: VectorStore
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

    @property
    def embedder(self) -> Embedder:
        """The configured default embedder (SHIPYARD_EMBEDDER_URL)."""
        return self.embedders.get()

    def new_worker(self) -> Worker:
        settings = self.settings
        return Worker(
            self.jobs,
            self.handlers,
            concurrency=settings.worker_concurrency,
            poll_seconds=settings.job_poll_seconds,
            lease_seconds=settings.job_lease_seconds,
            periodic=[
                (settings.maintenance_interval_seconds, self.schedule_maintenance),
                (settings.monitor_poll_seconds, self.schedule_monitors),
                (settings.alert_eval_seconds, self.evaluate_alerts),
            ],
            observer=self.metrics.observe_job,
        )

    @property
    def fetch_policy(self) -> FetchPolicy:
        """What URL ingestion may fetch (SSRF rules, size and time limits) under these settings."""
        return FetchPolicy(
            allow_networks=parse_networks(self.settings.url_allow_networks),
            max_bytes=self.settings.url_max_bytes,
            timeout_seconds=self.settings.url_timeout_seconds,
        )

    def schedule_maintenance(self) -> None:
        """Enqueue the retention cleanup once per interval, however many workers run."""
        bucket = int(time.time() // self.settings.maintenance_interval_seconds)
        self.jobs.enqueue(DEFAULT_PROJECT_ID, CLEANUP_KIND, dedupe_key=f"{CLEANUP_KIND}:{bucket}")

    def schedule_monitors(self) -> None:
        """Enqueue a run of every scheduled monitor that is due; the dedupe key (monitor and due
        time) keeps two workers, or a run still queued, from doubling it."""
        for monitor in self.monitors.due():
            self.jobs.enqueue(
                monitor.project_id,
                MONITOR_KIND,
                {"monitor": monitor.name},
                dedupe_key=f"{MONITOR_KIND}:{monitor.id}:{monitor.next_run_at}",
                max_attempts=1,
            )

    def evaluate_alerts(self) -> None:
        """Evaluate every project's alert rules, unless another process holds the evaluator lease
        (it then does, this interval)."""
        self.alerts.evaluate(holder=self.series.writer, lease_seconds=3 * self.settings.alert_eval_seconds)

    async def aclose(self) -> None:
        """Close what lives on the event loop (the gateway's connection pools)."""
        await self.gateway.aclose()
        await self.metered.aclose()

    def close(self) -> None:
        """Close everything; the gateway too unless `aclose` did (not from inside an event loop)."""
        if not self.gateway.closed:
            asyncio.run(self.aclose())
        self.request_log.writer.close(self.settings.shutdown_grace_seconds)
        self.traces.writer.close(self.settings.shutdown_grace_seconds)
        self.predictions.writer.close(self.settings.shutdown_grace_seconds)
        self.webhooks.close(self.settings.shutdown_grace_seconds)
        self.series.close(self.settings.shutdown_grace_seconds)
        self.alerts.sender.close(self.settings.shutdown_grace_seconds)
        if self.otlp is not None:
            self.otlp.close(self.settings.shutdown_grace_seconds)
        self.search.indexes.close(self.settings.shutdown_grace_seconds)
        self.database.dispose()


def build_services(settings: Settings) -> Services:
    database = create_database(settings.resolved_database_url)
    jobs = JobService(
        database, max_attempts=settings.job_max_attempts, retry_base_seconds=settings.job_retry_base_seconds
    )
    request_log = RequestLog(
        database, max_queue=settings.request_log_queue_size, flush_seconds=settings.request_log_flush_seconds
    )
    redis_url = settings.redis_url.get_secret_value() if settings.redis_url else None
    # Cheap to build: the packaged model loads on first use, a remote one is only a client.
    embedders = Embedders(
        settings.embedder_url,
        api_key=settings.embedder_api_key.get_secret_value() if settings.embedder_api_key else None,
    )
    access = AccessService(database, cache_seconds=settings.auth_cache_seconds)
    series = SeriesRecorder(database, flush_seconds=settings.series_flush_seconds)
    metrics = Metrics(series, ProjectNames(access.project_name))
    tokens = TokenCounter()
    traces = TraceStore(
        database, max_queue=settings.request_log_queue_size, flush_seconds=settings.request_log_flush_seconds
    )
    vectors = build_vector_store(settings.vector_url, database)
    collections = CollectionService(database, embedders)
    gateway = _gateway(settings, tokens)
    budgets = BudgetService(database, flush_traces=traces.writer.flush_now)
    metered = MeteredGateway(
        gateway,
        budgets,
        build_response_cache(redis_url, key_prefix=settings.redis_key_prefix),
        cache_seconds=settings.llm_cache_seconds,
    )
    prompts = PromptService(database)
    collections.on_delete(vectors.drop)
    # Large collections' search indexes are saved per revision: a restart loads, not rebuilds.
    index_files = IndexFiles(settings.home / "indexes")
    collections.on_delete(lambda collection: index_files.drop(collection.id))
    search = SearchService(
        database,
        embedders,
        IndexCache(
            database,
            load_vectors=vectors.loads_vectors,
            sync_rebuild_seconds=settings.index_sync_rebuild_seconds,
            ann_min_vectors=settings.ann_min_chunks,
            files=index_files,
        ),
        vectors,
        observe=metrics.genai.observe_search,
    )
    audit = AuditLog(database)
    webhooks = WebhookService(database)
    audit.listen(webhooks.notify)
    # MLflow itself is imported only when a model feature is first used (~3 s).
    registry = ModelRegistry(database, mlflow_location(settings.home, settings.mlflow_uri), audit)
    deployments = DeploymentService(database, registry, audit, require_approval=settings.models_require_approval)
    predictions = PredictionLog(
        database, max_queue=settings.request_log_queue_size, flush_seconds=settings.request_log_flush_seconds
    )
    monitors = MonitorService(database, deployments, predictions, audit, collections=collections, embedders=embedders)
    services = Services(
        settings=settings,
        database=database,
        access=access,
        jobs=jobs,
        handlers=HandlerRegistry(),
        request_log=request_log,
        rate_limiter=build_rate_limiter(redis_url, key_prefix=settings.redis_key_prefix),
        metrics=metrics,
        plugins=build_plugin_manager(settings.plugins),
        embedders=embedders,
        collections=collections,
        documents=DocumentService(database),
        ingester=Ingester(database, embedders, vectors),
        search=search,
        vectors=vectors,
        gateway=gateway,
        tokens=tokens,
        prompts=prompts,
        rag=RagService(
            collections,
            search,
            prompts,
            metered,
            tokens,
            traces,
            RagSettings(
                model=settings.rag_model or settings.llm_model,
                top_k=settings.rag_top_k,
                min_similarity=settings.rag_min_similarity,
                context_tokens=settings.rag_context_tokens,
            ),
        ),
        traces=traces,
        chat=ChatService(metered, traces),
        budgets=budgets,
        metered=metered,
        otlp=OtlpExporter(settings.otlp_endpoint) if settings.otlp_endpoint else None,
        audit=audit,
        webhooks=webhooks,
        registry=registry,
        deployments=deployments,
        predictions=predictions,
        model_server=ModelServer(
            deployments, predictions, refresh_seconds=settings.model_refresh_seconds, observer=metrics.serving
        ),
        monitors=monitors,
        series=series,
        alerts=AlertService(
            database,
            monitors,
            deployments,
            audit,
            NotificationSender(database),
            project_name=access.project_name,
            repeat_seconds=settings.alert_repeat_seconds,
            flush=series.flush_now,
        ),
    )
    services.plugins.hook.register_job_handlers(register=services.handlers.register, services=services)
    writer = request_log.writer
    metrics.gauge("shipyard_request_log_queue_depth", "Request-log rows waiting to be written.", lambda: writer.depth)
    metrics.counter("shipyard_request_log_dropped", "Request-log rows dropped (queue full).", lambda: writer.dropped)
    metrics.counter("shipyard_request_log_written", "Request-log rows written to the store.", lambda: writer.written)
    traces.observe(metrics.genai.observe_trace)
    if services.otlp is not None:
        traces.observe(services.otlp.observe)
    prediction_writer = predictions.writer
    metrics.counter(
        "shipyard_predictions_dropped", "Logged predictions dropped (queue full).", lambda: prediction_writer.dropped
    )
    trace_writer = traces.writer
    metrics.gauge("shipyard_trace_queue_depth", "Traces waiting to be written.", lambda: trace_writer.depth)
    metrics.counter("shipyard_traces_dropped", "Traces dropped (queue full).", lambda: trace_writer.dropped)
    limiter = services.rate_limiter
    metrics.counter(
        "shipyard_rate_limiter_errors",
        "Rate-limit checks that failed and let the request through.",
        lambda: limiter.errors,
    )
    metrics.add_collector(JobCountsCollector(jobs.count_by_status))
    metrics.add_collector(DriftingMonitorsCollector(monitors.drifting, metrics.project_names))
    traces.observe_feedback(metrics.observe_feedback)
    return services


def _gateway(settings: Settings, tokens: TokenCounter) -> Gateway:
    config = load_config(
        config_file=settings.llm_config,
        base_url=settings.llm_base_url,
        api_key=settings.llm_api_key.get_secret_value() if settings.llm_api_key else None,
        model=settings.llm_model,
        # Only for providers whose key the config file names by variable (`api_key_env`).
        environ=dict(os.environ),
    )
    policy = RetryPolicy(
        attempt_timeout=settings.llm_timeout_seconds,
        stall_seconds=settings.llm_stall_seconds,
        deadline_seconds=settings.llm_deadline_seconds,
        max_retries=settings.llm_max_retries,
        breaker_failures=settings.llm_breaker_failures,
        breaker_reset_seconds=settings.llm_breaker_reset_seconds,
    )
    return build_gateway(config, policy, tokens=tokens)
