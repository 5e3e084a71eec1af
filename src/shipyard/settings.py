"""The one Settings object: read once in an entry point, passed down as typed values.

Precedence (pydantic-settings): constructor arguments > `SHIPYARD_*` environment > `.env` file >
defaults. Nothing else in shipyard reads `os.environ`.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, SecretStr, ValidationError, field_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict, SettingsError

from shipyard.errors import ConfigError

_POSTGRES_PREFIXES = ("postgres://", "postgresql://")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="SHIPYARD_",
        env_nested_delimiter="__",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
    )

    home: Path = Field(
        default=Path(".shipyard"),
        description="Data folder of the embedded default: SQLite database, artifacts, indexes.",
    )
    database_url: str | None = Field(
        default=None,
        description="SQLAlchemy URL of the metadata store: sqlite:///… or postgresql+psycopg://…. "
        "Default: sqlite:///$SHIPYARD_HOME/shipyard.db.",
    )
    redis_url: SecretStr | None = Field(
        default=None,
        description="Redis URL (redis://host:6379/0). When set, rate limits are shared by every API "
        "replica through Redis; otherwise they are kept in-process.",
    )
    redis_key_prefix: str = Field(default="shipyard", description="Prefix of every Redis key shipyard writes.")
    rate_limit_per_minute: int = Field(
        default=600, ge=1, description="Default requests per minute per API key (a key may override)."
    )
    max_body_bytes: int = Field(
        default=10 * 1024 * 1024, ge=1024, description="Largest request body accepted; larger → 413."
    )
    auth_cache_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a verified key is cached in-process. A revoke in the same process takes "
        "effect at once; other replicas see it within this many seconds. 0 disables the cache.",
    )
    request_log_retention_days: int = Field(
        default=30, ge=1, description="Request-log rows and traces older than this are deleted by the cleanup job."
    )
    request_log_queue_size: int = Field(
        default=10_000, ge=1, description="Rows buffered before the request log starts dropping (counted)."
    )
    request_log_flush_seconds: float = Field(
        default=0.1, gt=0, description="How often the request-log writer flushes its batch."
    )
    worker_in_process: bool = Field(
        default=True, description="Run a job worker inside `shipyard serve` (the embedded default)."
    )
    worker_concurrency: int = Field(default=1, ge=1, description="Jobs one worker process runs at once.")
    job_poll_seconds: float = Field(default=1.0, gt=0, description="Idle worker poll interval.")
    job_lease_seconds: float = Field(
        default=30.0,
        gt=0,
        description="A claimed job is renewed while it runs; a worker silent for this long has died and "
        "its job is picked up again.",
    )
    job_max_attempts: int = Field(default=3, ge=1, description="Default attempts before a job fails.")
    job_retry_base_seconds: float = Field(
        default=2.0, gt=0, description="First retry delay; doubles each attempt (with jitter)."
    )
    job_retention_days: int = Field(
        default=30,
        ge=1,
        description="Jobs that succeeded or failed longer ago than this are deleted by the cleanup job.",
    )
    maintenance_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often a worker schedules the retention cleanup job."
    )
    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, description="On SIGTERM: time to finish in-flight work and flush logs."
    )
    embedder_url: str = Field(
        default="onnx://all-minilm-l6-v2",
        description="Embedding model: the packaged onnx://all-minilm-l6-v2, or any OpenAI-compatible "
        "endpoint as openai+https://host/v1?model=NAME[&dimension=N].",
    )
    embedder_api_key: SecretStr | None = Field(
        default=None, description="API key for an OpenAI-compatible embedder (never logged)."
    )
    url_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDR, comma-separated) that URL ingestion may fetch from although they are "
        "not public, e.g. 10.20.0.0/16 for an intranet wiki. Loopback, private and link-local "
        "addresses are refused otherwise.",
    )
    url_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="Largest document fetched by URL.")
    vector_url: str = Field(
        default="embedded",
        description="Where chunk vectors are searched: `embedded` (in process, from the store) or `pgvector` "
        "(the PostgreSQL metadata database, HNSW per collection).",
    )
    index_sync_rebuild_seconds: float = Field(
        default=2.0,
        ge=0,
        description="After a change, collections whose search index builds faster than this are rebuilt before "
        "the next search answers; larger ones are rebuilt in the background while searches use the previous state.",
    )
    ann_min_chunks: int = Field(
        default=20_000,
        ge=1,
        description="Embedded vector store: collections with at least this many chunks are searched through an "
        "HNSW graph (faiss) instead of exactly.",
    )
    max_file_bytes: int = Field(
        default=50 * 1024 * 1024, ge=1, description="Largest file `shipyard ingest` reads or an upload may hold."
    )
    url_timeout_seconds: float = Field(default=15.0, gt=0, description="Deadline for fetching one URL.")
    llm_base_url: str | None = Field(
        default=None,
        description="Base URL of one OpenAI-compatible LLM server (https://api.openai.com/v1, http://vllm:8000/v1, "
        "…), served under SHIPYARD_LLM_MODEL. Without any LLM, answers are extractive.",
    )
    llm_api_key: SecretStr | None = Field(default=None, description="API key of SHIPYARD_LLM_BASE_URL (never logged).")
    llm_model: str | None = Field(
        default=None, description="The model of SHIPYARD_LLM_BASE_URL; clients and RAG ask for it by this name."
    )
    llm_config: Path | None = Field(
        default=None,
        description="YAML file with several providers, prices and routes with fallbacks (docs/generation.md).",
    )
    llm_timeout_seconds: float = Field(
        default=60.0, gt=0, description="One attempt's limit: the whole answer, or a stream's first token."
    )
    llm_stall_seconds: float = Field(
        default=30.0, gt=0, description="A stream that sends nothing for this long has failed (mid-answer: cut off)."
    )
    llm_deadline_seconds: float = Field(
        default=120.0, gt=0, description="Limit of one call across all retries and fallbacks."
    )
    llm_max_retries: int = Field(
        default=2, ge=0, description="Retries per provider model on timeouts, 429 and 5xx, before the fallback."
    )
    llm_breaker_failures: int = Field(
        default=5, ge=1, description="Consecutive failures that open a provider model's circuit breaker."
    )
    llm_breaker_reset_seconds: float = Field(
        default=30.0, gt=0, description="How long an open circuit skips its provider model before one trial."
    )
    llm_cache_seconds: float = Field(
        default=600.0,
        ge=0,
        description="How long answers to identical temperature-0 requests are reused (in-process, or Redis when "
        "SHIPYARD_REDIS_URL is set). 0 turns the response cache off.",
    )
    rag_model: str | None = Field(
        default=None,
        description="The model RAG answers with: a gateway model or `extractive`. Default: SHIPYARD_LLM_MODEL "
        "when set, else extractive.",
    )
    rag_top_k: int = Field(default=6, ge=1, le=100, description="Passages retrieved per question by default.")
    rag_min_similarity: float = Field(
        default=0.25,
        ge=-1,
        le=1,
        description="Below this cosine similarity between the question and its best passage, RAG answers that "
        "it found nothing relevant instead of asking the model.",
    )
    rag_context_tokens: int = Field(
        default=8192, ge=256, description="Context window assumed for models whose config does not give one."
    )
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint of an OpenTelemetry collector (http://collector:4318): every ask and chat "
        "call is also exported there as spans with GenAI attributes. Traces stay in the store either way.",
    )
    mlflow_uri: str | None = Field(
        default=None,
        description="MLflow tracking server (http://mlflow:5000) for experiment tracking and the model registry. "
        "Default: MLflow embedded in $SHIPYARD_HOME/mlflow (SQLite + an artifact folder, no server).",
    )
    project: str = Field(
        default="default",
        description="The project training scripts register models in (`shipyard models train --project` sets it).",
    )
    models_require_approval: bool = Field(
        default=True,
        description="Only approved model versions may take production traffic (deploy, canary, promote).",
    )
    model_refresh_seconds: float = Field(
        default=2.0,
        gt=0,
        description="How often each API process re-reads deployments and their aliases, so a moved alias or a "
        "rollback done anywhere is served everywhere within this time.",
    )
    monitor_poll_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often a worker looks for scheduled monitors that are due and enqueues their runs.",
    )
    alert_eval_seconds: float = Field(
        default=30.0,
        gt=0,
        description="How often alert rules are evaluated (by one worker at a time, holding a lease in the store).",
    )
    alert_repeat_seconds: float = Field(
        default=4 * 3600.0,
        gt=0,
        description="A firing alert is notified again after this long (Alertmanager's default repeat interval).",
    )
    series_flush_seconds: float = Field(
        default=5.0,
        gt=0,
        description="How often each process writes its per-minute series (requests, predictions, LLM calls).",
    )
    series_retention_days: int = Field(
        default=35,
        ge=1,
        description="Per-minute series older than this are deleted (a 30-day SLO budget needs 30).",
    )
    serve_deployment: str | None = Field(
        default=None,
        description="The deployment the bare MLflow-style `/invocations` serves (default: the project's only one).",
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level of structured log lines written to stderr."
    )
    log_format: Literal["json", "console"] = Field(
        default="json", description="json for machines (default), console for people."
    )
    plugins: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Extra plugin modules to load (comma-separated in the environment), besides the "
        "`shipyard` entry-point group.",
    )

    @field_validator("plugins", "url_allow_networks", mode="before")
    @classmethod
    def _split_plugins(cls, value: object) -> object:
        if isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value

    @field_validator("database_url")
    @classmethod
    def _normalise_database_url(cls, value: str | None) -> str | None:
        if value is None or value == "":
            return None
        for prefix in _POSTGRES_PREFIXES:
            if value.startswith(prefix):
                return "postgresql+psycopg://" + value[len(prefix) :]
        if not value.startswith(("sqlite:///", "postgresql+psycopg://")):
            raise ConfigError(
                "SHIPYARD_DATABASE_URL must start with sqlite:/// or postgresql+psycopg://, "
                f"got {value.split('://')[0]}://…"
            )
        return value

    @property
    def resolved_database_url(self) -> str:
        """The store URL, defaulting to SQLite inside `home`."""
        if self.database_url:
            return self.database_url
        return f"sqlite:///{(self.home / 'shipyard.db').resolve()}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built once per process (entry points only).

    Raises `ConfigError` naming the bad setting, instead of pydantic's multi-line report.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(
            f"SHIPYARD_{'__'.join(str(p) for p in error['loc']).upper()}: {error['msg']}" for error in exc.errors()
        )
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None
