from __future__ import annotations

import typer

from shipyard.auth import Role
from shipyard.auth.service import MAX_RATE_LIMIT, KeySpec
from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT, PROJECT_FILTER
from shipyard.cli.output import emit, err_console, errors_as_messages, print_table
from shipyard.schemas.access import KeyCreated, KeyPublic

app = typer.Typer(help="API keys: a key belongs to a project and has a role.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Option(..., "--name", help="What the key is for, e.g. ci or grafana."),
    role: Role = typer.Option(..., "--role", help="admin, editor or viewer."),
    project: str = PROJECT,
    rate_limit: int | None = typer.Option(
        None, "--rate-limit", help=f"Requests per minute, 1-{MAX_RATE_LIMIT} (overrides the default)."
    ),
    as_json: bool = JSON,
) -> None:
    """Create a key and print it once: only its hash is stored."""
    with errors_as_messages(), cli_services() as services:
        spec = KeySpec.of(name=name, role=role, project=project, rate_limit_per_minute=rate_limit)
        created = services.access.add_key(spec)
    if as_json:
        emit(KeyCreated.of(created), True, lambda: None)
        return
    typer.echo(created.secret)
    err_console.print(
        f"created {created.key.role.value} key {created.key.id} in project {created.key.project}; "
        "store it now, it is not shown again",
        highlight=False,
    )


@app.command("list")
def list_(
    project: str | None = PROJECT_FILTER,
    include_revoked: bool = typer.Option(False, "--include-revoked"),
    as_json: bool = JSON,
) -> None:
    """List keys (never their secrets)."""
    with errors_as_messages(), cli_services() as services:
        keys = services.access.list_keys(project, include_revoked=include_revoked)
    emit(
        [KeyPublic.model_validate(k) for k in keys],
        as_json,
        lambda: print_table(keys, ["id", "name", "role", "project", "prefix", "created_at", "revoked_at"]),
    )


@app.command("revoke")
def revoke(key_id: str = typer.Argument(...), as_json: bool = JSON) -> None:
    """Revoke a key (takes effect within SHIPYARD_AUTH_CACHE_SECONDS on running servers)."""
    with errors_as_messages(), cli_services() as services:
        key = services.access.revoke_key(key_id)
    emit(KeyPublic.model_validate(key), as_json, lambda: typer.echo(f"revoked {key.id} ({key.name})"))
