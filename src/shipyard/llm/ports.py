"""The port every LLM provider adapter implements."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import Protocol

from shipyard.llm.types import ChatRequest, ChatResult, StreamEvent


class ChatProvider(Protocol):
    """One upstream server. `model` is the upstream's own model name (not the gateway route)."""

    async def complete(self, model: str, request: ChatRequest, *, timeout: float) -> ChatResult:
        """The whole answer within `timeout` seconds. Raises an `UpstreamError` subclass."""
        ...

    def stream(
        self, model: str, request: ChatRequest, *, timeout: float, stall: float
    ) -> AsyncGenerator[StreamEvent, None]:
        """Text deltas, then exactly one `StreamEnd`. The first event arrives within `timeout`, each next
        within `stall` seconds. Raises an `UpstreamError` subclass — also for a stream that ends
        without the model finishing or that is not valid SSE."""
        ...

    async def aclose(self) -> None: ...
