"""The platform's own time series: per-minute aggregates of what it serves, kept in the store.

Prometheus keeps such series for production; the embedded default has no Prometheus, and the
store is what every replica shares. So each process aggregates what it observes — HTTP requests,
predictions, LLM calls with their tokens and cost, feedback scores — per minute in memory (one
dict update per observation) and a background thread writes its own rows every few seconds:
`count`, `total` (the sum of the values) and, for latencies, counts per histogram bound — the
same buckets the Prometheus histograms use, so both engines read a latency SLI the same way.

A process only ever inserts or updates its own rows (`writer`), so no two processes contend for
a row; readers sum over writers. Minutes older than `COMPACT_AFTER` are folded into hours by the
cleanup job, which keeps a 3-day window at ~500 rows per series instead of 4,320.
"""

from __future__ import annotations

import bisect
import os
import socket
import threading
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import delete, select, update

from shipyard.runtime.failures import RepeatedFailure
from shipyard.runtime.loop import PeriodicLoop
from shipyard.store import Database, SeriesPointRow
from shipyard.store.types import utcnow

log = structlog.get_logger(__name__)

MINUTE = 60
HOUR = 3600
# Minute rows older than this become hour rows. Longer than the 6-hour burn-rate window, so
# every window but the 3-day one is read at minute resolution.
COMPACT_AFTER = timedelta(hours=8)
COMPACTED_WRITER = "compacted"


@dataclass
class _Point:
    count: float = 0.0
    total: float = 0.0
    buckets: list[float] | None = None
    row_id: int | None = None  # this writer's row for the minute, once inserted
    dirty: bool = True


# (minute start in epoch seconds, project id, name, target, variant, status)
_Key = tuple[int, str | None, str, str, str, str]


class SeriesRecorder(PeriodicLoop):
    """Aggregates observations per minute in memory; `start()` writes them in the background."""

    def __init__(self, database: Database, *, flush_seconds: float = 5.0, writer: str | None = None) -> None:
        super().__init__("series", flush_seconds, failure=RepeatedFailure("series_flush_failed"))
        self._db = database
        self.writer = writer or f"{socket.gethostname()[:30]}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._points: dict[_Key, _Point] = {}
        self._lock = threading.Lock()

    @property
    def failed_flushes(self) -> int:
        return self.failed_ticks

    def record(
        self,
        name: str,
        target: str,
        variant: str,
        status: str,
        value: float,
        *,
        project_id: str | None = None,
        bounds: Sequence[float] | None = None,
        at: float | None = None,
    ) -> None:
        """Count one observation of `value` (seconds, tokens, cost, a score); O(1), never raises.

        With `bounds`, the value is also counted in the first bucket whose bound is ≥ it (the
        Prometheus `le` rule), or in the overflow bucket after the last bound.
        """
        minute = int((at if at is not None else time.time()) // MINUTE) * MINUTE
        key = (minute, project_id, name, target, variant, status)
        with self._lock:
            point = self._points.get(key)
            if point is None:
                point = self._points[key] = _Point(buckets=[0.0] * (len(bounds) + 1) if bounds else None)
            point.count += 1
            point.total += value
            if bounds and point.buckets is not None:
                point.buckets[bisect.bisect_left(bounds, value)] += 1
            point.dirty = True

    def flush_now(self) -> None:
        """Write every changed point now (an evaluation that must see the latest); raises when
        the store is down (the points stay for the next flush)."""
        self.flush()

    def tick(self) -> None:
        with self._lock:
            changed = [(key, point, _copy(point)) for key, point in self._points.items() if point.dirty]
            for _, point, _ in changed:
                point.dirty = False
            current = int(time.time() // MINUTE) * MINUTE
            # Written, unchanged and two minutes old: nothing will add to it any more.
            for key in [k for k, p in self._points.items() if not p.dirty and p.row_id and k[0] < current - MINUTE]:
                del self._points[key]
        if not changed:
            return
        try:
            with self._db.write() as session:
                inserted: list[tuple[_Point, SeriesPointRow]] = []
                for key, point, snapshot in changed:
                    if point.row_id is None:
                        row = _row(key, snapshot, self.writer)
                        session.add(row)
                        inserted.append((point, row))
                    else:
                        session.execute(
                            update(SeriesPointRow)
                            .where(SeriesPointRow.id == point.row_id)
                            .values(count=snapshot.count, total=snapshot.total, buckets=snapshot.buckets)
                        )
                session.flush()
                ids = [(point, row.id) for point, row in inserted]
        except Exception:
            with self._lock:
                for _, point, _ in changed:
                    point.dirty = True
            raise
        with self._lock:
            for point, row_id in ids:
                point.row_id = row_id


def _copy(point: _Point) -> _Point:
    return _Point(point.count, point.total, list(point.buckets) if point.buckets is not None else None)


def _row(key: _Key, point: _Point, writer: str) -> SeriesPointRow:
    minute, project_id, name, target, variant, status = key
    return SeriesPointRow(
        project_id=project_id,
        name=name,
        target=target[:200],
        variant=variant[:200],
        status=status[:32],
        minute=datetime.fromtimestamp(minute, UTC),
        resolution=MINUTE,
        writer=writer,
        count=point.count,
        total=point.total,
        buckets=point.buckets,
    )


@dataclass(frozen=True)
class SeriesQuery:
    """Which rows of one series: a project (None: platform-wide rows) and optional dimensions."""

    name: str
    project_id: str | None = None
    target: str | None = None
    variant: str | None = None
    exclude_variants: tuple[str, ...] = ()


@dataclass(frozen=True)
class Sample:
    """One minute (or compacted hour) of a series, summed over writers and statuses."""

    minute: datetime
    resolution: int
    status: str
    count: float
    total: float
    buckets: list[float] | None = field(default=None)


def read(database: Database, query: SeriesQuery, since: datetime, until: datetime | None = None) -> list[Sample]:
    """The rows of `query` from `since` (inclusive) to `until` (exclusive), in time order, summed
    per minute and status over writers."""
    statement = select(
        SeriesPointRow.minute,
        SeriesPointRow.resolution,
        SeriesPointRow.status,
        SeriesPointRow.count,
        SeriesPointRow.total,
        SeriesPointRow.buckets,
    ).where(SeriesPointRow.name == query.name, SeriesPointRow.minute >= since)
    if until is not None:
        statement = statement.where(SeriesPointRow.minute < until)
    if query.project_id is None:
        statement = statement.where(SeriesPointRow.project_id.is_(None))
    else:
        statement = statement.where(SeriesPointRow.project_id == query.project_id)
    if query.target is not None:
        statement = statement.where(SeriesPointRow.target == query.target)
    if query.variant is not None:
        statement = statement.where(SeriesPointRow.variant == query.variant)
    if query.exclude_variants:
        statement = statement.where(SeriesPointRow.variant.not_in(query.exclude_variants))
    merged: dict[tuple[datetime, str], Sample] = {}
    with database.read() as session:
        for minute, resolution, status, count, total, buckets in session.execute(statement):
            key = (minute, status)
            found = merged.get(key)
            if found is None:
                merged[key] = Sample(minute, resolution, status, count, total, list(buckets) if buckets else None)
                continue
            summed = _add(found.buckets, buckets)
            merged[key] = Sample(minute, max(resolution, found.resolution), status, found.count + count,
                                 found.total + total, summed)  # fmt: skip
    return sorted(merged.values(), key=lambda s: (s.minute, s.status))


def _add(left: list[float] | None, right: list[float] | None) -> list[float] | None:
    if left is None or right is None:
        return left or (list(right) if right else None)
    if len(left) != len(right):  # bounds changed between releases: keep the newer shape
        return list(right)
    return [a + b for a, b in zip(left, right, strict=True)]


def compact(database: Database, *, before: datetime | None = None) -> int:
    """Fold minute rows older than `before` (default: COMPACT_AFTER ago) into one row per hour
    and series; returns the minute rows folded. Idempotent: run it as often as you like."""
    cutoff = before or utcnow() - COMPACT_AFTER
    cutoff = cutoff.replace(minute=0, second=0, microsecond=0)
    folded = 0
    with database.write() as session:
        rows = session.scalars(
            select(SeriesPointRow).where(SeriesPointRow.resolution == MINUTE, SeriesPointRow.minute < cutoff)
        ).all()
        hours: dict[tuple[str | None, str, str, str, str, datetime], _Point] = {}
        for row in rows:
            hour = row.minute.replace(minute=0, second=0, microsecond=0)
            key = (row.project_id, row.name, row.target, row.variant, row.status, hour)
            point = hours.setdefault(key, _Point(buckets=None))
            point.count += row.count
            point.total += row.total
            point.buckets = _add(point.buckets, row.buckets)
            folded += 1
        for (project_id, name, target, variant, status, hour), point in hours.items():
            session.add(
                SeriesPointRow(
                    project_id=project_id,
                    name=name,
                    target=target,
                    variant=variant,
                    status=status,
                    minute=hour,
                    resolution=HOUR,
                    writer=COMPACTED_WRITER,
                    count=point.count,
                    total=point.total,
                    buckets=point.buckets,
                )  # fmt: skip
            )
        # Nobody writes minutes this old any more, so the same condition deletes exactly `rows`.
        session.execute(
            delete(SeriesPointRow).where(SeriesPointRow.resolution == MINUTE, SeriesPointRow.minute < cutoff)
        )
    return folded


def delete_older_than(database: Database, days: int) -> int:
    """Retention: drop series rows older than `days`."""
    with database.write() as session:
        result = session.execute(delete(SeriesPointRow).where(SeriesPointRow.minute < utcnow() - timedelta(days=days)))
        return int(result.rowcount or 0)  # type: ignore[attr-defined]
