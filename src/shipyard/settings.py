"""The one Settings object: read once in an entry point, passed down as typed values.

Settings are grouped in sections (`settings.llm.timeout_seconds`, `settings.jobs.poll_seconds`);
each field keeps its flat environment variable (`SHIPYARD_LLM_TIMEOUT_SECONDS`,
`SHIPYARD_JOB_POLL_SECONDS`), the name every deployment already sets, so grouping them changed no
configuration. A field's variable is `SHIPYARD_` + its alias (or its name when it has none).

Precedence: constructor arguments > `SHIPYARD_*` environment > `.env` file > defaults. The
constructor takes the flat names too (`Settings(job_poll_seconds=0.05)`). Nothing else in shipyard
reads `os.environ`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Annotated, Any, Literal

from dotenv import dotenv_values
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic.fields import FieldInfo
from pydantic_settings import BaseSettings, NoDecode, PydanticBaseSettingsSource, SettingsConfigDict, SettingsError

from shipyard.errors import ConfigError

_POSTGRES_PREFIXES = ("postgres://", "postgresql://")
ENV_PREFIX = "SHIPYARD_"


class _Section(BaseModel):
    """A group of settings; each field is set by its flat variable, `SHIPYARD_<alias or name>`."""

    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    @field_validator("*", mode="before")
    @classmethod
    def _split_lists(cls, value: object, info: Any) -> object:
        """A list setting is given as one comma-separated variable (`a.b, c.d`)."""
        field = cls.model_fields.get(info.field_name)
        if field is not None and _is_list(field) and isinstance(value, str):
            return [item.strip() for item in value.split(",") if item.strip()]
        return value


class StoreSettings(_Section):
    """Where shipyard keeps its state: the metadata store and Redis."""

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


class ApiSettings(_Section):
    """The HTTP API: request limits, key checks, the metrics endpoint."""

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
    auth_failures_per_minute: int = Field(
        default=60,
        ge=1,
        description="Requests with an invalid API key allowed per client address per minute; past it the "
        "address gets 429 without its keys being checked, until the minute is over.",
    )
    metrics_token: SecretStr | None = Field(
        default=None,
        description="When set, GET /metrics needs `Authorization: Bearer <token>` (Prometheus: "
        "`authorization: {credentials: …}`). Unset, /metrics is open, as probes are.",
    )
    metrics_cache_seconds: float = Field(
        default=1.0,
        ge=0,
        description="How long one rendering of /metrics is served to every scraper (0: render each time).",
    )
    serve_deployment: str | None = Field(
        default=None,
        description="The deployment the bare MLflow-style `/invocations` serves (default: the project's only one).",
    )


class SecuritySettings(_Section):
    """Secrets at rest and the outbound address policy."""

    secret_key: SecretStr | None = Field(
        default=None,
        description="Fernet key(s), comma-separated (the first encrypts, all decrypt), that encrypt stored "
        "webhook secrets and receiver URLs. Default: a key made once in $SHIPYARD_HOME/secret.key on SQLite; "
        "required with PostgreSQL for encryption (`shipyard secret-key` prints a new one).",
    )
    url_allow_networks: Annotated[list[str], NoDecode] = Field(
        default_factory=list,
        description="Networks (CIDR, comma-separated) that tenant-set URLs (URL ingestion, webhooks, alert "
        "notifiers) may reach although they are not public, e.g. 10.20.0.0/16 for an intranet wiki. Loopback, "
        "private and link-local addresses are refused otherwise.",
    )


class RequestLogSettings(_Section):
    """The request log (and traces, which share its queue size and retention)."""

    retention_days: int = Field(
        alias="request_log_retention_days",
        default=30,
        ge=1,
        description="Request-log rows and traces older than this are deleted by the cleanup job.",
    )
    queue_size: int = Field(
        alias="request_log_queue_size",
        default=10_000,
        ge=1,
        description="Rows buffered before the request log starts dropping (counted).",
    )
    flush_seconds: float = Field(
        alias="request_log_flush_seconds",
        default=0.1,
        gt=0,
        description="How often the request-log writer flushes its batch.",
    )


class JobSettings(_Section):
    """Durable jobs and the workers that run them."""

    worker_in_process: bool = Field(
        default=True, description="Run a job worker inside `shipyard serve` (the embedded default)."
    )
    worker_concurrency: int = Field(default=1, ge=1, description="Jobs one worker process runs at once.")
    poll_seconds: float = Field(alias="job_poll_seconds", default=1.0, gt=0, description="Idle worker poll interval.")
    lease_seconds: float = Field(
        alias="job_lease_seconds",
        default=30.0,
        gt=0,
        description="A claimed job is renewed while it runs; a worker silent for this long has died and "
        "its job is picked up again.",
    )
    max_attempts: int = Field(
        alias="job_max_attempts", default=3, ge=1, description="Default attempts before a job fails."
    )
    retry_base_seconds: float = Field(
        alias="job_retry_base_seconds",
        default=2.0,
        gt=0,
        description="First retry delay; doubles each attempt (with jitter).",
    )
    retention_days: int = Field(
        alias="job_retention_days",
        default=30,
        ge=1,
        description="Jobs that succeeded or failed longer ago than this are deleted by the cleanup job.",
    )
    maintenance_interval_seconds: float = Field(
        default=3600.0, gt=0, description="How often a worker schedules the retention cleanup job."
    )


class KnowledgeSettings(_Section):
    """Ingestion, embeddings and search."""

    embedder_url: str = Field(
        default="onnx://all-minilm-l6-v2",
        description="Embedding model: the packaged onnx://all-minilm-l6-v2, or any OpenAI-compatible "
        "endpoint as openai+https://host/v1?model=NAME[&dimension=N].",
    )
    embedder_api_key: SecretStr | None = Field(
        default=None, description="API key for an OpenAI-compatible embedder (never logged)."
    )
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
    url_max_bytes: int = Field(default=20 * 1024 * 1024, ge=1, description="Largest document fetched by URL.")
    url_timeout_seconds: float = Field(default=15.0, gt=0, description="Deadline for fetching one URL.")


class LlmSettings(_Section):
    """The LLM gateway: the default upstream, its limits and retries, the response cache."""

    base_url: str | None = Field(
        alias="llm_base_url",
        default=None,
        description="Base URL of one OpenAI-compatible LLM server (https://api.openai.com/v1, http://vllm:8000/v1, "
        "…), served under SHIPYARD_LLM_MODEL. Without any LLM, answers are extractive.",
    )
    api_key: SecretStr | None = Field(
        alias="llm_api_key", default=None, description="API key of SHIPYARD_LLM_BASE_URL (never logged)."
    )
    model: str | None = Field(
        alias="llm_model",
        default=None,
        description="The model of SHIPYARD_LLM_BASE_URL; clients and RAG ask for it by this name.",
    )
    config: Path | None = Field(
        alias="llm_config",
        default=None,
        description="YAML file with several providers, prices and routes with fallbacks (docs/generation.md).",
    )
    timeout_seconds: float = Field(
        alias="llm_timeout_seconds",
        default=60.0,
        gt=0,
        description="One attempt's limit: the whole answer, or a stream's first token.",
    )
    stall_seconds: float = Field(
        alias="llm_stall_seconds",
        default=30.0,
        gt=0,
        description="A stream that sends nothing for this long has failed (mid-answer: cut off).",
    )
    deadline_seconds: float = Field(
        alias="llm_deadline_seconds",
        default=120.0,
        gt=0,
        description="Limit of one call across all retries and fallbacks.",
    )
    max_retries: int = Field(
        alias="llm_max_retries",
        default=2,
        ge=0,
        description="Retries per provider model on timeouts, 429 and 5xx, before the fallback.",
    )
    breaker_failures: int = Field(
        alias="llm_breaker_failures",
        default=5,
        ge=1,
        description="Consecutive failures that open a provider model's circuit breaker.",
    )
    breaker_reset_seconds: float = Field(
        alias="llm_breaker_reset_seconds",
        default=30.0,
        gt=0,
        description="How long an open circuit skips its provider model before one trial.",
    )
    cache_seconds: float = Field(
        alias="llm_cache_seconds",
        default=600.0,
        ge=0,
        description="How long answers to identical temperature-0 requests are reused (in-process, or Redis when "
        "SHIPYARD_REDIS_URL is set). 0 turns the response cache off.",
    )


class RagSettings(_Section):
    """Cited answers: retrieval depth, relevance floor, context window."""

    model: str | None = Field(
        alias="rag_model",
        default=None,
        description="The model RAG answers with: a gateway model or `extractive`. Default: SHIPYARD_LLM_MODEL "
        "when set, else extractive.",
    )
    top_k: int = Field(
        alias="rag_top_k", default=6, ge=1, le=100, description="Passages retrieved per question by default."
    )
    min_similarity: float = Field(
        alias="rag_min_similarity",
        default=0.25,
        ge=-1,
        le=1,
        description="Below this cosine similarity between the question and its best passage, RAG answers that "
        "it found nothing relevant instead of asking the model.",
    )
    context_tokens: int = Field(
        alias="rag_context_tokens",
        default=8192,
        ge=256,
        description="Context window assumed for models whose config does not give one.",
    )


class ModelSettings(_Section):
    """The model registry and serving."""

    mlflow_uri: str | None = Field(
        default=None,
        description="MLflow tracking server (http://mlflow:5000) for experiment tracking and the model registry. "
        "Default: MLflow embedded in $SHIPYARD_HOME/mlflow (SQLite + an artifact folder, no server).",
    )
    project: str = Field(
        default="default",
        description="The project training scripts register models in (`shipyard models train --project` sets it).",
    )
    require_approval: bool = Field(
        alias="models_require_approval",
        default=True,
        description="Only approved model versions may take production traffic (deploy, canary, promote).",
    )
    refresh_seconds: float = Field(
        alias="model_refresh_seconds",
        default=2.0,
        gt=0,
        description="How often each API process re-reads deployments and their aliases, so a moved alias or a "
        "rollback done anywhere is served everywhere within this time.",
    )


class MonitoringSettings(_Section):
    """Drift monitors, alert evaluation, per-minute series, OTLP export."""

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
    otlp_endpoint: str | None = Field(
        default=None,
        description="OTLP/HTTP endpoint of an OpenTelemetry collector (http://collector:4318): every ask and chat "
        "call is also exported there as spans with GenAI attributes. Traces stay in the store either way.",
    )


class ProcessSettings(_Section):
    """How each shipyard process runs: shutdown, logs, plugins."""

    shutdown_grace_seconds: float = Field(
        default=10.0, ge=0, description="On SIGTERM: time to finish in-flight work and flush logs."
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


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix=ENV_PREFIX, env_file=".env", env_file_encoding="utf-8", extra="ignore")

    store: StoreSettings = Field(default_factory=StoreSettings)
    api: ApiSettings = Field(default_factory=ApiSettings)
    security: SecuritySettings = Field(default_factory=SecuritySettings)
    request_log: RequestLogSettings = Field(default_factory=RequestLogSettings)
    jobs: JobSettings = Field(default_factory=JobSettings)
    knowledge: KnowledgeSettings = Field(default_factory=KnowledgeSettings)
    llm: LlmSettings = Field(default_factory=LlmSettings)
    rag: RagSettings = Field(default_factory=RagSettings)
    models: ModelSettings = Field(default_factory=ModelSettings)
    monitoring: MonitoringSettings = Field(default_factory=MonitoringSettings)
    process: ProcessSettings = Field(default_factory=ProcessSettings)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return init_settings, _FlatVariables(settings_cls)

    @model_validator(mode="before")
    @classmethod
    def _nest_flat_names(cls, data: Any) -> Any:
        """Constructor arguments by flat name (`llm_timeout_seconds=5`) go to their section, over
        what the environment gave it."""
        if not isinstance(data, dict):
            return data
        nested = {key: dict(value) if isinstance(value, dict) else value for key, value in data.items()
                  if key in cls.model_fields}  # fmt: skip
        for key, value in data.items():
            if key in cls.model_fields:
                continue
            where = FLAT_NAMES.get(key)
            if where is not None:
                section, name = where
                nested.setdefault(section, {})
                if isinstance(nested[section], dict):
                    nested[section][name] = value
        return nested

    @property
    def resolved_database_url(self) -> str:
        """The store URL, defaulting to SQLite inside `home`."""
        return self.store.resolved_database_url

    @property
    def home(self) -> Path:
        """The data folder (`SHIPYARD_HOME`): most code needs only this of the store section."""
        return self.store.home

    def replace(self, **values: Any) -> Settings:
        """A copy with some settings changed, by flat name (`worker_in_process=False`), validated."""
        data: dict[str, Any] = {name: section.model_dump() for name, section in self._sections()}
        for key, value in values.items():
            if key not in FLAT_NAMES:
                raise ConfigError(f"no setting named {key!r}")
            section, name = FLAT_NAMES[key]
            data[section][name] = value
        return type(self).model_validate(data)

    def _sections(self) -> Iterator[tuple[str, _Section]]:
        for name in type(self).model_fields:
            yield name, getattr(self, name)


def variables() -> dict[str, tuple[str, str, FieldInfo]]:
    """Every setting's environment variable → (section, field name, field)."""
    found: dict[str, tuple[str, str, FieldInfo]] = {}
    for section, holder in Settings.model_fields.items():
        model = holder.annotation
        assert isinstance(model, type) and issubclass(model, _Section)
        for name, field in model.model_fields.items():
            found[f"{ENV_PREFIX}{(field.alias or name).upper()}"] = (section, name, field)
    return found


class _FlatVariables(PydanticBaseSettingsSource):
    """Each field from its flat variable: the environment first, then the `.env` file."""

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return None, field_name, False  # __call__ reads every field at once

    def __call__(self) -> dict[str, Any]:
        env_file = self.config.get("env_file")
        dotenv = Path(env_file) if isinstance(env_file, str | Path) else None
        from_file = {k.upper(): v for k, v in dotenv_values(dotenv).items()} if dotenv and dotenv.is_file() else {}
        environ = {k.upper(): v for k, v in os.environ.items() if k.upper().startswith(ENV_PREFIX)}
        values: dict[str, dict[str, Any]] = {}
        for variable, (section, name, _field) in variables().items():
            value = environ.get(variable, from_file.get(variable))
            if value is not None:
                values.setdefault(section, {})[name] = value
        return values


def _is_list(field: FieldInfo) -> bool:
    return any(isinstance(meta, NoDecode) or meta is NoDecode for meta in field.metadata) or str(
        field.annotation
    ).startswith("list")


# Flat name (the variable without its prefix, lower case) → (section, field name).
FLAT_NAMES: dict[str, tuple[str, str]] = {}


def _index_flat_names() -> None:
    for variable, (section, name, _field) in variables().items():
        FLAT_NAMES[variable.removeprefix(ENV_PREFIX).lower()] = (section, name)


_index_flat_names()


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    """Settings from the environment, built once per process (entry points only).

    Raises `ConfigError` naming the bad variable, instead of pydantic's multi-line report.
    """
    try:
        return Settings()
    except ValidationError as exc:
        problems = "; ".join(f"{_variable_of(error['loc'])}: {error['msg']}" for error in exc.errors())
        raise ConfigError(f"invalid configuration: {problems}") from None
    except SettingsError as exc:
        raise ConfigError(f"invalid configuration: {exc}") from None


def _variable_of(loc: tuple[int | str, ...]) -> str:
    """The environment variable a validation error's location points at."""
    if len(loc) >= 2:
        section, name = str(loc[0]), str(loc[1])
        for variable, (where, field_name, field) in variables().items():
            if where == section and name in (field_name, field.alias):
                return variable
    return ENV_PREFIX + "__".join(str(p) for p in loc).upper()
