from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT, PROJECT_FILTER
from shipyard.cli.output import emit, errors_as_messages, jsonable, print_json, print_table
from shipyard.jobs import Job, JobStatus
from shipyard.schemas.jobs import JobPublic

app = typer.Typer(help="Background jobs: list, inspect, run a worker.", no_args_is_help=True)


@app.command("list")
def list_(
    project: str | None = PROJECT_FILTER,
    status: JobStatus | None = typer.Option(None, "--status"),
    kind: str | None = typer.Option(None, "--kind"),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    cursor: str | None = typer.Option(None, "--cursor", help="Continue from a listing's next_cursor."),
    as_json: bool = JSON,
) -> None:
    """List jobs, newest first."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id if project else None
        page = services.jobs.list(project_id, status=status, kind=kind, limit=limit, cursor=cursor)
    columns = ["id", "kind", "status", "attempts", "progress", "created_at", "error"]
    rows = [{**jsonable(job), "progress": _progress(job)} for job in page.items]
    data = [JobPublic.model_validate(job) for job in page.items]
    emit({"data": data, "next_cursor": page.next_cursor}, as_json, lambda: print_table(rows, columns))


def _progress(job: Job) -> str:
    total = "?" if job.progress_total is None else str(job.progress_total)
    return f"{job.progress_done}/{total}"


@app.command("show")
def show(
    job_id: str = typer.Argument(...),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Show one job with its progress, result or error."""
    with errors_as_messages(), cli_services() as services:
        job = services.jobs.get(services.access.get_project(project).id, job_id)
    public = JobPublic.model_validate(job)
    emit(public, as_json, lambda: print_json(public))
