from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON
from shipyard.cli.output import emit, errors_as_messages
from shipyard.store import migration_state, upgrade

app = typer.Typer(help="The metadata store: migrations.", no_args_is_help=True)


@app.command("upgrade")
def upgrade_(as_json: bool = JSON) -> None:
    """Apply every pending migration (safe to run again)."""
    with errors_as_messages(), cli_services(migrate=False) as services:
        before = migration_state(services.database)
        after = upgrade(services.database)
        url = services.database.printable_url
    result = {"from": before.current, "to": after.current, "database": url}
    emit(result, as_json, lambda: typer.echo(f"{url}: schema {before.current or 'empty'} → {after.current}"))


@app.command("current")
def current(as_json: bool = JSON) -> None:
    """Show the schema revision of the store and whether it is up to date."""
    with errors_as_messages(), cli_services(migrate=False) as services:
        state = migration_state(services.database)
    result = {"current": state.current, "head": state.head, "up_to_date": state.is_current}
    emit(result, as_json, lambda: typer.echo(f"schema {state.current or 'empty'} (newest {state.head})"))
