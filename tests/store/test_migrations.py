"""Migrations: the same schema on SQLite and PostgreSQL, and no drift from the models."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command

from shipyard.store import create_database, migration_state, upgrade
from shipyard.store.migrate import alembic_config
from tests.conftest import postgres_schema

# Type classes that are the same column type spelled per dialect: SQLite's INTEGER and REAL
# are 8 bytes wide, like PostgreSQL's BIGINT and DOUBLE PRECISION.
_SAME_TYPE = {"DATETIME": "DateTime", "TIMESTAMP": "DateTime", "BIGINTEGER": "Integer", "DOUBLE": "Float"}


def _schema(url: str) -> dict[str, Any]:
    database = create_database(url)
    try:
        inspector = sa.inspect(database.engine)
        schema: dict[str, Any] = {}
        for table in sorted(inspector.get_table_names()):
            columns = {c["name"]: (_type_name(c["type"]), c["nullable"]) for c in inspector.get_columns(table)}
            indexes = sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(table)
                # PostgreSQL also lists the index behind each unique constraint; compared below.
                if "duplicates_constraint" not in i
            )
            uniques = sorted((u["name"], tuple(u["column_names"])) for u in inspector.get_unique_constraints(table))
            fks = sorted(
                (f["name"], tuple(f["constrained_columns"]), f["referred_table"])
                for f in inspector.get_foreign_keys(table)
            )
            pk = inspector.get_pk_constraint(table)
            schema[table] = {
                "columns": columns,
                "indexes": indexes,
                "uniques": uniques,
                "fks": fks,
                "pk": (pk["name"], tuple(pk["constrained_columns"])),
            }
        return schema
    finally:
        database.dispose()


def _type_name(column_type: sa.types.TypeEngine[Any]) -> str:
    generic = type(column_type.as_generic()).__name__
    name = _SAME_TYPE.get(generic.upper(), generic)
    length = getattr(column_type, "length", None)
    return f"{name}({length})" if length else name


def test_schema_is_identical_on_sqlite_and_postgresql(tmp_path: Path) -> None:
    sqlite_url = f"sqlite:///{tmp_path / 'a.db'}"
    upgrade(create_database(sqlite_url))
    with postgres_schema() as pg_url:
        pg_db = create_database(pg_url)
        upgrade(pg_db)
        pg_db.dispose()
        pg_schema = _schema(pg_url)
    sqlite_schema = _schema(sqlite_url)
    assert set(sqlite_schema) == {
        "alembic_version",
        "alert_notifiers",
        "alert_rules",
        "alert_silences",
        "alerts",
        "api_keys",
        "audit_events",
        "budgets",
        "chunks",
        "collections",
        "deployments",
        "documents",
        "feedback",
        "ingest_items",
        "jobs",
        "leases",
        "llm_usage",
        "model_approvals",
        "monitor_results",
        "monitors",
        "predictions",
        "projects",
        "prompt_labels",
        "prompt_versions",
        "prompts",
        "request_log",
        "series_points",
        "traces",
        "webhooks",
    }
    # SQLite reports the PK constraint without a name; everything else must match exactly.
    for table in sqlite_schema.values():
        table["pk"] = table["pk"][1]
    for table in pg_schema.values():
        table["pk"] = table["pk"][1]
    assert sqlite_schema == pg_schema


def test_models_match_migrations_and_upgrade_is_idempotent(database_url: str) -> None:
    database = create_database(database_url)
    try:
        assert not migration_state(database).is_current
        state = upgrade(database)
        assert state.is_current and state.current == state.head
        assert upgrade(database) == state  # running again changes nothing
        command.check(alembic_config(database))  # raises if models and migrations disagree
    finally:
        database.dispose()


def test_failed_migration_says_where_the_database_is(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'broken.db'}"
    database = create_database(url)
    with database.engine.begin() as connection:  # a table in the way of the first migration
        connection.execute(sa.text("CREATE TABLE projects (id TEXT)"))
    with pytest.raises(Exception) as failure:
        upgrade(database)
    message = str(failure.value)
    assert "The database is now at revision none" in message
    assert "shipyard db upgrade" in message
    database.dispose()
