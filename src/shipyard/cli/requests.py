from __future__ import annotations

import typer
from rich.progress import Progress, SpinnerColumn, TextColumn

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT_FILTER
from shipyard.cli.output import console, emit, errors_as_messages, print_table
from shipyard.schemas.requestlog import RequestPublic

app = typer.Typer(help="The request log: every API call.", no_args_is_help=True)


@app.command("list")
def list_(
    project: str | None = PROJECT_FILTER,
    status: int | None = typer.Option(None, "--status", help="Exact status code."),
    route: str | None = typer.Option(None, "--route", help="Route template, e.g. /v1/me."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    cursor: str | None = typer.Option(None, "--cursor", help="Continue from a listing's next_cursor."),
    as_json: bool = JSON,
) -> None:
    """List logged API calls, newest first."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id if project else None
        page = services.request_log.list(project_id, status=status, route=route, limit=limit, cursor=cursor)
    columns = ["id", "ts", "method", "route", "status", "latency_ms", "key_id", "trace_id", "error_code"]
    emit(
        {"data": [RequestPublic.model_validate(r) for r in page.items], "next_cursor": page.next_cursor},
        as_json,
        lambda: print_table(page.items, columns),
    )


@app.command("cleanup")
def cleanup(
    days: int | None = typer.Option(None, "--days", min=1, help="Default: SHIPYARD_REQUEST_LOG_RETENTION_DAYS."),
    as_json: bool = JSON,
) -> None:
    """Delete request-log rows older than the retention period now."""
    with errors_as_messages(), cli_services() as services:
        retention = days or services.settings.request_log.retention_days
        with Progress(SpinnerColumn(), TextColumn("{task.description}"), console=console, transient=True) as bar:
            task = bar.add_task(f"deleting rows older than {retention} days", total=None)
            deleted = services.request_log.delete_older_than(
                retention, progress=lambda n: bar.update(task, description=f"deleted {n} rows")
            )
    emit(
        {"deleted": deleted, "retention_days": retention},
        as_json,
        lambda: typer.echo(f"deleted {deleted} rows"),
    )
