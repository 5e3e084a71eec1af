"""Traces of ask and chat calls, and feedback on them.

A trace is written off the request path, like the request log: `record()` queues it and a
background thread inserts batches. Reads flush this process's queue first, so a client that
asks and then immediately looks at (or rates) its trace finds it. Feedback is kept per trace as
rows of its own: scores from users over time, never an overwrite.
"""

from __future__ import annotations

import math
from asyncio import CancelledError
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

import structlog
from pydantic import Field, field_validator
from sqlalchemy import Table, func, select

from shipyard.errors import InvalidInput, NotFound
from shipyard.ids import ProjectId, new_id
from shipyard.paging import Page, check_limit, id_cursors, page_of
from shipyard.specs import Spec
from shipyard.store import Database, FeedbackRow, TraceRow
from shipyard.store.bulk import BulkInserter
from shipyard.store.types import utcnow
from shipyard.telemetry.batching import BatchWriter
from shipyard.telemetry.retention import delete_before

log = structlog.get_logger(__name__)

STATUSES = ("ok", "no_answer", "truncated", "error")
KINDS = ("ask", "chat")
_CURSORS = id_cursors("trc")


def ending(failure: BaseException | None, *, truncated: bool, ok: str = "ok") -> tuple[str, str | None, str | None]:
    """A trace's status, error code and error message for a call that ended with `failure`
    (None: it did not fail); `ok` is the status of a call that did not fail or get cut off."""
    if isinstance(failure, (GeneratorExit, CancelledError)):
        return "error", "client_disconnected", "the client went away before the call finished"
    if failure is None:
        return ("truncated" if truncated else ok), None, None
    code = getattr(failure, "code", type(failure).__name__)
    message = getattr(failure, "message", None) or str(failure)
    return ("truncated" if truncated else "error"), code, message


class TraceNotFound(NotFound):
    code = "trace_not_found"


@dataclass(frozen=True)
class TraceRecord:
    id: str
    project_id: str
    kind: str
    status: str
    started_at: datetime
    duration_ms: float
    otel_trace_id: str | None = None
    collection: str | None = None
    model: str | None = None
    provider_model: str | None = None
    prompt: str | None = None
    question: str | None = None
    answer: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    usage_estimated: bool = False
    cost: float = 0.0
    cache_hit: bool = False
    error_code: str | None = None
    error: str | None = None
    details: dict[str, Any] = field(default_factory=dict)


_COLUMNS = [name for name in TraceRecord.__dataclass_fields__]


@dataclass(frozen=True)
class Feedback:
    id: str
    trace_id: str
    score: float
    comment: str | None
    correction: str | None
    key_name: str | None
    created_at: datetime


@dataclass(frozen=True)
class FeedbackSummary:
    count: int
    mean_score: float | None


class FeedbackSpec(Spec):
    """A rating of one answer (the API's body)."""

    score: float = Field(
        description="-1..1 (thumbs down/up: -1/1) or 0..1 (a rating).", json_schema_extra={"minimum": -1, "maximum": 1}
    )
    comment: str | None = Field(default=None, max_length=10_000)
    correction: str | None = Field(default=None, max_length=100_000, description="What the answer should have been.")

    @field_validator("score")
    @classmethod
    def _score_fits(cls, score: float) -> float:
        if not math.isfinite(score) or not -1 <= score <= 1:
            raise ValueError(f"score must be between -1 and 1, got {score}")
        return score


class TraceStore:
    def __init__(self, database: Database, *, max_queue: int = 10_000, flush_seconds: float = 0.1) -> None:
        self._db = database
        self._inserter = BulkInserter(database, cast(Table, TraceRow.__table__), _COLUMNS)
        self._observers: list[Callable[[TraceRecord], None]] = []
        self._feedback_observers: list[Callable[[str, float], None]] = []
        self.writer: BatchWriter[TraceRecord] = BatchWriter(
            "traces", self._insert, max_queue=max_queue, max_batch=200, interval=flush_seconds
        )

    def observe(self, observer: Callable[[TraceRecord], None]) -> None:
        """Call `observer` with every trace as it is recorded (metrics); it must be quick."""
        self._observers.append(observer)

    def observe_feedback(self, observer: Callable[[str, float], None]) -> None:
        """Call `observer(project_id, score)` after every stored feedback (metrics)."""
        self._feedback_observers.append(observer)

    def record(self, trace: TraceRecord) -> None:
        """O(1), never raises; dropped (and counted) only when the queue is full."""
        self.writer.put(trace)
        for observer in self._observers:
            try:
                observer(trace)
            except Exception:  # noqa: BLE001 - metrics must never fail a call
                log.warning("trace_observer_failed", exc_info=True)

    def get(self, project_id: ProjectId, trace_id: str) -> TraceRecord:
        row = self._row(project_id, trace_id)
        if row is None:
            self.writer.flush_now()  # written a moment ago by this process?
            row = self._row(project_id, trace_id)
        if row is None:
            raise TraceNotFound(f"no trace {trace_id!r} in this project")
        return _record(row)

    def find(
        self,
        project_id: ProjectId,
        *,
        kind: str | None = None,
        collection: str | None = None,
        model: str | None = None,
        status: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[TraceRecord]:
        """Newest first."""
        self.writer.flush_now()
        if status is not None and status not in STATUSES:
            raise InvalidInput(f"status must be one of {', '.join(STATUSES)}, got {status!r}")
        if kind is not None and kind not in KINDS:
            raise InvalidInput(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        query = select(TraceRow).where(TraceRow.project_id == project_id)
        for column, value in ((TraceRow.kind, kind), (TraceRow.collection, collection), (TraceRow.model, model),
                              (TraceRow.status, status)):  # fmt: skip
            if value is not None:
                query = query.where(column == value)
        if since is not None:
            query = query.where(TraceRow.started_at >= since)
        if until is not None:
            query = query.where(TraceRow.started_at < until)
        if cursor is not None:
            query = query.where(TraceRow.id < _CURSORS.check(cursor))
        query = query.order_by(TraceRow.id.desc()).limit(check_limit(limit) + 1)
        with self._db.read() as session:
            rows = list(session.scalars(query))
        return page_of(rows, limit, _record, lambda trace: trace.id)

    def add_feedback(
        self,
        project_id: ProjectId,
        trace_id: str,
        spec: FeedbackSpec,
        *,
        key_name: str | None = None,
    ) -> Feedback:
        """Attach a score in [-1, 1] (thumbs: -1/1; ratings: 0..1) to a trace of this project."""
        self.get(project_id, trace_id)
        row = FeedbackRow(id=new_id("fb"), project_id=project_id, trace_id=trace_id, score=spec.score,
                          comment=spec.comment, correction=spec.correction, key_name=key_name,
                          created_at=utcnow())  # fmt: skip
        with self._db.write() as session:
            session.add(row)
            session.flush()
            stored = _feedback(row)
        for observer in self._feedback_observers:
            observer(project_id, spec.score)
        return stored

    def feedback(self, project_id: ProjectId, trace_id: str) -> tuple[list[Feedback], FeedbackSummary]:
        with self._db.read() as session:
            rows = session.scalars(
                select(FeedbackRow)
                .where(FeedbackRow.project_id == project_id, FeedbackRow.trace_id == trace_id)
                .order_by(FeedbackRow.id)
            ).all()
            items = [_feedback(r) for r in rows]
        mean = sum(f.score for f in items) / len(items) if items else None
        return items, FeedbackSummary(len(items), mean)

    def feedback_summaries(self, project_id: ProjectId, trace_ids: Sequence[str]) -> dict[str, FeedbackSummary]:
        if not trace_ids:
            return {}
        with self._db.read() as session:
            rows = session.execute(
                select(FeedbackRow.trace_id, func.count(), func.avg(FeedbackRow.score))
                .where(FeedbackRow.project_id == project_id, FeedbackRow.trace_id.in_(list(trace_ids)))
                .group_by(FeedbackRow.trace_id)
            ).all()
        return {trace_id: FeedbackSummary(int(count), float(mean)) for trace_id, count, mean in rows}

    def delete_older_than(self, days: int) -> int:
        """Delete traces (and their feedback) older than `days`, in short transactions."""
        cutoff = utcnow() - timedelta(days=days)
        return delete_before(self._db, TraceRow.id, TraceRow.started_at, cutoff, dependents=[FeedbackRow.trace_id])

    def _row(self, project_id: ProjectId, trace_id: str) -> TraceRow | None:
        with self._db.read() as session:
            row = session.get(TraceRow, trace_id)
            return row if row is not None and row.project_id == project_id else None

    def _insert(self, records: Sequence[TraceRecord]) -> None:
        self._inserter.insert([tuple(getattr(r, name) for name in _COLUMNS) for r in records])


def _record(row: TraceRow) -> TraceRecord:
    return TraceRecord(**{name: getattr(row, name) for name in _COLUMNS})


def _feedback(row: FeedbackRow) -> Feedback:
    return Feedback(row.id, row.trace_id, row.score, row.comment, row.correction, row.key_name, row.created_at)
