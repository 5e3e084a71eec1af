"""`POST /v1/ask`: a question about a collection, answered with citations (JSON or SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from shipyard.api.deps import authorize, rag_of
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.api.streaming import EventStream
from shipyard.auth import Role
from shipyard.errors import ShipyardError
from shipyard.knowledge.search import MAX_QUERY_CHARS, MAX_TOP_K
from shipyard.rag import Answer, AskRequest
from shipyard.schemas.rag import AskResponse
from shipyard.schemas.rag import citation as citation  # for chat.py until it imports shipyard.schemas.rag

router = APIRouter(prefix="/v1", tags=["rag"], responses=ERROR_RESPONSES)


class AskBody(BaseModel):
    model_config = ConfigDict(extra="forbid")

    collection: str = Field(min_length=1)
    question: str = Field(min_length=1, max_length=MAX_QUERY_CHARS)
    top_k: int | None = Field(default=None, ge=1, le=MAX_TOP_K, description="Passages retrieved (default 6).")
    filter: dict[str, Any] | None = Field(default=None, description="Metadata filter, as in search.")
    model: str | None = Field(default=None, description="A gateway model or `extractive` (default: the configured).")
    prompt: str | None = Field(
        default=None, description="NAME, NAME@VERSION or NAME@LABEL; default rag-answer@production."
    )
    stream: bool = False


@router.post("/ask", operation_id="ask", response_model=AskResponse)
async def ask(request: Request, body: AskBody) -> Any:
    """Retrieve → pack → prompt → LLM (or the extractive answerer) → cite. `stream: true` sends SSE
    events `delta` ({"text"}) then `done` (this response) or `error`."""
    principal = authorize(request, Role.VIEWER)
    rag = rag_of(request)
    question = AskRequest(body.collection, body.question, body.top_k, body.filter, body.model, body.prompt)
    trace_id = getattr(request.state, "trace_id", None)
    if not body.stream:
        return AskResponse.of(await rag.ask(principal.project_id, question, otel_trace_id=trace_id))
    events = rag.ask_stream(principal.project_id, question, otel_trace_id=trace_id)
    try:
        first = await anext(events)
    except BaseException:
        await events.aclose()
        raise
    return EventStream(_sse(first, events))


async def _sse(first: str | Answer, events: AsyncGenerator[str | Answer, None]) -> AsyncIterator[bytes]:
    def event(name: str, data: Any) -> bytes:
        return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()

    try:
        item = first
        while True:
            if isinstance(item, Answer):
                yield event("done", AskResponse.of(item).model_dump(mode="json"))
                return
            yield event("delta", {"text": item})
            item = await anext(events)
    except ShipyardError as exc:
        yield event("error", {"error": {"code": exc.code, "message": exc.message}})
    finally:
        await events.aclose()
