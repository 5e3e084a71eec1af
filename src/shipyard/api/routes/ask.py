"""`POST /v1/ask`: a question about a collection, answered with citations (JSON or SSE)."""

from __future__ import annotations

import json
from collections.abc import AsyncGenerator, AsyncIterator
from typing import Any

from fastapi import APIRouter, Request

from shipyard.api.deps import authorize, rag_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES
from shipyard.api.streaming import EventStream
from shipyard.auth import Role
from shipyard.errors import ShipyardError
from shipyard.rag import Answer, AskRequest
from shipyard.schemas.rag import AskResponse
from shipyard.schemas.rag import citation as citation  # for chat.py until it imports shipyard.schemas.rag

router = APIRouter(route_class=PrefixedRoute, prefix="/v1", tags=["rag"], responses=ERROR_RESPONSES)


class AskBody(AskRequest):
    """The question (`AskRequest`, the rag domain's spec) and how to send the answer."""

    stream: bool = False


@router.post("/ask", operation_id="ask", response_model=AskResponse)
async def ask(request: Request, body: AskBody) -> Any:
    """Retrieve → pack → prompt → LLM (or the extractive answerer) → cite. `stream: true` sends SSE
    events `delta` ({"text"}) then `done` (this response) or `error`."""
    principal = authorize(request, Role.VIEWER)
    rag = rag_of(request)
    trace_id = getattr(request.state, "trace_id", None)
    if not body.stream:
        return AskResponse.of(await rag.ask(principal.project_id, body, otel_trace_id=trace_id))
    events = rag.ask_stream(principal.project_id, body, otel_trace_id=trace_id)
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
