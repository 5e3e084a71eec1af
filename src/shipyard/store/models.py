"""ORM rows. Every row a user owns carries `project_id`; repositories always filter by it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from shipyard.store.types import UTCDateTime, utcnow

# Named constraints make migrations deterministic and identical on both dialects.
NAMING_CONVENTION = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# SQLite only auto-increments INTEGER PRIMARY KEY, not BIGINT.
BigIntPk = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class ProjectRow(Base):
    __tablename__ = "projects"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ApiKeyRow(Base):
    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    role: Mapped[str] = mapped_column(String(16))
    # First characters of the key, shown in listings so people can tell keys apart.
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(80), unique=True)
    rate_limit_per_minute: Mapped[int | None] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class JobRow(Base):
    __tablename__ = "jobs"
    __table_args__ = (
        UniqueConstraint("project_id", "dedupe_key"),
        Index("ix_jobs_status_run_at", "status", "run_at"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    kind: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(16))
    dedupe_key: Mapped[str | None] = mapped_column(String(200))
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    max_attempts: Mapped[int] = mapped_column(Integer)
    run_at: Mapped[datetime] = mapped_column(UTCDateTime)
    worker_id: Mapped[str | None] = mapped_column(String(80))
    # A fresh token per claim: every write of a running job is fenced on it, so a worker
    # that lost its lease can never overwrite the next claimant's state.
    lease_token: Mapped[str | None] = mapped_column(String(40))
    lease_expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    progress_done: Mapped[int] = mapped_column(Integer, default=0)
    progress_total: Mapped[int | None] = mapped_column(Integer)
    progress_message: Mapped[str | None] = mapped_column(Text)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class RequestLogRow(Base):
    __tablename__ = "request_log"
    __table_args__ = (Index("ix_request_log_project_id_id", "project_id", "id"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    ts: Mapped[datetime] = mapped_column(UTCDateTime, index=True)
    method: Mapped[str] = mapped_column(String(10))
    route: Mapped[str] = mapped_column(String(200))
    path: Mapped[str] = mapped_column(String(500))
    status: Mapped[int] = mapped_column(Integer)
    latency_ms: Mapped[float] = mapped_column(Float)
    # No foreign keys: the log outlives deleted keys/projects and is written in bulk.
    project_id: Mapped[str | None] = mapped_column(String(40))
    key_id: Mapped[str | None] = mapped_column(String(40))
    trace_id: Mapped[str] = mapped_column(String(32))
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)


class CollectionRow(Base):
    __tablename__ = "collections"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    # ChunkingConfig as JSON: {"max_tokens": 200, "overlap_tokens": 30}.
    chunking: Mapped[dict[str, Any]] = mapped_column(JSON)
    # The embedder URL (SHIPYARD_EMBEDDER_URL syntax); vectors of one collection all come from it.
    embedder: Mapped[str] = mapped_column(String(500))
    # Known once the embedder has produced a vector (remote models may not declare it).
    dimension: Mapped[int | None] = mapped_column(Integer)
    # Bumped in the same transaction as every document change: search indexes built from the
    # store remember the revision they saw, so any process can tell when its index is stale.
    revision: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class DocumentRow(Base):
    __tablename__ = "documents"
    __table_args__ = (UniqueConstraint("collection_id", "external_id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    # The caller's id, or one derived from the source (file path, URL, record id).
    external_id: Mapped[str] = mapped_column(String(512))
    title: Mapped[str | None] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(Text)
    # sha256 over everything that shapes the chunks (text, title, metadata): unchanged → no-op.
    content_hash: Mapped[str] = mapped_column(String(64))
    metadata_: Mapped[dict[str, Any]] = mapped_column("metadata", JSON, default=dict)
    chars: Mapped[int] = mapped_column(Integer)
    chunk_count: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class ChunkRow(Base):
    __tablename__ = "chunks"
    __table_args__ = (
        Index("ix_chunks_collection_id_content_hash", "collection_id", "content_hash"),
        Index("ix_chunks_document_id_position", "document_id", "position"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(40))
    collection_id: Mapped[str] = mapped_column(ForeignKey("collections.id", ondelete="CASCADE"))
    document_id: Mapped[str] = mapped_column(ForeignKey("documents.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    text: Mapped[str] = mapped_column(Text)
    # source_text[span_start:span_end] == text: citations point at exact characters.
    span_start: Mapped[int] = mapped_column(Integer)
    span_end: Mapped[int] = mapped_column(Integer)
    heading_path: Mapped[list[str]] = mapped_column(JSON, default=list)
    token_count: Mapped[int] = mapped_column(Integer)
    # sha256 of the text that was embedded: the embedding cache key within a collection.
    content_hash: Mapped[str] = mapped_column(String(64))
    # float32 little-endian, L2-normalised; the store is the authority, ANN indexes are derived.
    embedding: Mapped[bytes] = mapped_column(LargeBinary)


class IngestItemRow(Base):
    """What an ingest job was asked to index, staged in the store so any worker can run the job."""

    __tablename__ = "ingest_items"
    __table_args__ = (UniqueConstraint("job_id", "position"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    job_id: Mapped[str] = mapped_column(ForeignKey("jobs.id", ondelete="CASCADE"))
    position: Mapped[int] = mapped_column(Integer)
    # "document" (JSON in `document`), "file" (bytes in `content`, `name` = file name) or "url" (`name`).
    kind: Mapped[str] = mapped_column(String(16))
    name: Mapped[str | None] = mapped_column(Text)
    document: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    content: Mapped[bytes | None] = mapped_column(LargeBinary)


class PromptRow(Base):
    __tablename__ = "prompts"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    description: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptVersionRow(Base):
    """An immutable version: never updated or deleted while its prompt exists."""

    __tablename__ = "prompt_versions"
    __table_args__ = (UniqueConstraint("prompt_id", "version"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(40))
    prompt_id: Mapped[str] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"))
    version: Mapped[int] = mapped_column(Integer)
    # [{"role": "system", "content": "<jinja template>"}, ...]
    messages: Mapped[list[dict[str, str]]] = mapped_column(JSON)
    model: Mapped[str | None] = mapped_column(String(200))
    parameters: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    # {"question": {"type": "string", "required": true, "description": "..."}}
    variables: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    commit_message: Mapped[str | None] = mapped_column(Text)
    author: Mapped[str | None] = mapped_column(String(200))
    # sha256 of the canonical JSON of messages, model, parameters and variables: pushing the same
    # content again is a no-op instead of a new version.
    content_hash: Mapped[str] = mapped_column(String(80))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PromptLabelRow(Base):
    """A movable name (`production`, `staging`, …) for one version of a prompt."""

    __tablename__ = "prompt_labels"

    prompt_id: Mapped[str] = mapped_column(ForeignKey("prompts.id", ondelete="CASCADE"), primary_key=True)
    label: Mapped[str] = mapped_column(String(64), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    updated_by: Mapped[str | None] = mapped_column(String(200))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class TraceRow(Base):
    """One ask or chat call: what was asked, what came back, how, and at what cost."""

    __tablename__ = "traces"
    __table_args__ = (Index("ix_traces_project_id_id", "project_id", "id"),)

    # trc_<ULID>: sortable by time, so keyset pages on it are newest first.
    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    # No foreign keys: traces are written in bulk and outlive deleted collections and keys.
    project_id: Mapped[str] = mapped_column(String(40))
    # The W3C trace id of the HTTP request (request log, OTLP), when there was one.
    otel_trace_id: Mapped[str | None] = mapped_column(String(32), index=True)
    kind: Mapped[str] = mapped_column(String(16))  # ask | chat
    status: Mapped[str] = mapped_column(String(16))  # ok | no_answer | truncated | error
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    duration_ms: Mapped[float] = mapped_column(Float)
    collection: Mapped[str | None] = mapped_column(String(64))
    model: Mapped[str | None] = mapped_column(String(200))
    provider_model: Mapped[str | None] = mapped_column(String(400))
    prompt: Mapped[str | None] = mapped_column(String(200))
    question: Mapped[str | None] = mapped_column(Text)
    answer: Mapped[str | None] = mapped_column(Text)
    input_tokens: Mapped[int] = mapped_column(Integer)
    output_tokens: Mapped[int] = mapped_column(Integer)
    usage_estimated: Mapped[bool] = mapped_column(Boolean)
    cost: Mapped[float] = mapped_column(Float)
    cache_hit: Mapped[bool] = mapped_column(Boolean)
    error_code: Mapped[str | None] = mapped_column(String(64))
    error: Mapped[str | None] = mapped_column(Text)
    # spans, retrieved chunks and scores, citations, gateway attempts, finish reason.
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class FeedbackRow(Base):
    __tablename__ = "feedback"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(String(40))
    trace_id: Mapped[str] = mapped_column(String(40), index=True)
    score: Mapped[float] = mapped_column(Float)
    comment: Mapped[str | None] = mapped_column(Text)
    correction: Mapped[str | None] = mapped_column(Text)
    key_name: Mapped[str | None] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class BudgetRow(Base):
    """A project's LLM spending limit for a period (`day` or `month`, UTC)."""

    __tablename__ = "budgets"

    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    max_tokens: Mapped[int | None] = mapped_column(BigInteger)
    max_cost: Mapped[float | None] = mapped_column(Float)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class UsageRow(Base):
    """LLM tokens and cost a project used in one period, counted while it has a budget."""

    __tablename__ = "llm_usage"

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    period: Mapped[str] = mapped_column(String(8), primary_key=True)
    # The period's first day, e.g. 2026-12-01 (a day) or 2026-12-01 (the month of December).
    starts: Mapped[str] = mapped_column(String(10), primary_key=True)
    tokens: Mapped[int] = mapped_column(BigInteger, default=0)
    cost: Mapped[float] = mapped_column(Float, default=0.0)


class AuditEventRow(Base):
    """Who changed what and when: registry, deployment and policy actions, never rewritten."""

    __tablename__ = "audit_events"
    __table_args__ = (Index("ix_audit_events_project_id_id", "project_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # aud_<ULID>: newest last
    project_id: Mapped[str] = mapped_column(String(40))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(64))  # model.approved, deployment.rolled_back, …
    target: Mapped[str] = mapped_column(String(300))  # model:bike-demand/3, deployment:bikes
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class ModelApprovalRow(Base):
    """The approval state of one registered model version (no row: pending)."""

    __tablename__ = "model_approvals"

    project_id: Mapped[str] = mapped_column(String(40), primary_key=True)
    model: Mapped[str] = mapped_column(String(200), primary_key=True)
    version: Mapped[int] = mapped_column(Integer, primary_key=True)
    state: Mapped[str] = mapped_column(String(16))  # approved | rejected
    decided_by: Mapped[str] = mapped_column(String(200))
    decided_at: Mapped[datetime] = mapped_column(UTCDateTime)
    reason: Mapped[str | None] = mapped_column(Text)


class WebhookRow(Base):
    """An HTTP endpoint told about a project's audit events (those matching `events`)."""

    __tablename__ = "webhooks"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    url: Mapped[str] = mapped_column(Text)  # sealed (secretbox): URLs may carry tokens
    events: Mapped[list[str]] = mapped_column(JSON)  # patterns: "model.*", "deployment.rolled_back", "*"
    secret: Mapped[str | None] = mapped_column(Text)  # sealed
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class DeploymentRow(Base):
    """A served name bound to a registered model's alias, with an optional canary or shadow."""

    __tablename__ = "deployments"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    alias: Mapped[str] = mapped_column(String(64))
    # The version the alias pointed at when last seen, and the one before it (for rollback).
    version: Mapped[int] = mapped_column(Integer)
    previous_version: Mapped[int | None] = mapped_column(Integer)
    canary_version: Mapped[int | None] = mapped_column(Integer)
    canary_percent: Mapped[float] = mapped_column(Float, default=0.0)
    shadow_version: Mapped[int | None] = mapped_column(Integer)
    max_batch_size: Mapped[int] = mapped_column(Integer)
    max_wait_ms: Mapped[float] = mapped_column(Float)
    log_sample_rate: Mapped[float] = mapped_column(Float)
    # Bumped on every change, so each API process notices it on its next refresh.
    revision: Mapped[int] = mapped_column(Integer, default=1)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class PredictionRow(Base):
    """One logged prediction (sampled per deployment), and its ground-truth label once posted."""

    __tablename__ = "predictions"
    __table_args__ = (Index("ix_predictions_project_id_deployment_id", "project_id", "deployment", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # prd_<ULID>
    # No foreign keys: predictions are written in bulk and outlive deleted deployments.
    project_id: Mapped[str] = mapped_column(String(40))
    deployment: Mapped[str] = mapped_column(String(64))
    model: Mapped[str] = mapped_column(String(200))
    version: Mapped[int] = mapped_column(Integer)
    role: Mapped[str] = mapped_column(String(16))  # champion | canary | shadow | pinned
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    latency_ms: Mapped[float] = mapped_column(Float)
    status: Mapped[str] = mapped_column(String(16))  # ok | error
    inputs: Mapped[Any] = mapped_column(JSON)  # {column: [values]}
    outputs: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    label: Mapped[Any] = mapped_column(JSON, nullable=True)
    labelled_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class MonitorRow(Base):
    """A drift monitor on a deployment's logged traffic: what it compares, and when it runs."""

    __tablename__ = "monitors"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # mon_<ULID>
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    deployment: Mapped[str | None] = mapped_column(String(64))  # a deployment's traffic, or
    collection: Mapped[str | None] = mapped_column(String(64))  # a RAG collection's questions
    # {"source": "training"} (the served version's logged training data),
    # {"source": "window", "start": iso, "end": iso} (the target's own logged traffic), or
    # {"source": "previous"} (the window just before the current one).
    reference: Mapped[Any] = mapped_column(JSON)
    columns: Mapped[Any] = mapped_column(JSON, nullable=True)  # null: every reference column
    config: Mapped[Any] = mapped_column(JSON)  # DriftConfig.to_dict()
    role: Mapped[str | None] = mapped_column(String(16))  # only this role's predictions (e.g. canary)
    window_seconds: Mapped[int] = mapped_column(Integer)
    interval_seconds: Mapped[int | None] = mapped_column(Integer)  # null: runs only when asked
    on_drift: Mapped[str | None] = mapped_column(String(32))  # an action: rollback_canary
    next_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True)
    last_run_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    last_status: Mapped[str | None] = mapped_column(String(24))
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class MonitorResultRow(Base):
    """One run of a monitor: the verdict, its numbers, and the whole per-column report."""

    __tablename__ = "monitor_results"
    __table_args__ = (Index("ix_monitor_results_monitor_id_id", "monitor_id", "id"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # mrs_<ULID>
    project_id: Mapped[str] = mapped_column(String(40))
    monitor_id: Mapped[str] = mapped_column(ForeignKey("monitors.id", ondelete="CASCADE"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    trigger: Mapped[str] = mapped_column(String(16))  # manual | schedule
    status: Mapped[str] = mapped_column(String(24))  # drift | no_drift | insufficient_data | error
    share: Mapped[float | None] = mapped_column(Float)
    drifted_columns: Mapped[int] = mapped_column(Integer)
    tested_columns: Mapped[int] = mapped_column(Integer)
    reference_rows: Mapped[int] = mapped_column(Integer)
    current_rows: Mapped[int] = mapped_column(Integer)
    report: Mapped[Any] = mapped_column(JSON, nullable=True)
    error: Mapped[str | None] = mapped_column(Text)
    action: Mapped[str | None] = mapped_column(Text)  # what the run did about it (a rollback)


class SeriesPointRow(Base):
    """One writer's aggregate of one signal in one minute (or hour, once compacted).

    The platform's own time series — HTTP requests, predictions, LLM calls and their tokens and
    cost, feedback — kept at minute resolution for SLO burn rates and anomaly detection. Every
    process writes only its own rows (`writer`), so nobody reads-modifies-writes a shared row;
    readers sum over writers.
    """

    __tablename__ = "series_points"
    __table_args__ = (Index("ix_series_points_name_target_minute", "name", "target", "minute"),)

    id: Mapped[int] = mapped_column(BigIntPk, primary_key=True, autoincrement=True)
    project_id: Mapped[str | None] = mapped_column(String(40))  # null: platform-wide (HTTP)
    name: Mapped[str] = mapped_column(String(32))  # http | prediction | llm | llm_tokens | llm_cost | feedback
    target: Mapped[str] = mapped_column(String(200))  # route, deployment or model
    variant: Mapped[str] = mapped_column(String(200))  # HTTP method, role or provider model
    status: Mapped[str] = mapped_column(String(32))  # HTTP status code, ok | error, a trace status
    minute: Mapped[datetime] = mapped_column(UTCDateTime, index=True)  # start of the bucket
    resolution: Mapped[int] = mapped_column(Integer)  # 60, or 3600 after compaction
    writer: Mapped[str] = mapped_column(String(64))
    count: Mapped[float] = mapped_column(Float)
    total: Mapped[float] = mapped_column(Float)  # sum of the observed values (seconds, tokens, cost, score)
    buckets: Mapped[Any] = mapped_column(JSON, nullable=True)  # counts per histogram bound, last = overflow


class AlertRuleRow(Base):
    """An alert rule as written (SLO burn rate, threshold, anomaly or drift), per project."""

    __tablename__ = "alert_rules"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # arl_<ULID>
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # slo | threshold | anomaly | drift
    spec: Mapped[Any] = mapped_column(JSON)  # the rule exactly as applied
    state: Mapped[Any] = mapped_column(JSON, nullable=True)  # an anomaly rule's detector, between evaluations
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertRow(Base):
    """One alert: a rule's condition holding for one label set, from pending to resolved.

    `open_key` is the label fingerprint while the alert is pending or firing and null once it is
    resolved, so the unique constraint allows one open alert per label set (deduplication) and
    any number of resolved ones (history).
    """

    __tablename__ = "alerts"
    __table_args__ = (
        UniqueConstraint("project_id", "open_key"),
        Index("ix_alerts_project_id_id", "project_id", "id"),
    )

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # alr_<ULID>
    project_id: Mapped[str] = mapped_column(String(40))
    rule: Mapped[str] = mapped_column(String(200))
    source: Mapped[str] = mapped_column(String(16))  # shipyard (evaluated here) | prometheus (Alertmanager)
    fingerprint: Mapped[str] = mapped_column(String(64))
    open_key: Mapped[str | None] = mapped_column(String(64))
    severity: Mapped[str] = mapped_column(String(16))
    labels: Mapped[Any] = mapped_column(JSON)
    annotations: Mapped[Any] = mapped_column(JSON)
    state: Mapped[str] = mapped_column(String(16))  # pending | firing | resolved
    value: Mapped[float | None] = mapped_column(Float)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)  # when the condition first held
    fired_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    evaluated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    notified_at: Mapped[datetime | None] = mapped_column(UTCDateTime)  # last firing notification sent
    silenced_by: Mapped[str | None] = mapped_column(String(40))  # the silence that holds it back
    action: Mapped[str | None] = mapped_column(Text)  # what was done when it fired (a rollback)
    history: Mapped[Any] = mapped_column(JSON)  # [{at, state, value, note}], one entry per transition


class AlertSilenceRow(Base):
    """Alerts whose labels match every matcher send no notifications between starts and ends."""

    __tablename__ = "alert_silences"

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # sil_<ULID>
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    matchers: Mapped[Any] = mapped_column(JSON)  # {label: value}; a value starting with ~ is a regex
    starts_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ends_at: Mapped[datetime] = mapped_column(UTCDateTime)
    comment: Mapped[str] = mapped_column(Text)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class AlertNotifierRow(Base):
    """Where alert notifications go: an Alertmanager-payload webhook or a Slack-compatible one."""

    __tablename__ = "alert_notifiers"
    __table_args__ = (UniqueConstraint("project_id", "name"),)

    id: Mapped[str] = mapped_column(String(40), primary_key=True)  # ntf_<ULID>
    project_id: Mapped[str] = mapped_column(ForeignKey("projects.id"), index=True)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(16))  # webhook | slack
    url: Mapped[str] = mapped_column(Text)  # sealed (secretbox); Slack URLs are a secret: never listed in full
    match: Mapped[Any] = mapped_column(JSON)  # {label: value}: only alerts matching all of them
    send_resolved: Mapped[bool] = mapped_column(Boolean)
    last_status: Mapped[int | None] = mapped_column(Integer)
    last_error: Mapped[str | None] = mapped_column(Text)
    last_delivery_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, default=utcnow)


class LeaseRow(Base):
    """A named lease one process holds at a time (e.g. the alert evaluator among workers)."""

    __tablename__ = "leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
