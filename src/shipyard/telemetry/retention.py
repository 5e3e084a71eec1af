"""Retention: old telemetry rows deleted in short transactions, so a cleanup never holds a long lock."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select

from shipyard.store import Database

BATCH = 5_000  # rows per transaction


def delete_before(
    database: Database,
    id_column: Any,
    time_column: Any,
    cutoff: datetime,
    *,
    dependents: Sequence[Any] = (),
    progress: Callable[[int], None] | None = None,
) -> int:
    """Delete the rows of `id_column`'s table whose `time_column` is before `cutoff`, together with
    rows of other tables whose `dependents` column points at them; returns how many went."""
    deleted = 0
    while True:
        with database.write() as session:
            ids = list(session.scalars(select(id_column).where(time_column < cutoff).limit(BATCH)))
            if not ids:
                return deleted
            for column in dependents:
                session.execute(delete(column.class_).where(column.in_(ids)))
            session.execute(delete(id_column.class_).where(id_column.in_(ids)))
        deleted += len(ids)
        if progress is not None:
            progress(deleted)
