"""The platform for CLI commands, built from the configured store and run for the command."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shipyard.errors import ShipyardError
from shipyard.platform import Platform, build_platform
from shipyard.settings import Settings, get_settings
from shipyard.store import migration_state, upgrade


class SchemaOutdated(ShipyardError):
    code, http_status = "schema_outdated", 503


def prepare_store(services: Platform) -> None:
    """Embedded SQLite migrates itself; a shared PostgreSQL is migrated on purpose by an operator."""
    state = migration_state(services.database)
    if state.is_current:
        return
    if services.database.dialect == "sqlite":
        upgrade(services.database)
        return
    raise SchemaOutdated(
        f"database schema is at {state.current or 'nothing'}, this version needs {state.head}: "
        "run `shipyard db upgrade`"
    )


@contextmanager
def cli_services(settings: Settings | None = None, *, migrate: bool = True, worker: bool = False) -> Iterator[Platform]:
    """The platform on the configured store, running for the command: what it buffered (request
    log, traces, per-minute series, predictions, webhooks) is written when the block ends. Call
    inside `errors_as_messages()`."""
    platform = build_platform(settings or get_settings())
    try:
        if migrate:
            prepare_store(platform)
    except BaseException:
        platform.close()
        raise
    with platform.running(worker=worker):
        yield platform
