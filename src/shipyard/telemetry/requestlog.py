"""The request log: one row per API call, written in batches off the request thread."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import NamedTuple, cast

from sqlalchemy import Table, select

from shipyard.errors import InvalidInput
from shipyard.ids import ProjectId
from shipyard.paging import NUMBER_CURSORS, Page, check_limit, page_of
from shipyard.store import Database, RequestLogRow
from shipyard.store.bulk import BulkInserter
from shipyard.store.types import utcnow
from shipyard.telemetry.batching import BatchWriter
from shipyard.telemetry.retention import delete_before


class RequestRecord(NamedTuple):
    """One API call. A NamedTuple: built on every request, it must be cheap to make."""

    ts: datetime
    method: str
    route: str
    path: str
    status: int
    latency_ms: float
    project_id: str | None
    key_id: str | None
    trace_id: str
    error_code: str | None = None
    error: str | None = None


_COLUMNS = list(RequestRecord._fields)


@dataclass(frozen=True)
class LoggedRequest:
    """A request-log row as read back."""

    id: int
    ts: datetime
    method: str
    route: str
    path: str
    status: int
    latency_ms: float
    project_id: str | None
    key_id: str | None
    trace_id: str
    error_code: str | None
    error: str | None


class RequestLog:
    def __init__(self, database: Database, *, max_queue: int = 10_000, flush_seconds: float = 0.1) -> None:
        self._db = database
        self._inserter = BulkInserter(database, cast(Table, RequestLogRow.__table__), _COLUMNS)
        self.writer: BatchWriter[RequestRecord] = BatchWriter(
            "request-log", self._insert, max_queue=max_queue, interval=flush_seconds
        )

    def record(self, entry: RequestRecord) -> None:
        """O(1), never raises; dropped (and counted) only when the queue is full."""
        self.writer.put(entry)

    def list(
        self,
        project_id: ProjectId | None,
        *,
        status: int | None = None,
        status_class: int | None = None,
        route: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[LoggedRequest]:
        """Newest first. `status_class=4` means every 4xx. `project_id=None`: all (operators)."""
        query = select(RequestLogRow).order_by(RequestLogRow.id.desc()).limit(check_limit(limit) + 1)
        if project_id is not None:
            query = query.where(RequestLogRow.project_id == project_id)
        if status is not None:
            query = query.where(RequestLogRow.status == status)
        if status_class is not None:
            if not 1 <= status_class <= 5:
                raise InvalidInput(f"status class must be 1-5 (as in 4xx), got {status_class}")
            query = query.where(RequestLogRow.status.between(status_class * 100, status_class * 100 + 99))
        if route is not None:
            query = query.where(RequestLogRow.route == route)
        if since is not None:
            query = query.where(RequestLogRow.ts >= _as_utc(since))
        if until is not None:
            query = query.where(RequestLogRow.ts < _as_utc(until))
        if cursor is not None:
            query = query.where(RequestLogRow.id < int(NUMBER_CURSORS.check(cursor)))
        with self._db.read() as session:
            rows = list(session.scalars(query))
        return page_of(rows, limit, _logged, lambda logged: logged.id)

    def delete_older_than(self, days: int, *, progress: Callable[[int], None] | None = None) -> int:
        """Delete rows older than `days`, in short transactions; returns how many went."""
        cutoff = utcnow() - timedelta(days=days)
        return delete_before(self._db, RequestLogRow.id, RequestLogRow.ts, cutoff, progress=progress)

    def _insert(self, rows: Sequence[RequestRecord]) -> None:
        self._inserter.insert(rows)


def _as_utc(moment: datetime) -> datetime:
    """Times without a zone are read as UTC, the zone every stored time is in."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment


def _logged(row: RequestLogRow) -> LoggedRequest:
    return LoggedRequest(
        id=row.id,
        ts=row.ts,
        method=row.method,
        route=row.route,
        path=row.path,
        status=row.status,
        latency_ms=row.latency_ms,
        project_id=row.project_id,
        key_id=row.key_id,
        trace_id=row.trace_id,
        error_code=row.error_code,
        error=row.error,
    )
