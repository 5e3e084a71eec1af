"""The answer pipeline: retrieve → (nothing relevant? say so) → pack → render → LLM → cite.

    question ─► hybrid search ─► relevance gate ─► pack passages into the model's budget
             ─► render the prompt (`rag-answer@production` unless told otherwise)
             ─► gateway (or the extractive answerer) ─► map [n] markers to passages

Each step is a span of the call's trace. Retrieved text is data, never instructions: the shipped
prompt fences it, and the extractive answerer only quotes it.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import anyio
from pydantic import Field, field_validator

from shipyard.ids import ProjectId, new_id
from shipyard.knowledge import KnowledgeService
from shipyard.knowledge.search import MAX_QUERY_CHARS, MAX_TOP_K, SearchRequest, query_text, top_k_within
from shipyard.llm import (
    ChatRequest,
    Message,
    ModelNotFound,
    StreamDelta,
    StreamEnd,
    StreamOutcome,
    UpstreamError,
    Usage,
)
from shipyard.llm.metered import MeteredGateway
from shipyard.llm.tokens import TokenCounter
from shipyard.prompts import DEFAULT_LABEL, PromptService, PromptVersion
from shipyard.rag.citations import cited
from shipyard.rag.extractive import ExtractiveAnswerer
from shipyard.rag.passages import Passage, pack
from shipyard.rag.spans import Span, Spans
from shipyard.specs import Spec
from shipyard.store.types import utcnow
from shipyard.telemetry.traces import TraceRecord, TraceStore, ending

EXTRACTIVE = "extractive"
DEFAULT_PROMPT = "rag-answer"
DEFAULT_ANSWER_TOKENS = 512
NO_ANSWER = "I could not find anything about this in the documents of collection '{collection}'."


@dataclass(frozen=True)
class RagSettings:
    model: str | None = None  # None: extractive
    top_k: int = 6
    min_similarity: float = 0.25
    context_tokens: int = 8192  # for models whose context window the config does not say


class AskRequest(Spec):
    """One question: the API's body, the CLI's options, a chat route's last user message."""

    collection: str = Field(min_length=1)
    question: str = Field(json_schema_extra={"minLength": 1, "maxLength": MAX_QUERY_CHARS})
    top_k: int | None = Field(
        default=None,
        description="Passages retrieved (default 6).",
        json_schema_extra={"minimum": 1, "maximum": MAX_TOP_K},
    )
    filter: dict[str, Any] | None = Field(default=None, description="Metadata filter, as in search.")
    model: str | None = Field(default=None, description="A gateway model or `extractive` (default: the configured).")
    prompt: str | None = Field(
        default=None, description="NAME, NAME@VERSION or NAME@LABEL; default rag-answer@production."
    )

    @field_validator("question")
    @classmethod
    def _question_fits(cls, question: str) -> str:
        return query_text(question, "question")

    @field_validator("top_k")
    @classmethod
    def _top_k_fits(cls, top_k: int | None) -> int | None:
        return None if top_k is None else top_k_within(top_k)


@dataclass
class Answer:
    """An answer and everything its trace needs."""

    trace_id: str
    collection: str
    question: str
    model: str
    answer: str = ""
    found: bool = False
    passages: list[Passage] = field(default_factory=list)
    citations: list[Passage] = field(default_factory=list)
    invalid_citations: list[int] = field(default_factory=list)
    retrieved: list[dict[str, Any]] = field(default_factory=list)
    prompt: str | None = None
    provider_model: str | None = None
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    attempts: list[dict[str, Any]] = field(default_factory=list)
    finish_reason: str | None = None
    truncated: bool = False
    cache_hit: bool = False
    first_token_ms: float | None = None
    spans: list[Span] = field(default_factory=list)
    duration_ms: float = 0.0


class RagService:
    def __init__(
        self,
        knowledge: KnowledgeService,
        prompts: PromptService,
        metered: MeteredGateway,
        tokens: TokenCounter,
        traces: TraceStore,
        settings: RagSettings | None = None,
    ) -> None:
        self._knowledge = knowledge
        self._prompts = prompts
        self._metered = metered
        self._gateway = metered.gateway
        self._tokens = tokens
        self._traces = traces
        self.settings = settings or RagSettings()
        self._extractive = ExtractiveAnswerer()

    @property
    def models(self) -> list[str]:
        """What `model` may name: the gateway's models and `extractive`."""
        return [*self._gateway.models, EXTRACTIVE]

    async def ask(self, project_id: ProjectId, request: AskRequest, *, otel_trace_id: str | None = None) -> Answer:
        """The answer, cited; its trace is recorded whatever happens (errors included)."""
        answer, spans = self._new(request), Spans()
        try:
            chat = await self._prepare(project_id, request, answer, spans)
            if chat is not None:
                with spans.span("llm", model=answer.model) as span:
                    try:
                        completion = await self._metered.complete(project_id, chat)
                    except UpstreamError as exc:
                        answer.attempts = [vars(a) for a in exc.attempts]
                        raise
                    span.attributes["attempts"] = len(completion.attempts)
                answer.attempts = [vars(a) for a in completion.attempts]
                answer.provider_model = completion.deployment.id
                answer.usage, answer.cost = completion.usage, completion.cost
                answer.cache_hit = completion.cache_hit
                answer.finish_reason = completion.result.finish_reason
                self._cite(answer, completion.result.text, spans)
        except Exception as exc:
            self._record(project_id, answer, spans, otel_trace_id, exc)
            raise
        self._record(project_id, answer, spans, otel_trace_id)
        return answer

    async def ask_stream(
        self, project_id: ProjectId, request: AskRequest, *, otel_trace_id: str | None = None
    ) -> AsyncGenerator[str | Answer, None]:
        """Text pieces, then the finished `Answer` (citations, usage). Raises before the first
        piece like `ask`; a failure after it raises `StreamInterrupted`, traced as truncated."""
        answer, spans = self._new(request), Spans()
        failure: BaseException | None = None
        try:
            chat = await self._prepare(project_id, request, answer, spans)
            if chat is None:
                if answer.answer:
                    yield answer.answer
            else:
                async for piece in self._generate(project_id, chat, answer, spans):
                    yield piece
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._record(project_id, answer, spans, otel_trace_id, failure)
        yield answer

    async def _generate(
        self, project_id: ProjectId, chat: ChatRequest, answer: Answer, spans: Spans
    ) -> AsyncGenerator[str, None]:
        outcome = StreamOutcome()
        text: list[str] = []
        try:
            with spans.span("llm", model=answer.model, stream=True):
                async for event in self._metered.stream(project_id, chat, outcome):
                    if isinstance(event, StreamDelta):
                        text.append(event.text)
                        yield event.text
                    elif isinstance(event, StreamEnd):
                        answer.finish_reason = event.finish_reason
        finally:
            answer.attempts = [vars(a) for a in outcome.attempts]
            answer.provider_model = outcome.deployment.id if outcome.deployment else None
            answer.usage, answer.cost, answer.truncated = outcome.usage, outcome.cost, outcome.truncated
            answer.cache_hit = outcome.cache_hit
            if outcome.first_token_seconds is not None:
                answer.first_token_ms = round(outcome.first_token_seconds * 1000, 3)
            answer.answer = "".join(text)
            if outcome.truncated:
                answer.finish_reason = "error"
        self._cite(answer, answer.answer, spans)

    def _new(self, request: AskRequest) -> Answer:
        return Answer(new_id("trc"), request.collection, request.question, request.model or "")

    async def _prepare(
        self, project_id: ProjectId, request: AskRequest, answer: Answer, spans: Spans
    ) -> ChatRequest | None:
        """Retrieve and pack; then the chat request for the LLM, or None when the answer is already
        made (extractive, or nothing relevant found)."""
        collection = self._knowledge.collection(project_id, request.collection)
        answer.collection = collection.name
        model = answer.model = self._model(request.model)
        # Checked up front even when unused (extractive): a misspelt prompt name is a 404, not ignored.
        version = self._prompt(project_id, request.prompt) if request.prompt or model != EXTRACTIVE else None
        top_k = request.top_k or self.settings.top_k
        with spans.span("retrieve", top_k=top_k) as span:
            results = await anyio.to_thread.run_sync(
                lambda: self._knowledge.search(
                    collection, SearchRequest.of(query=request.question, top_k=top_k, filter=request.filter)
                )
            )
            span.attributes["results"] = len(results)
        answer.retrieved = [{"chunk_id": r.chunk_id, "score": r.score, "similarity": r.similarity} for r in results]
        best = max((r.similarity or 0.0 for r in results), default=0.0)
        if best < self.settings.min_similarity:
            answer.answer = NO_ANSWER.format(collection=collection.name)
            return None
        if version is None:
            with spans.span("pack"):  # no model, no budget: nothing to count
                answer.passages = pack(results, budget=1 << 30, count=lambda _: 0)
            with spans.span("extract"):
                text = self._extractive.answer(request.question, answer.passages)
            if text is None:
                answer.answer = NO_ANSWER.format(collection=collection.name)
            else:
                self._cite(answer, text, spans)
            return None
        answer.prompt = version.ref
        with spans.span("pack") as span:
            budget = await self._budget(model, version)
            answer.passages = pack(results, budget=budget, count=self._tokens.count)
            span.attributes.update(budget=budget, passages=len(answer.passages))
        with spans.span("render", prompt=version.ref):
            passages = [p.for_prompt() for p in answer.passages]
            messages = await self._prompts.arender(version, {"question": request.question, "passages": passages})
        return self._chat(model, version, messages)

    def _model(self, requested: str | None) -> str:
        name = requested or self.settings.model or EXTRACTIVE
        if name != EXTRACTIVE and name not in self._gateway.models:
            raise ModelNotFound(f"unknown model {name!r}; models: {', '.join(self.models)}")
        return name

    def _prompt(self, project_id: ProjectId, ref: str | None) -> PromptVersion:
        if ref is None:
            return self._prompts.get(project_id, f"{DEFAULT_PROMPT}@{DEFAULT_LABEL}")
        return self._prompts.get(project_id, ref if "@" in ref else f"{ref}@{DEFAULT_LABEL}")

    async def _budget(self, model: str, version: PromptVersion) -> int:
        """Tokens left for passages: the context window minus the answer and the prompt itself."""
        window = self._gateway.context_window(model) or self.settings.context_tokens
        answer_tokens = int(version.parameters.get("max_tokens") or DEFAULT_ANSWER_TOKENS)
        # Tenant templates render on a worker thread (bounded, but CPU), never on the event loop.
        bare = await self._prompts.arender(version, {"question": "", "passages": []})
        return window - answer_tokens - self._tokens.count_messages(bare)

    def _chat(self, model: str, version: PromptVersion, messages: list[Message]) -> ChatRequest:
        parameters = dict(version.parameters)
        known = {name: parameters.pop(name, None) for name in ("temperature", "top_p", "max_tokens", "seed")}
        stop = tuple(parameters.pop("stop", None) or ())
        return ChatRequest(model=model, messages=tuple(messages), stop=stop, extra=parameters, **known)

    def _cite(self, answer: Answer, text: str, spans: Spans) -> None:
        with spans.span("cite") as span:
            answer.answer = text
            answer.found = True
            answer.citations, answer.invalid_citations = cited(text, answer.passages)
            span.attributes.update(citations=len(answer.citations), invalid=len(answer.invalid_citations))

    def _record(
        self,
        project_id: ProjectId,
        answer: Answer,
        spans: Spans,
        otel_trace_id: str | None,
        failure: BaseException | None = None,
    ) -> None:
        answer.spans = spans.items
        answer.duration_ms = spans.elapsed_ms()
        self._traces.record(answer_trace(project_id, answer, otel_trace_id, failure))


def answer_trace(
    project_id: ProjectId, answer: Answer, otel_trace_id: str | None, failure: BaseException | None
) -> TraceRecord:
    """What the trace store keeps of an answer (and of the error that ended it, if one did)."""
    status, error_code, error = ending(failure, truncated=answer.truncated, ok="ok" if answer.found else "no_answer")
    details = {
        "spans": [vars(s) for s in answer.spans],
        "retrieved": answer.retrieved,
        "citations": [
            {"index": p.index, "chunk_id": p.chunk_id, "document_id": p.document_id} for p in answer.citations
        ],
        "invalid_citations": answer.invalid_citations,
        "attempts": answer.attempts,
        "finish_reason": answer.finish_reason,
        "first_token_ms": answer.first_token_ms,
    }
    return TraceRecord(
        id=answer.trace_id, project_id=project_id, kind="ask", status=status,
        started_at=utcnow() - timedelta(milliseconds=answer.duration_ms), duration_ms=answer.duration_ms,
        otel_trace_id=otel_trace_id, collection=answer.collection, model=answer.model or None,
        provider_model=answer.provider_model, prompt=answer.prompt, question=answer.question,
        answer=answer.answer or None, input_tokens=answer.usage.input_tokens,
        output_tokens=answer.usage.output_tokens, usage_estimated=answer.usage.estimated, cost=answer.cost,
        cache_hit=answer.cache_hit,
        error_code=error_code, error=error, details=details,
    )  # fmt: skip
