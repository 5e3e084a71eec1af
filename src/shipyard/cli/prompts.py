"""`shipyard prompts`: push prompt files, list and show versions, move labels, diff."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import emit, errors_as_messages, jsonable, print_table
from shipyard.prompts import PromptVersion, parse_ref, parse_spec
from shipyard.schemas.prompts import PromptSummaryPublic, PromptVersionPublic
from shipyard.yamlfile import load_yaml

app = typer.Typer(help="Prompt registry: versioned prompt templates with movable labels.", no_args_is_help=True)


@app.command("push")
def push(
    file: Path = typer.Argument(..., exists=True, dir_okay=False, help="A prompt YAML file (docs/generation.md)."),
    message: str | None = typer.Option(None, "-m", "--message", help="Commit message (overrides the file's)."),
    label: str | None = typer.Option(None, "--label", help="Also point this label at the pushed version."),
    author: str = typer.Option("cli", "--author", help="Recorded as the version's author."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Push a prompt file as a new version (nothing changes if its content is the newest version's)."""
    with errors_as_messages():
        spec = parse_spec(load_yaml(file.read_text(encoding="utf-8"), str(file)), str(file))
        if message:
            spec = spec.model_copy(update={"message": message})
        with cli_services() as services:
            project_id = services.access.get_project(project).id
            version, created = services.prompts.push(project_id, spec, author=author)
            if label:
                version = services.prompts.set_label(project_id, spec.name, label, version.version, by=author)
    verb = "pushed" if created else "unchanged:"
    emit(PromptVersionPublic.of(version), as_json, lambda: typer.echo(f"{verb} {version.ref}{_labels(version)}"))


@app.command("list")
def list_(project: str = PROJECT, as_json: bool = JSON) -> None:
    """List prompts with their newest version and labels."""
    with errors_as_messages(), cli_services() as services:
        summaries = services.prompts.summaries(services.access.get_project(project).id)
    rows = [{**jsonable(s), "labels": ", ".join(f"{k}→{v}" for k, v in sorted(s.labels.items()))} for s in summaries]
    emit(
        [PromptSummaryPublic.of(s) for s in summaries],
        as_json,
        lambda: print_table(rows, ["name", "latest_version", "labels", "updated_at"]),
    )


@app.command("show")
def show(
    ref: str = typer.Argument(..., help="NAME, NAME@VERSION or NAME@LABEL (default: the newest version)."),
    versions: bool = typer.Option(False, "--versions", help="List every version instead."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Show one prompt version (its templates), or list its versions."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id
        if versions:
            found = services.prompts.versions(project_id, parse_ref(ref)[0])
            rows = [PromptVersionPublic.of(v) for v in found]
            emit(
                rows,
                as_json,
                lambda: print_table(rows, ["version", "labels", "author", "commit_message", "created_at"]),
            )
            return
        version = services.prompts.get(project_id, ref)

    def human() -> None:
        typer.echo(f"{version.ref}{_labels(version)}  by {version.author or '-'}: {version.commit_message or ''}")
        typer.echo(version.to_yaml().rstrip())

    emit(PromptVersionPublic.of(version), as_json, human)


@app.command("label")
def label(
    name: str = typer.Argument(...),
    version: int = typer.Argument(..., min=1),
    label_name: str = typer.Argument(..., metavar="LABEL", help="e.g. production, staging"),
    author: str = typer.Option("cli", "--author"),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Point LABEL at VERSION of prompt NAME (promote, or roll back)."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id
        moved = services.prompts.set_label(project_id, name, label_name, version, by=author)
    emit(PromptVersionPublic.of(moved), as_json, lambda: typer.echo(f"{label_name} → {moved.ref}"))


@app.command("diff")
def diff(
    name: str = typer.Argument(...),
    old: str = typer.Argument(..., help="A version number or label."),
    new: str = typer.Argument(..., help="A version number or label."),
    project: str = PROJECT,
) -> None:
    """Unified diff between two versions of a prompt."""
    with errors_as_messages(), cli_services() as services:
        text = services.prompts.diff(services.access.get_project(project).id, name, old, new)
    typer.echo(text.rstrip() or "no differences")


def _labels(version: PromptVersion) -> str:
    return f" [{', '.join(version.labels)}]" if version.labels else ""
