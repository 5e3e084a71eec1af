"""Services for CLI commands, built from the configured store."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from shipyard.errors import ShipyardError
from shipyard.services import Services, build_services
from shipyard.settings import Settings, get_settings
from shipyard.store import migration_state, upgrade


class SchemaOutdated(ShipyardError):
    code, http_status = "schema_outdated", 503


def prepare_store(services: Services) -> None:
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
def cli_services(settings: Settings | None = None, *, migrate: bool = True) -> Iterator[Services]:
    """Services on the configured store; call inside `errors_as_messages()`."""
    services = build_services(settings or get_settings())
    try:
        if migrate:
            prepare_store(services)
        yield services
        services.request_log.writer.flush_now()
        services.traces.writer.flush_now()
        services.predictions.writer.flush_now()
        services.webhooks.close()
        if services.otlp is not None:
            services.otlp.close()
    finally:
        services.search.indexes.close()
        services.database.dispose()
