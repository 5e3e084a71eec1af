"""Builds the gateway from its configuration: one pooled client per provider."""

from __future__ import annotations

from shipyard.llm.adapters.openai import OpenAIChatProvider
from shipyard.llm.config import ResolvedConfig
from shipyard.llm.gateway import Gateway, RetryPolicy
from shipyard.llm.tokens import TokenCounter


def build_gateway(
    config: ResolvedConfig, policy: RetryPolicy | None = None, *, tokens: TokenCounter | None = None
) -> Gateway:
    """Every provider is an OpenAI-compatible server (the `openai` client speaks to all of them)."""
    providers = {name: OpenAIChatProvider(upstream) for name, upstream in config.upstreams.items()}
    return Gateway(config.routes, providers, policy, tokens=tokens)
