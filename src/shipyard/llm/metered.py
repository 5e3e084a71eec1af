"""The gateway as a project uses it: its budget checked before a call and charged after, and
deterministic requests (temperature 0) answered from the response cache.

A cache hit costs nothing and is not charged; it reports the usage of the answer it replays and
is marked as a hit on the trace.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator

from shipyard.ids import ProjectId
from shipyard.llm.budgets import BudgetService
from shipyard.llm.cache import CachedAnswer, ResponseCache, cache_key
from shipyard.llm.config import Deployment, ModelSpec
from shipyard.llm.gateway import Completion, Gateway, StreamOutcome
from shipyard.llm.types import ChatRequest, ChatResult, StreamDelta, StreamEnd, StreamEvent, Usage

CACHEABLE_FINISHES = ("stop", "length")


class MeteredGateway:
    def __init__(
        self, gateway: Gateway, budgets: BudgetService, cache: ResponseCache | None, *, cache_seconds: float
    ) -> None:
        self.gateway = gateway
        self.budgets = budgets
        self._cache = cache if cache_seconds > 0 else None
        self._ttl = cache_seconds

    async def complete(self, project_id: ProjectId, request: ChatRequest) -> Completion:
        key = self._key(project_id, request)
        if key is not None and (cached := await self._get(key)) is not None:
            return _replayed(cached)
        self.budgets.check(project_id)
        completion = await self.gateway.complete(request)
        self.budgets.charge(project_id, completion.usage.total_tokens, completion.cost)
        if key is not None and completion.result.finish_reason in CACHEABLE_FINISHES:
            await self._put(key, completion.result, completion.deployment.id, completion.usage)
        return completion

    async def stream(
        self, project_id: ProjectId, request: ChatRequest, outcome: StreamOutcome
    ) -> AsyncGenerator[StreamEvent, None]:
        key = self._key(project_id, request)
        if key is not None and (cached := await self._get(key)) is not None:
            replay = _replayed(cached)
            outcome.deployment, outcome.usage, outcome.cache_hit = replay.deployment, replay.usage, True
            outcome.finish_reason = cached.finish_reason
            yield StreamDelta(cached.text)
            yield StreamEnd(cached.finish_reason, replay.usage, cached.model)
            return
        self.budgets.check(project_id)
        text: list[str] = []
        try:
            async for event in self.gateway.stream(request, outcome):
                if isinstance(event, StreamDelta):
                    text.append(event.text)
                elif key is not None and outcome.deployment and event.finish_reason in CACHEABLE_FINISHES:
                    result = ChatResult("".join(text), event.finish_reason, event.usage, event.model)
                    await self._put(key, result, outcome.deployment.id, event.usage)
                yield event
        finally:
            self.budgets.charge(project_id, outcome.usage.total_tokens, outcome.cost)

    def _key(self, project_id: ProjectId, request: ChatRequest) -> str | None:
        return cache_key(project_id, request) if self._cache is not None and request.deterministic else None

    async def _get(self, key: str) -> CachedAnswer | None:
        assert self._cache is not None
        return await self._cache.get(key)

    async def _put(self, key: str, result: ChatResult, deployment: str, usage: Usage) -> None:
        assert self._cache is not None
        answer = CachedAnswer(result.text, result.finish_reason, result.model, deployment, usage.input_tokens,
                              usage.output_tokens, usage.estimated)  # fmt: skip
        await self._cache.set(key, answer, self._ttl)

    async def aclose(self) -> None:
        if self._cache is not None:
            await self._cache.aclose()


def _replayed(cached: CachedAnswer) -> Completion:
    usage = Usage(cached.input_tokens, cached.output_tokens, cached.usage_estimated)
    provider, _, model = cached.deployment.partition("/")
    return Completion(
        result=ChatResult(cached.text, cached.finish_reason, usage, cached.model),
        deployment=Deployment(provider, model, ModelSpec()),
        usage=usage,
        cost=0.0,
        attempts=(),
        cache_hit=True,
    )
