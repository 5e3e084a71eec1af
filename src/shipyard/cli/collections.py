from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import emit, errors_as_messages, print_table
from shipyard.knowledge import ChunkingConfig
from shipyard.schemas.collections import CollectionPublic

app = typer.Typer(help="Collections: named sets of documents with their chunking and embedder.", no_args_is_help=True)


@app.command("create")
def create(
    name: str = typer.Argument(..., help="lowercase letters, digits, - and _"),
    description: str | None = typer.Option(None, "--description"),
    max_tokens: int = typer.Option(ChunkingConfig.max_tokens, "--max-tokens", help="Largest chunk in tokens."),
    overlap_tokens: int = typer.Option(
        ChunkingConfig.overlap_tokens, "--overlap-tokens", help="Tokens shared by consecutive chunks."
    ),
    embedder: str | None = typer.Option(None, "--embedder", help="Embedder URL (default SHIPYARD_EMBEDDER_URL)."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Create a collection."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id
        chunking = ChunkingConfig(max_tokens=max_tokens, overlap_tokens=overlap_tokens)
        collection = services.collections.create(
            project_id, name, description=description, chunking=chunking, embedder=embedder
        )
    emit(
        CollectionPublic.of(collection),
        as_json,
        lambda: typer.echo(f"created collection {collection.name} ({collection.id})"),
    )


@app.command("list")
def list_(project: str = PROJECT, as_json: bool = JSON) -> None:
    """List the collections of a project."""
    with errors_as_messages(), cli_services() as services:
        collections = services.collections.list(services.access.get_project(project).id)
    public = [CollectionPublic.of(c) for c in collections]
    rows = [{**c.model_dump(), "max_tokens": c.chunking.max_tokens} for c in public]
    emit(public, as_json, lambda: print_table(rows, ["name", "embedder", "dimension", "max_tokens", "created_at"]))


@app.command("delete")
def delete(name: str = typer.Argument(...), project: str = PROJECT, as_json: bool = JSON) -> None:
    """Delete a collection."""
    with errors_as_messages(), cli_services() as services:
        collection = services.collections.delete(services.access.get_project(project).id, name)
    emit(CollectionPublic.of(collection), as_json, lambda: typer.echo(f"deleted collection {collection.name}"))
