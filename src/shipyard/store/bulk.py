"""Append-only bulk inserts for telemetry tables: multi-row INSERT statements.

Two costs made the request log lose rows under load, both measured with bench/api_overhead.py
at ~10k requests/s on one core:
- SQLAlchemy's executemany path (Core or ORM) spends ~26 µs a row in Python;
- executemany, even at driver level, releases and re-takes the GIL once per row (SQLite steps
  each row separately). A writer thread competing with a busy event loop then waits for the
  GIL at every row and fell behind, dropping ~45 % of rows.
So rows go through each column's own bind processor once (values are stored exactly as
SQLAlchemy would store them) and are written `ROWS_PER_STATEMENT` at a time in a single
`INSERT … VALUES (…), (…), …`: one driver call, one GIL hand-off per chunk.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any, cast

from sqlalchemy import JSON, Table

from shipyard.store.database import Database

_PLACEHOLDER = {"qmark": "?", "format": "%s", "pyformat": "%s"}
# 500 rows × ~11 columns stays far below SQLite's (32,766) and PostgreSQL's (65,535) limits on
# parameters per statement.
ROWS_PER_STATEMENT = 500


class BulkInserter:
    """Insert rows given as tuples in the order of `columns`."""

    def __init__(self, database: Database, table: Table, columns: Sequence[str]) -> None:
        dialect = database.engine.dialect
        if dialect.paramstyle not in _PLACEHOLDER:
            raise NotImplementedError(f"paramstyle {dialect.paramstyle} is not supported")
        self._db = database
        placeholder = _PLACEHOLDER[dialect.paramstyle]
        self._prefix = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES "
        self._row_sql = "(" + ", ".join(placeholder for _ in columns) + ")"
        self._statements: dict[int, str] = {}
        processors = [_processor(table.c[name].type, dialect) for name in columns]
        self._processors: list[tuple[int, Callable[[Any], Any]]] = [
            (index, processor) for index, processor in enumerate(processors) if processor is not None
        ]

    def insert(self, rows: Sequence[Sequence[Any]]) -> None:
        """Insert all rows in one transaction."""
        with self._db.write() as session:
            connection = session.connection()
            for start in range(0, len(rows), ROWS_PER_STATEMENT):
                chunk = rows[start : start + ROWS_PER_STATEMENT]
                connection.exec_driver_sql(self._statement(len(chunk)), self._flatten(chunk))

    def _statement(self, row_count: int) -> str:
        sql = self._statements.get(row_count)
        if sql is None:
            sql = self._statements[row_count] = self._prefix + ", ".join([self._row_sql] * row_count)
        return sql

    def _flatten(self, rows: Sequence[Sequence[Any]]) -> tuple[Any, ...]:
        params: list[Any] = []
        processors = self._processors
        for row in rows:
            values = list(row)
            for index, processor in processors:
                if values[index] is not None:
                    values[index] = processor(values[index])
            params.extend(values)
        return tuple(params)


def _processor(column_type: Any, dialect: Any) -> Callable[[Any], Any] | None:
    """The column type's own bind processor. psycopg's dialect has none for JSON (it adapts values
    in its own statement path, which raw driver SQL skips), so JSON is serialised here: a JSON
    string reaching PostgreSQL as an untyped literal is cast to the column's json type."""
    processor = column_type.bind_processor(dialect)
    if processor is None and isinstance(column_type, JSON):
        return json.dumps
    return cast(Callable[[Any], Any] | None, processor)
