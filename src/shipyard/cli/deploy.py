"""`shipyard deploy`: serve a registered model's alias; canary, shadow, promote, rollback."""

from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.models import actor
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import emit, errors_as_messages, print_table
from shipyard.models import DEFAULT_ALIAS, Deployment, ServingOptions
from shipyard.models.deployments import CanarySpec
from shipyard.schemas.deployments import DeploymentPublic

app = typer.Typer(
    help="Deployments: serve model aliases with canary, shadow and instant rollback.", no_args_is_help=True
)
COLUMNS = [
    "name",
    "model",
    "alias",
    "version",
    "previous_version",
    "canary_version",
    "canary_percent",
    "shadow_version",
    "updated_at",
]


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Deployment name (used in the serving URLs)."),
    model: str = typer.Option(..., "--model", help="Registered model name."),
    alias: str = typer.Option(DEFAULT_ALIAS, "--alias", help="The alias to serve."),
    max_batch_size: int = typer.Option(
        ServingOptions.max_batch_size, "--max-batch-size", help="Rows per batched model call (1: no batching)."
    ),
    max_wait_ms: float = typer.Option(
        ServingOptions.max_wait_ms, "--max-wait-ms", help="Extra wait to fill a batch (0: none)."
    ),
    log_sample_rate: float = typer.Option(
        ServingOptions.log_sample_rate, "--log-sample-rate", help="Share of predictions logged (0-1)."
    ),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Serve MODEL@ALIAS as NAME (its version must be approved)."""
    options = ServingOptions(max_batch_size, max_wait_ms, log_sample_rate)
    with errors_as_messages(), cli_services() as services:
        found = services.deployments.create(
            services.access.get_project(project).id, name, model, alias=alias, options=options, by=actor()
        )
    _show(found, as_json, f"created {name}: {model}@{alias} (version {found.version})")


@app.command("list")
def list_(project: str = PROJECT, as_json: bool = JSON) -> None:
    with errors_as_messages(), cli_services() as services:
        found = services.deployments.list(services.access.get_project(project).id)
    emit([DeploymentPublic.of(d) for d in found], as_json, lambda: print_table(found, COLUMNS))


@app.command("show")
def show(name: str, project: str = PROJECT, as_json: bool = JSON) -> None:
    with errors_as_messages(), cli_services() as services:
        found = services.deployments.get(services.access.get_project(project).id, name)
    emit(DeploymentPublic.of(found), as_json, lambda: print_table([found], COLUMNS))


@app.command("canary")
def canary(
    name: str,
    version: int = typer.Option(..., "--version", help="The challenger version (approved)."),
    percent: float = typer.Option(..., "--percent", help="Share of traffic it takes (0-100]."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Send PERCENT of NAME's traffic to VERSION."""
    with errors_as_messages(), cli_services() as services:
        spec = CanarySpec.of(version=version, percent=percent)
        found = services.deployments.set_canary(services.access.get_project(project).id, name, spec, by=actor())
    _show(found, as_json, f"{name}: version {version} takes {percent:g} % as canary")


@app.command("shadow")
def shadow(
    name: str,
    version: int = typer.Option(..., "--version", help="The version that gets a copy of every request."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Copy every request of NAME to VERSION; its answers are logged, never returned."""
    with errors_as_messages(), cli_services() as services:
        found = services.deployments.set_shadow(services.access.get_project(project).id, name, version, by=actor())
    _show(found, as_json, f"{name}: version {version} shadows version {found.version}")


@app.command("promote")
def promote(name: str, project: str = PROJECT, as_json: bool = JSON) -> None:
    """Move the alias to the canary (or shadow) version."""
    with errors_as_messages(), cli_services() as services:
        found = services.deployments.promote(services.access.get_project(project).id, name, by=actor())
    _show(found, as_json, f"{name}: promoted version {found.version} (was {found.previous_version})")


@app.command("rollback")
def rollback(
    name: str,
    reason: str | None = typer.Option(None, "--reason", help="Why (recorded in the audit log)."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Drop the canary/shadow; without one, move the alias back to the previous version."""
    with errors_as_messages(), cli_services() as services:
        found = services.deployments.rollback(services.access.get_project(project).id, name, by=actor(), reason=reason)
    _show(found, as_json, f"{name}: rolled back, serving version {found.version}")


@app.command("delete")
def delete(name: str, project: str = PROJECT) -> None:
    with errors_as_messages(), cli_services() as services:
        services.deployments.delete(services.access.get_project(project).id, name, by=actor())
    typer.echo(f"deleted {name}")


def _show(deployment: Deployment, as_json: bool, message: str) -> None:
    emit(DeploymentPublic.of(deployment), as_json, lambda: typer.echo(message))
