"""OpenAI-compatible endpoints: `POST /v1/chat/completions` (JSON or SSE stream), `GET /v1/models`,
`POST /v1/embeddings`. Point the official `openai` client at `…/v1` with a shipyard key.

A stream is only started (HTTP 200) once the gateway has the first token: failures before that
are ordinary HTTP errors. A failure after it ends the stream with a chunk whose `finish_reason` is
`error` followed by an OpenAI error event — which the `openai` client raises as `APIError` — and no
`[DONE]`, so no client can mistake a cut answer for a whole one.
"""

from __future__ import annotations

import base64
import json
import time
from collections.abc import AsyncGenerator, AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import numpy as np
from fastapi import APIRouter, Request, Response

from shipyard.api.deps import authorize, chat_of, embedder_of, gateway_of, knowledge_of, rag_of, tokens_of
from shipyard.api.direct import DirectRoute, json_body, parsed_body
from shipyard.api.openai_schemas import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    EmbeddingList,
    EmbeddingOut,
    EmbeddingRequest,
    EmbeddingUsage,
    ModelCard,
    ModelList,
    UsageOut,
)
from shipyard.api.routes.ask import citation
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.api.streaming import EventStream
from shipyard.auth import Role
from shipyard.errors import InvalidInput
from shipyard.llm import ModelNotFound, StreamDelta, StreamEnd, StreamEvent, UpstreamError, Usage
from shipyard.llm.service import ChatCall
from shipyard.rag import Answer, AskRequest

router = APIRouter(route_class=PrefixedRoute, prefix="/v1", tags=["openai"], responses=ERROR_RESPONSES)

MAX_EMBEDDING_INPUTS = 2048  # OpenAI's own limit per request
RAG_PREFIX = "rag:"


@dataclass(frozen=True)
class _End:
    finish_reason: str
    usage: Usage
    extra: dict[str, Any]


async def create_chat_completion(request: Request) -> Response:
    """A chat completion through the gateway (retries, fallback, circuit breakers), or with
    `model: "rag:<collection>"` an answer from that collection, cited."""
    principal = authorize(request, Role.VIEWER)
    body = await parsed_body(ChatCompletionRequest, request)
    trace_id = getattr(request.state, "trace_id", None)
    completion_id = f"chatcmpl-{trace_id or int(time.time() * 1e6)}"
    if body.model.startswith(RAG_PREFIX):
        question = _rag_question(body)
        if body.stream:
            parts = _rag_parts(rag_of(request).ask_stream(principal.project_id, question, otel_trace_id=trace_id))
            return await _streamed(completion_id, body, parts)
        answer = await rag_of(request).ask(principal.project_id, question, otel_trace_id=trace_id)
        text, extra = _rag_message(answer)
        return _completion(completion_id, body.model, text, "stop", answer.usage, extra)
    chat = body.to_chat_request()
    if body.stream:
        call = ChatCall()
        events = chat_of(request).stream(principal.project_id, chat, call, otel_trace_id=trace_id)
        return await _streamed(completion_id, body, _gateway_parts(events, call))
    completion, trace = await chat_of(request).complete(principal.project_id, chat, otel_trace_id=trace_id)
    extra = {"trace_id": trace, "provider_model": completion.deployment.id, "cost": completion.cost,
             "usage_estimated": completion.usage.estimated, "attempts": len(completion.attempts)}  # fmt: skip
    return _completion(
        completion_id, body.model, completion.result.text, completion.result.finish_reason, completion.usage,
        {"shipyard": extra},
    )  # fmt: skip


# The gateway's hot path: a DirectRoute (api/direct.py) parses the body and serialises the answer once.
router.add_api_route(
    "/chat/completions",
    create_chat_completion,
    methods=["POST"],
    operation_id="create_chat_completion",
    response_model=ChatCompletion,
    openapi_extra=json_body(ChatCompletionRequest),
    route_class_override=DirectRoute,
)


def _completion(
    completion_id: str, model: str, text: str, finish_reason: str, usage: Usage, extra: dict[str, Any]
) -> Response:
    completion = ChatCompletion(
        id=completion_id,
        created=int(time.time()),
        model=model,
        choices=[Choice(message=AssistantMessage(content=text), finish_reason=finish_reason)],
        usage=_usage(usage),
        **extra,
    )
    return Response(completion.model_dump_json(), media_type="application/json")


def _rag_question(body: ChatCompletionRequest) -> AskRequest:
    """The last user message is the question (earlier turns are not used for retrieval)."""
    question = next((m.text() for m in reversed(body.messages) if m.role == "user"), "").strip()
    if not question:
        raise InvalidInput("a rag:<collection> model needs a user message with the question")
    return AskRequest.of(collection=body.model.removeprefix(RAG_PREFIX), question=question)


def _rag_message(answer: Answer) -> tuple[str, dict[str, Any]]:
    """The answer with its sources listed under it, and the citations as an extra field."""
    sources = "\n".join(f"[{p.index}] {p.title or p.document_id}" + (f" ({p.source})" if p.source else "")
                        for p in answer.citations)  # fmt: skip
    text = f"{answer.answer}\n\nSources:\n{sources}" if sources else answer.answer
    extra = {
        "citations": [citation(p).model_dump(mode="json") for p in answer.citations],
        "shipyard": {"trace_id": answer.trace_id, "model": answer.model, "prompt": answer.prompt,
                     "provider_model": answer.provider_model, "cost": answer.cost, "found": answer.found},
    }  # fmt: skip
    return text, extra


async def _gateway_parts(events: AsyncGenerator[StreamEvent, None], call: ChatCall) -> AsyncGenerator[str | _End, None]:
    try:
        async for event in events:
            if isinstance(event, StreamDelta):
                yield event.text
            elif isinstance(event, StreamEnd):
                outcome = call.outcome
                provider_model = outcome.deployment.id if outcome.deployment else None
                extra = {"trace_id": call.trace_id, "provider_model": provider_model, "cost": outcome.cost}
                yield _End(event.finish_reason, event.usage, {"shipyard": extra})
    finally:
        await events.aclose()


async def _rag_parts(events: AsyncGenerator[str | Answer, None]) -> AsyncGenerator[str | _End, None]:
    try:
        async for item in events:
            if isinstance(item, Answer):
                text, extra = _rag_message(item)
                if len(text) > len(item.answer):
                    yield text[len(item.answer) :]  # the sources, after the streamed answer
                yield _End("stop", item.usage, extra)
            else:
                yield item
    finally:
        await events.aclose()


async def _streamed(
    completion_id: str, body: ChatCompletionRequest, parts: AsyncGenerator[str | _End, None]
) -> EventStream:
    """Wait for the first part (failures until then are plain HTTP errors), then stream SSE."""
    try:
        first = await anext(parts)
    except BaseException:
        await parts.aclose()
        raise
    include_usage = bool(body.stream_options and body.stream_options.include_usage)
    chunks = _sse(completion_id, body.model, first, parts, include_usage)
    return EventStream(chunks)


async def _sse(
    completion_id: str,
    model: str,
    first: str | _End,
    parts: AsyncGenerator[str | _End, None],
    include_usage: bool,
) -> AsyncIterator[bytes]:
    created = int(time.time())

    def chunk(delta: dict[str, str] | None, finish_reason: str | None = None, **extra: Any) -> bytes:
        choices = (
            [] if delta is None else [{"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish_reason}]
        )
        payload = {"id": completion_id, "object": "chat.completion.chunk", "created": created, "model": model,
                   "choices": choices, **extra}  # fmt: skip
        return b"data: " + json.dumps(payload, separators=(",", ":")).encode() + b"\n\n"

    # As OpenAI, the first chunk names the role; sent in one write with the first text (one
    # socket write fewer before the first token reaches the client), and the end in one write too.
    opening = chunk({"role": "assistant", "content": ""})
    try:
        part = first
        while True:
            if isinstance(part, _End):
                ending = chunk({}, part.finish_reason, **part.extra)
                if include_usage:  # OpenAI's usage chunk: no choices
                    ending += chunk(None, usage=_usage(part.usage).model_dump())
                await anext(parts, None)  # run the call to its end (traced ok); closing it early reads as a disconnect
                yield opening + ending + b"data: [DONE]\n\n"
                return
            yield opening + chunk({"content": part})
            opening = b""
            part = await anext(parts)
    except UpstreamError as exc:
        yield opening + chunk({}, "error")
        error = {"message": exc.message, "type": "upstream_error", "param": None, "code": exc.code}
        yield b"event: error\ndata: " + json.dumps({"error": error}).encode() + b"\n\n"
    finally:
        await parts.aclose()


def _usage(usage: Usage) -> UsageOut:
    return UsageOut(
        prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens, total_tokens=usage.total_tokens
    )


@router.get("/models", operation_id="list_models")
def list_models(request: Request) -> ModelList:
    """Gateway models, `rag:<collection>` for each collection of the caller's project, the embedder."""
    principal = authorize(request, Role.VIEWER)
    cards = [ModelCard(id=name, owned_by="shipyard-gateway") for name in gateway_of(request).models]
    collections = knowledge_of(request).list_collections(principal.project_id)
    cards += [ModelCard(id=f"{RAG_PREFIX}{c.name}", owned_by="shipyard-rag") for c in collections]
    cards.append(ModelCard(id=embedder_of(request).name, owned_by="shipyard-embeddings"))
    return ModelList(data=cards)


@router.post("/embeddings", operation_id="create_embeddings")
async def create_embeddings(request: Request, body: EmbeddingRequest) -> EmbeddingList:
    """Embeddings from the configured embedder (the packaged MiniLM by default)."""
    authorize(request, Role.VIEWER)
    embedder = embedder_of(request)
    if body.model.lower() != embedder.name.lower():
        raise ModelNotFound(f"unknown embedding model {body.model!r}; models: {embedder.name}")
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > MAX_EMBEDDING_INPUTS:
        raise InvalidInput(f"input holds 1 to {MAX_EMBEDDING_INPUTS} texts, got {len(texts)}")
    if body.dimensions is not None and body.dimensions != embedder.dimension:
        raise InvalidInput(f"{embedder.name} has {embedder.dimension} dimensions; it cannot return {body.dimensions}")
    vectors = await anyio.to_thread.run_sync(embedder.embed, texts)
    counter = tokens_of(request)
    tokens = sum(counter.count(text) for text in texts)
    return EmbeddingList(
        data=[EmbeddingOut(index=i, embedding=_encoded(v, body.encoding_format)) for i, v in enumerate(vectors)],
        model=embedder.name,
        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )


def _encoded(vector: Any, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return [float(x) for x in vector]
