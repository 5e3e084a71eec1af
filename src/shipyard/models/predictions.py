"""Prediction logging: inputs, outputs, version and latency of served predictions, written off
the request path in batches, and ground-truth labels joined to them later by prediction id.

Monitoring (drift, performance) reads these rows. Each deployment samples at its own rate;
failed predictions are always logged, so every error a client saw can be found by its id.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import TYPE_CHECKING, Any, cast

from sqlalchemy import Table, select, update

from shipyard.errors import InvalidInput
from shipyard.ids import ProjectId
from shipyard.paging import Page, check_limit, id_cursors, page_of
from shipyard.store import Database, PredictionRow
from shipyard.store.bulk import BulkInserter
from shipyard.store.types import utcnow
from shipyard.telemetry.batching import BatchWriter

if TYPE_CHECKING:
    import pandas as pd

MAX_LABELS_PER_CALL = 10_000
# The model's output as a column of a window's frame (and of the reference data logged at training).
PREDICTION_COLUMN = "prediction"
# Shadow predictions repeat the inputs of served ones: a window leaves them out unless asked.
SERVED_ROLES = ("champion", "canary", "pinned")
_CURSORS = id_cursors("prd")


@dataclass(frozen=True)
class PredictionRecord:
    id: str
    project_id: str
    deployment: str
    model: str
    version: int
    role: str  # champion | canary | shadow | pinned (a version the request named)
    at: datetime
    latency_ms: float
    status: str  # ok | error
    inputs: dict[str, list[Any]]
    outputs: list[Any] | None
    error: str | None
    label: Any = None
    labelled_at: datetime | None = None


_COLUMNS = [f.name for f in fields(PredictionRecord)]


class PredictionLog:
    def __init__(self, database: Database, *, max_queue: int = 10_000, flush_seconds: float = 0.1) -> None:
        self._db = database
        self._inserter = BulkInserter(database, cast(Table, PredictionRow.__table__), _COLUMNS)
        self.writer: BatchWriter[PredictionRecord] = BatchWriter(
            "predictions", self._insert, max_queue=max_queue, max_batch=500, interval=flush_seconds
        )

    def record(self, prediction: PredictionRecord) -> None:
        """O(1), never raises; dropped (and counted) only when the queue is full."""
        self.writer.put(prediction)

    def find(
        self,
        project_id: ProjectId,
        deployment: str,
        *,
        version: int | None = None,
        role: str | None = None,
        since: datetime | None = None,
        labelled: bool | None = None,
        limit: int = 100,
        cursor: str | None = None,
    ) -> Page[PredictionRecord]:
        """Newest first."""
        self.writer.flush_now()
        query = select(PredictionRow).where(
            PredictionRow.project_id == project_id, PredictionRow.deployment == deployment
        )
        if version is not None:
            query = query.where(PredictionRow.version == version)
        if role is not None:
            query = query.where(PredictionRow.role == role)
        if since is not None:
            query = query.where(PredictionRow.at >= since)
        if labelled is not None:
            query = query.where(
                PredictionRow.labelled_at.is_not(None) if labelled else PredictionRow.labelled_at.is_(None)
            )
        if cursor is not None:
            query = query.where(PredictionRow.id < _CURSORS.check(cursor))
        limit = check_limit(limit)
        with self._db.read() as session:
            rows = session.scalars(query.order_by(PredictionRow.id.desc()).limit(limit + 1)).all()
            return page_of(rows, limit, _record, lambda p: p.id)

    def window(
        self,
        project_id: ProjectId,
        deployment: str,
        *,
        since: datetime,
        until: datetime | None = None,
        role: str | None = None,
        max_rows: int = 100_000,
    ) -> pd.DataFrame:
        """The inputs of successful predictions logged in [since, until), one row per input row,
        plus the model's output as `prediction` when it is one value per row; newest first, at
        most `max_rows` rows. Served traffic only (no shadow calls) unless `role` names one."""
        import pandas as pd

        self.writer.flush_now()
        query = select(PredictionRow.inputs, PredictionRow.outputs).where(
            PredictionRow.project_id == project_id,
            PredictionRow.deployment == deployment,
            PredictionRow.status == "ok",
            PredictionRow.at >= since,
        )
        if until is not None:
            query = query.where(PredictionRow.at < until)
        query = query.where(PredictionRow.role == role if role else PredictionRow.role.in_(SERVED_ROLES))
        # Columns are gathered as lists (one DataFrame per logged request would cost ~0.1 ms each:
        # seconds for an hour of single-row traffic); a column a request lacked is None there.
        data: dict[str, list[Any]] = {}
        rows = 0
        with self._db.read() as session:
            ordered = query.order_by(PredictionRow.id.desc()).execution_options(yield_per=1000)
            result = session.execute(ordered)
            try:  # stopping early must close PostgreSQL's server-side cursor
                for inputs, outputs in result:
                    width = len(next(iter(inputs.values()))) if inputs else 0
                    if width == 0:
                        continue
                    if _one_value_per_row(outputs, width) and PREDICTION_COLUMN not in inputs:
                        inputs = {**inputs, PREDICTION_COLUMN: outputs}
                    for name, values in inputs.items():
                        data.setdefault(name, [None] * rows).extend(values)
                    rows += width
                    for column in data.values():
                        if len(column) < rows:
                            column.extend([None] * (rows - len(column)))
                    if rows >= max_rows:
                        break
            finally:
                result.close()
        return pd.DataFrame(data).iloc[:max_rows]

    def add_labels(self, project_id: ProjectId, deployment: str, labels: Sequence[tuple[str, Any]]) -> list[str]:
        """Attach ground truth to logged predictions; returns the ids that were not found."""
        if not 1 <= len(labels) <= MAX_LABELS_PER_CALL:
            raise InvalidInput(f"give 1 to {MAX_LABELS_PER_CALL:,} labels per call, got {len(labels):,}")
        self.writer.flush_now()
        missing = []
        now = utcnow()
        with self._db.write() as session:
            for prediction_id, label in labels:
                result = session.execute(
                    update(PredictionRow)
                    .where(
                        PredictionRow.project_id == project_id,
                        PredictionRow.deployment == deployment,
                        PredictionRow.id == prediction_id,
                    )
                    .values(label=label, labelled_at=now)
                )
                if result.rowcount == 0:  # type: ignore[attr-defined]
                    missing.append(prediction_id)
        return missing

    def _insert(self, records: Sequence[PredictionRecord]) -> None:
        self._inserter.insert([tuple(getattr(r, name) for name in _COLUMNS) for r in records])


def _one_value_per_row(outputs: Any, rows: int) -> bool:
    return isinstance(outputs, list) and len(outputs) == rows and all(not isinstance(o, (list, dict)) for o in outputs)


def _record(row: PredictionRow) -> PredictionRecord:
    return PredictionRecord(**{name: getattr(row, name) for name in _COLUMNS})
