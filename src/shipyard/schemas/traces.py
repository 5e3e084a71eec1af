"""Traces and feedback, as the API answers and `shipyard traces … --json` prints them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shipyard.telemetry.traces import Feedback, FeedbackSummary, TraceRecord


class FeedbackStats(BaseModel):
    count: int
    mean_score: float | None


class TracePublic(BaseModel):
    id: str
    kind: str
    status: str
    started_at: datetime
    duration_ms: float
    otel_trace_id: str | None
    collection: str | None
    model: str | None
    provider_model: str | None
    prompt: str | None
    question: str | None
    answer: str | None
    input_tokens: int
    output_tokens: int
    usage_estimated: bool
    cost: float
    cache_hit: bool
    error_code: str | None
    error: str | None
    details: dict[str, Any] = Field(description="spans, retrieved chunks and scores, citations, attempts.")
    feedback: FeedbackStats

    @classmethod
    def of(cls, trace: TraceRecord, summary: FeedbackSummary | None) -> TracePublic:
        fields = {name: getattr(trace, name) for name in cls.model_fields if name != "feedback"}
        stats = (
            FeedbackStats(count=summary.count, mean_score=summary.mean_score)
            if summary
            else FeedbackStats(count=0, mean_score=None)
        )
        return cls(**fields, feedback=stats)


class FeedbackPublic(BaseModel):
    id: str
    trace_id: str
    score: float
    comment: str | None
    correction: str | None
    key_name: str | None
    created_at: datetime

    @classmethod
    def of(cls, feedback: Feedback) -> FeedbackPublic:
        return cls(**vars(feedback))


class TraceDetail(TracePublic):
    feedback_items: list[FeedbackPublic]

    @classmethod
    def with_feedback(cls, trace: TraceRecord, summary: FeedbackSummary, items: list[Feedback]) -> TraceDetail:
        public = TracePublic.of(trace, summary)
        return cls(**public.model_dump(), feedback_items=[FeedbackPublic.of(f) for f in items])
