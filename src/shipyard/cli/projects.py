from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON
from shipyard.cli.output import emit, errors_as_messages, print_table
from shipyard.schemas.access import ProjectPublic

app = typer.Typer(help="Projects (tenants): every owned object belongs to one.", no_args_is_help=True)


@app.command("create")
def create(name: str = typer.Argument(..., help="lowercase letters, digits, - and _"), as_json: bool = JSON) -> None:
    """Create a project."""
    with errors_as_messages(), cli_services() as services:
        project = services.access.create_project(name)
    emit(
        ProjectPublic.model_validate(project),
        as_json,
        lambda: typer.echo(f"created project {project.name} ({project.id})"),
    )


@app.command("list")
def list_(as_json: bool = JSON) -> None:
    """List projects."""
    with errors_as_messages(), cli_services() as services:
        projects = services.access.list_projects()
    emit(
        [ProjectPublic.model_validate(p) for p in projects],
        as_json,
        lambda: print_table(projects, ["id", "name", "created_at"]),
    )
