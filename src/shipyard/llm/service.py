"""Gateway calls made on behalf of a project, each recorded as a trace (kind `chat`)."""

from __future__ import annotations

import time
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from datetime import timedelta

from shipyard.ids import ProjectId, new_id
from shipyard.llm.gateway import Completion, StreamOutcome
from shipyard.llm.metered import MeteredGateway
from shipyard.llm.types import ChatRequest, StreamDelta, StreamEvent
from shipyard.store.types import utcnow
from shipyard.telemetry.traces import TraceRecord, TraceStore, ending


@dataclass
class ChatCall:
    """One call's identity and outcome, filled in as it runs."""

    trace_id: str = field(default_factory=lambda: new_id("trc"))
    outcome: StreamOutcome = field(default_factory=StreamOutcome)
    text: list[str] = field(default_factory=list)


class ChatService:
    def __init__(self, metered: MeteredGateway, traces: TraceStore) -> None:
        self._metered = metered
        self._traces = traces

    async def complete(
        self, project_id: ProjectId, request: ChatRequest, *, otel_trace_id: str | None = None
    ) -> tuple[Completion, str]:
        """The completion and its trace id."""
        call = ChatCall()
        started = time.perf_counter()
        try:
            completion = await self._metered.complete(project_id, request)
        except Exception as exc:
            call.outcome.attempts.extend(getattr(exc, "attempts", ()))
            self._record(project_id, request, call, started, otel_trace_id, exc)
            raise
        outcome = call.outcome
        outcome.attempts.extend(completion.attempts)
        outcome.deployment, outcome.usage, outcome.cost = completion.deployment, completion.usage, completion.cost
        outcome.finish_reason = completion.result.finish_reason
        outcome.cache_hit = completion.cache_hit
        call.text.append(completion.result.text)
        self._record(project_id, request, call, started, otel_trace_id)
        return completion, call.trace_id

    async def stream(
        self, project_id: ProjectId, request: ChatRequest, call: ChatCall, *, otel_trace_id: str | None = None
    ) -> AsyncGenerator[StreamEvent, None]:
        """The gateway's stream; the trace is recorded when it ends, however it ends."""
        started = time.perf_counter()
        failure: BaseException | None = None
        try:
            async for event in self._metered.stream(project_id, request, call.outcome):
                if isinstance(event, StreamDelta):
                    call.text.append(event.text)
                yield event
        except BaseException as exc:
            failure = exc
            raise
        finally:
            self._record(project_id, request, call, started, otel_trace_id, failure)

    def _record(
        self,
        project_id: ProjectId,
        request: ChatRequest,
        call: ChatCall,
        started: float,
        otel_trace_id: str | None,
        failure: BaseException | None = None,
    ) -> None:
        outcome = call.outcome
        duration_ms = round((time.perf_counter() - started) * 1000, 3)
        status, error_code, error = ending(failure, truncated=outcome.truncated)
        question = next((m.content for m in reversed(request.messages) if m.role == "user"), None)
        span = {"name": "llm", "start_ms": 0.0, "duration_ms": duration_ms, "attributes": {"model": request.model},
                "error": error_code}  # fmt: skip
        self._traces.record(
            TraceRecord(
                id=call.trace_id, project_id=project_id, kind="chat", status=status,
                started_at=utcnow() - timedelta(milliseconds=duration_ms), duration_ms=duration_ms,
                otel_trace_id=otel_trace_id, model=request.model,
                provider_model=outcome.deployment.id if outcome.deployment else None,
                question=question, answer="".join(call.text) or None,
                input_tokens=outcome.usage.input_tokens, output_tokens=outcome.usage.output_tokens,
                usage_estimated=outcome.usage.estimated, cost=outcome.cost, cache_hit=outcome.cache_hit,
                error_code=error_code,
                error=error,
                details={"spans": [span], "attempts": [vars(a) for a in outcome.attempts],
                         "finish_reason": outcome.finish_reason, "messages": len(request.messages),
                         "first_token_ms": _ms(outcome.first_token_seconds)},
            )
        )  # fmt: skip


def _ms(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds * 1000, 3)
