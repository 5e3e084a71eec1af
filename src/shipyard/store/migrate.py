"""Alembic migrations shipped inside the package, run by `shipyard db upgrade` and at start-up."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory

from shipyard.errors import ShipyardError
from shipyard.store.database import Database

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


class MigrationFailed(ShipyardError):
    code, http_status = "migration_failed", 500


@dataclass(frozen=True)
class MigrationState:
    current: str | None
    head: str

    @property
    def is_current(self) -> bool:
        return self.current == self.head


def alembic_config(database: Database) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.attributes["engine"] = database.engine
    return config


@lru_cache(maxsize=1)
def head_revision() -> str:
    """The newest migration shipped with this version (read from disk once: /readyz asks often)."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    head = ScriptDirectory.from_config(config).get_current_head()
    assert head is not None
    return head


def migration_state(database: Database) -> MigrationState:
    """Where the database is versus the newest migration (raises `StoreUnavailable` if unreachable)."""
    head = head_revision()
    with database._translate(), database.engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_revision()
    return MigrationState(current=current, head=head)


def upgrade(database: Database, revision: str = "head") -> MigrationState:
    """Apply migrations up to `revision`; on failure say where the database is and how to recover."""
    before = migration_state(database)
    try:
        command.upgrade(alembic_config(database), revision)
    except Exception as exc:
        after = migration_state(database)
        raise MigrationFailed(
            f"migration from {before.current or 'an empty database'} to {revision} failed: {exc}. "
            f"The database is now at revision {after.current or 'none'} (each migration runs in "
            "its own transaction). Fix the cause, then run `shipyard db upgrade` again."
        ) from exc
    return migration_state(database)
