"""What flows through the gateway: chat requests, results, stream events, usage.

Plain frozen dataclasses in shipyard's vocabulary: adapters translate vendor objects into these,
so routing, retries and tracing never see an `openai` type.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["system", "user", "assistant", "tool", "developer"]


@dataclass(frozen=True)
class Message:
    role: Role
    content: str


@dataclass(frozen=True)
class ChatRequest:
    """One chat completion as the caller asked for it; `model` is a gateway model name."""

    model: str
    messages: tuple[Message, ...]
    temperature: float | None = None
    top_p: float | None = None
    max_tokens: int | None = None
    stop: tuple[str, ...] = ()
    seed: int | None = None
    # Other OpenAI parameters the gateway passes through untouched (response_format, tools, …).
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def deterministic(self) -> bool:
        """Temperature 0: the same request may be answered from the response cache."""
        return self.temperature == 0


@dataclass(frozen=True)
class Usage:
    input_tokens: int = 0
    output_tokens: int = 0
    # Whether the numbers came from the provider or were counted here with a tokenizer.
    estimated: bool = False

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True)
class ChatResult:
    """A finished completion from one provider model."""

    text: str
    finish_reason: str
    usage: Usage
    model: str  # the upstream model that answered


@dataclass(frozen=True)
class StreamDelta:
    """A piece of streamed text. The last event of a healthy stream is a `StreamEnd`."""

    text: str


@dataclass(frozen=True)
class StreamEnd:
    finish_reason: str
    usage: Usage
    model: str


StreamEvent = StreamDelta | StreamEnd
