"""The LLM gateway: OpenAI-compatible providers behind one port, routing with retries, fallback,
timeouts and circuit breakers, streaming that never passes off a cut answer as complete."""

from shipyard.llm.config import Deployment, GatewayConfig, ResolvedConfig, load_config
from shipyard.llm.errors import (
    ModelNotFound,
    StreamInterrupted,
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamMalformed,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shipyard.llm.gateway import Attempt, Completion, Gateway, RetryPolicy, StreamOutcome
from shipyard.llm.ports import ChatProvider
from shipyard.llm.registry import build_gateway
from shipyard.llm.types import ChatRequest, ChatResult, Message, StreamDelta, StreamEnd, StreamEvent, Usage

__all__ = [
    "Attempt",
    "ChatProvider",
    "ChatRequest",
    "ChatResult",
    "Completion",
    "Deployment",
    "Gateway",
    "GatewayConfig",
    "Message",
    "ModelNotFound",
    "ResolvedConfig",
    "RetryPolicy",
    "StreamDelta",
    "StreamEnd",
    "StreamEvent",
    "StreamInterrupted",
    "StreamOutcome",
    "UpstreamAuthFailed",
    "UpstreamError",
    "UpstreamMalformed",
    "UpstreamMisconfigured",
    "UpstreamRateLimited",
    "UpstreamRejected",
    "UpstreamTimeout",
    "UpstreamUnavailable",
    "Usage",
    "build_gateway",
    "load_config",
]
