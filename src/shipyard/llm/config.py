"""Gateway configuration: providers (OpenAI-compatible servers), their models and prices, and routes.

The simplest setup is three settings — SHIPYARD_LLM_BASE_URL, SHIPYARD_LLM_API_KEY and
SHIPYARD_LLM_MODEL: one upstream, served under that model name. Anything richer is a YAML file
(SHIPYARD_LLM_CONFIG)::

    providers:
      openai:
        base_url: https://api.openai.com/v1
        api_key_env: OPENAI_API_KEY        # or api_key_file: /run/secrets/openai
        models:
          gpt-4o-mini: {input_per_million: 0.15, output_per_million: 0.60, context_window: 128000}
      vllm-a: {base_url: "http://vllm-a:8000/v1", models: {llama-3.1-8b: {context_window: 8192}}}
      vllm-b: {base_url: "http://vllm-b:8000/v1", models: {llama-3.1-8b: {context_window: 8192}}}
    routes:
      chat:                                # the name clients ask for
        - [vllm-a/llama-3.1-8b, vllm-b/llama-3.1-8b]   # a list: equivalent, load-balanced
        - openai/gpt-4o-mini                           # then the fallback

Keys are read from the named environment variable or file when the gateway is built, and are
never written to logs, traces or errors.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from shipyard.errors import ConfigError
from shipyard.yamlfile import load_yaml

PER_MILLION = 1_000_000


class ModelSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")

    input_per_million: float = Field(default=0.0, ge=0, description="Price of 1M input tokens.")
    output_per_million: float = Field(default=0.0, ge=0, description="Price of 1M output tokens.")
    context_window: int | None = Field(default=None, ge=1, description="Input + output tokens the model takes.")


class ProviderConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    base_url: str
    api_key: str | None = Field(default=None, description="Inline key: prefer api_key_env or api_key_file.")
    api_key_env: str | None = None
    api_key_file: Path | None = None
    models: dict[str, ModelSpec] = Field(min_length=1)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"base_url must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


class GatewayConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")

    providers: dict[str, ProviderConfig] = Field(default_factory=dict)
    # Route name → ordered steps; a step is one "provider/model" or a list of equivalent ones.
    routes: dict[str, list[str | list[str]]] = Field(default_factory=dict)


@dataclass(frozen=True)
class Deployment:
    """One model on one provider: what an attempt is sent to."""

    provider: str
    model: str
    spec: ModelSpec

    @property
    def id(self) -> str:
        return f"{self.provider}/{self.model}"

    def cost(self, input_tokens: int, output_tokens: int) -> float:
        return (input_tokens * self.spec.input_per_million + output_tokens * self.spec.output_per_million) / PER_MILLION


@dataclass(frozen=True)
class Upstream:
    """How to reach a provider. `api_key` is resolved; repr hides it."""

    name: str
    base_url: str
    api_key: str | None

    def __repr__(self) -> str:
        return f"Upstream(name={self.name!r}, base_url={self.base_url!r}, api_key={'***' if self.api_key else None})"


Route = tuple[tuple[Deployment, ...], ...]


@dataclass(frozen=True)
class ResolvedConfig:
    upstreams: dict[str, Upstream]
    routes: dict[str, Route]


def load_config(
    *,
    config_file: Path | None,
    base_url: str | None,
    api_key: str | None,
    model: str | None,
    environ: dict[str, str],
) -> ResolvedConfig:
    """The gateway's providers and routes from the settings (file, then the three variables).

    Raises `ConfigError` naming what is wrong and what would be valid.
    """
    config = _read_file(config_file) if config_file else GatewayConfig()
    if base_url or model:
        if not (base_url and model):
            raise ConfigError("SHIPYARD_LLM_BASE_URL and SHIPYARD_LLM_MODEL are set together (one is missing)")
        if "default" in config.providers:
            raise ConfigError("the config file defines a provider 'default', which SHIPYARD_LLM_BASE_URL also names")
        try:
            provider = ProviderConfig(base_url=base_url, api_key=api_key, models={model: ModelSpec()})
        except ValidationError as exc:
            raise ConfigError(f"SHIPYARD_LLM_BASE_URL: {exc.errors()[0]['msg']}") from None
        config.providers["default"] = provider
        config.routes.setdefault(model, [f"default/{model}"])
    return resolve(config, environ)


def resolve(config: GatewayConfig, environ: dict[str, str]) -> ResolvedConfig:
    """Keys read, route steps checked against the providers' models."""
    upstreams = {name: Upstream(name, p.base_url, _api_key(name, p, environ)) for name, p in config.providers.items()}
    routes = {name: _resolve_route(name, steps, config) for name, steps in config.routes.items()}
    return ResolvedConfig(upstreams=upstreams, routes=routes)


def _read_file(path: Path) -> GatewayConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"SHIPYARD_LLM_CONFIG: cannot read {path}: {exc.strerror}") from None
    data = load_yaml(text, f"SHIPYARD_LLM_CONFIG: {path}", ConfigError) or {}
    try:
        return GatewayConfig.model_validate(data)
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors()[:5])
        raise ConfigError(f"SHIPYARD_LLM_CONFIG: {path}: {problems}") from None


def _api_key(name: str, provider: ProviderConfig, environ: dict[str, str]) -> str | None:
    if provider.api_key_env:
        if provider.api_key_env not in environ:
            raise ConfigError(f"provider {name!r}: environment variable {provider.api_key_env} is not set")
        return environ[provider.api_key_env]
    if provider.api_key_file:
        try:
            return provider.api_key_file.read_text(encoding="utf-8").strip()
        except OSError as exc:
            raise ConfigError(
                f"provider {name!r}: cannot read api_key_file {provider.api_key_file}: {exc.strerror}"
            ) from None
    return provider.api_key


def _resolve_route(name: str, steps: list[str | list[str]], config: GatewayConfig) -> Route:
    if not steps:
        raise ConfigError(f"route {name!r} has no steps")
    return tuple(tuple(_deployment(name, ref, config) for ref in _as_list(step)) for step in steps)


def _as_list(step: str | list[str]) -> list[str]:
    return [step] if isinstance(step, str) else step


def _deployment(route: str, ref: str, config: GatewayConfig) -> Deployment:
    provider_name, _, model = ref.partition("/")
    provider = config.providers.get(provider_name)
    if provider is None or model not in provider.models:
        known = ", ".join(f"{p}/{m}" for p, spec in config.providers.items() for m in spec.models) or "none"
        raise ConfigError(f"route {route!r}: unknown provider model {ref!r}; configured: {known}")
    return Deployment(provider_name, model, provider.models[model])
