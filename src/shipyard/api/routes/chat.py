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
from typing import Any

import anyio
import numpy as np
from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse

from shipyard.api.deps import authorize, services_of
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
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.auth import Role
from shipyard.errors import InvalidInput
from shipyard.llm import ModelNotFound, StreamDelta, StreamEnd, StreamEvent, StreamOutcome, UpstreamError, Usage

router = APIRouter(prefix="/v1", tags=["openai"], responses=ERROR_RESPONSES)

MAX_EMBEDDING_INPUTS = 2048  # OpenAI's own limit per request


@router.post("/chat/completions", operation_id="create_chat_completion", response_model=ChatCompletion)
async def create_chat_completion(request: Request, body: ChatCompletionRequest) -> Any:
    """A chat completion through the gateway: retries, fallback and circuit breakers included."""
    authorize(request, Role.VIEWER)
    gateway = services_of(request).gateway
    chat = body.to_chat_request()
    completion_id = f"chatcmpl-{getattr(request.state, 'trace_id', '') or int(time.time() * 1e6)}"
    if body.stream:
        include_usage = bool(body.stream_options and body.stream_options.include_usage)
        outcome = StreamOutcome()
        events = gateway.stream(chat, outcome)
        try:
            first = await anext(events)
        except BaseException:
            await events.aclose()
            raise
        chunks = _sse(completion_id, body.model, first, events, outcome, include_usage)
        return StreamingResponse(chunks, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})
    completion = await gateway.complete(chat)
    return ChatCompletion(
        id=completion_id,
        created=int(time.time()),
        model=body.model,
        choices=[
            Choice(
                message=AssistantMessage(content=completion.result.text),
                finish_reason=completion.result.finish_reason,
            )
        ],
        usage=_usage(completion.usage),
        shipyard={
            "provider_model": completion.deployment.id,
            "cost": completion.cost,
            "usage_estimated": completion.usage.estimated,
            "attempts": len(completion.attempts),
        },
    )


async def _sse(
    completion_id: str,
    model: str,
    first: StreamEvent,
    events: AsyncGenerator[StreamEvent, None],
    outcome: StreamOutcome,
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

    yield chunk({"role": "assistant", "content": ""})  # as OpenAI: the first chunk names the role
    try:
        event = first
        while True:
            if isinstance(event, StreamDelta):
                yield chunk({"content": event.text})
            elif isinstance(event, StreamEnd):
                yield chunk({}, event.finish_reason)
                if include_usage:  # OpenAI's usage chunk: no choices
                    yield chunk(None, usage=_usage(event.usage).model_dump())
                yield b"data: [DONE]\n\n"
                return
            event = await anext(events)
    except UpstreamError as exc:
        yield chunk({}, "error")
        error = {"message": exc.message, "type": "upstream_error", "param": None, "code": exc.code}
        yield b"event: error\ndata: " + json.dumps({"error": error}).encode() + b"\n\n"
    finally:
        await events.aclose()


def _usage(usage: Usage) -> UsageOut:
    return UsageOut(
        prompt_tokens=usage.input_tokens, completion_tokens=usage.output_tokens, total_tokens=usage.total_tokens
    )


@router.get("/models", operation_id="list_models")
def list_models(request: Request) -> ModelList:
    """Gateway models this installation serves, and the embedding model."""
    authorize(request, Role.VIEWER)
    services = services_of(request)
    cards = [ModelCard(id=name, owned_by="shipyard-gateway") for name in services.gateway.models]
    cards.append(ModelCard(id=services.embedder.name, owned_by="shipyard-embeddings"))
    return ModelList(data=cards)


@router.post("/embeddings", operation_id="create_embeddings")
async def create_embeddings(request: Request, body: EmbeddingRequest) -> EmbeddingList:
    """Embeddings from the configured embedder (the packaged MiniLM by default)."""
    authorize(request, Role.VIEWER)
    services = services_of(request)
    embedder = services.embedder
    if body.model.lower() != embedder.name.lower():
        raise ModelNotFound(f"unknown embedding model {body.model!r}; models: {embedder.name}")
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > MAX_EMBEDDING_INPUTS:
        raise InvalidInput(f"input holds 1 to {MAX_EMBEDDING_INPUTS} texts, got {len(texts)}")
    if body.dimensions is not None and body.dimensions != embedder.dimension:
        raise InvalidInput(f"{embedder.name} has {embedder.dimension} dimensions; it cannot return {body.dimensions}")
    vectors = await anyio.to_thread.run_sync(embedder.embed, texts)
    tokens = sum(services.tokens.count(text) for text in texts)
    return EmbeddingList(
        data=[EmbeddingOut(index=i, embedding=_encoded(v, body.encoding_format)) for i, v in enumerate(vectors)],
        model=embedder.name,
        usage=EmbeddingUsage(prompt_tokens=tokens, total_tokens=tokens),
    )


def _encoded(vector: Any, encoding_format: str) -> list[float] | str:
    if encoding_format == "base64":
        return base64.b64encode(np.asarray(vector, dtype="<f4").tobytes()).decode()
    return [float(x) for x in vector]
