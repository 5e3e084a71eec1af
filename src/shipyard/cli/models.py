"""`shipyard models`: train, list, versions, aliases, approvals (the registry, MLflow underneath)."""

from __future__ import annotations

import getpass
import os
import subprocess
import sys
from pathlib import Path

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import emit, errors_as_messages, fail, jsonable, print_table
from shipyard.models import ModelVersion
from shipyard.schemas.registry import ModelVersionPublic, RegisteredModelPublic

app = typer.Typer(help="Model registry: versions, aliases and approvals (MLflow underneath).", no_args_is_help=True)


def actor() -> str:
    """Who the audit log says did it, for changes made from the command line."""
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


@app.command("train", context_settings={"allow_extra_args": True, "ignore_unknown_options": True})
def train(
    ctx: typer.Context,
    script: Path = typer.Argument(..., exists=True, dir_okay=False, help="A training script (examples/bike.py)."),
    project: str = PROJECT,
) -> None:
    """Run a training script in this project (extra arguments go to the script); it logs to MLflow
    and registers a new version through `shipyard.models.training`."""
    environment = {**os.environ, "SHIPYARD_PROJECT": project}
    completed = subprocess.run([sys.executable, str(script), *ctx.args], env=environment, check=False)
    if completed.returncode != 0:
        fail(f"{script} exited with status {completed.returncode}", completed.returncode)


@app.command("list")
def list_(project: str = PROJECT, as_json: bool = JSON) -> None:
    """Registered models with their newest version and aliases."""
    with errors_as_messages(), cli_services() as services:
        models = services.registry.models(services.access.get_project(project).id)
    rows = [{**jsonable(m), "aliases": ", ".join(f"{a}→{v}" for a, v in sorted(m.aliases.items()))} for m in models]
    emit(
        [RegisteredModelPublic.of(m) for m in models],
        as_json,
        lambda: print_table(rows, ["name", "latest_version", "aliases", "updated_at"]),
    )


@app.command("versions")
def versions(name: str = typer.Argument(..., help="Model name."), project: str = PROJECT, as_json: bool = JSON) -> None:
    """Every version, newest first, with metrics, aliases and approval."""
    with errors_as_messages(), cli_services() as services:
        found = services.registry.versions(services.access.get_project(project).id, name)
    emit(
        [ModelVersionPublic.of(v) for v in found],
        as_json,
        lambda: print_table([_row(v) for v in found], ["version", "aliases", "approval", "metrics", "created_at"]),
    )


@app.command("alias")
def alias(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version number."),
    alias_name: str = typer.Argument(..., metavar="ALIAS", help="Alias to set or move, e.g. champion."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Point ALIAS at VERSION; deployments serving the alias switch to it within seconds."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id
        found = services.registry.set_alias(project_id, name, alias_name, version, by=actor())
    emit(ModelVersionPublic.of(found), as_json, lambda: typer.echo(f"{name}@{alias_name} → version {version}"))


@app.command("approve")
def approve(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version number."),
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded in the audit log)."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Approve VERSION for production traffic."""
    with errors_as_messages(), cli_services() as services:
        found = services.registry.approve(
            services.access.get_project(project).id, name, version, by=actor(), reason=reason
        )
    emit(ModelVersionPublic.of(found), as_json, lambda: typer.echo(f"approved {name} version {version}"))


@app.command("reject")
def reject(
    name: str = typer.Argument(..., help="Model name."),
    version: int = typer.Argument(..., help="Version number."),
    reason: str = typer.Option(..., "--reason", help="Why (required; recorded in the audit log)."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Reject VERSION: it may not take production traffic."""
    with errors_as_messages(), cli_services() as services:
        found = services.registry.reject(
            services.access.get_project(project).id, name, version, by=actor(), reason=reason
        )
    emit(ModelVersionPublic.of(found), as_json, lambda: typer.echo(f"rejected {name} version {version}: {reason}"))


def _row(version: ModelVersion) -> dict[str, object]:
    metrics = ", ".join(f"{k} {v:.4g}" for k, v in sorted(version.metrics.items()))
    return {
        "version": version.version,
        "aliases": ", ".join(version.aliases),
        "approval": version.approval.state,
        "metrics": metrics,
        "created_at": version.created_at,
    }
