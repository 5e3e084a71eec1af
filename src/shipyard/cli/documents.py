from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.output import emit, errors_as_messages, print_table
from shipyard.paging import MAX_PAGE_SIZE

app = typer.Typer(help="Documents of a collection: list them, delete one.", no_args_is_help=True)
JSON = typer.Option(False, "--json", help="Machine-readable output on stdout.")
PROJECT = typer.Option("default", "--project", help="Project name.")
COLLECTION = typer.Option(..., "--collection", "-c", help="Collection name.")


@app.command("list")
def list_(
    collection: str = COLLECTION,
    limit: int = typer.Option(50, "--limit", help=f"Documents per page (1-{MAX_PAGE_SIZE})."),
    cursor: str | None = typer.Option(None, "--cursor", help="Continue after this document id."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """List documents by id, with their chunk counts."""
    with errors_as_messages(), cli_services() as services:
        target = services.collections.get(services.access.get_project(project).id, collection)
        page = services.documents.list(target, limit=limit, after=cursor)
    rows = [
        {"id": d.external_id, "title": d.title, "chunks": d.chunk_count, "chars": d.chars, "updated_at": d.updated_at}
        for d in page.items
    ]
    emit(
        {"data": rows, "next_cursor": page.next_cursor},
        as_json,
        lambda: print_table(rows, ["id", "title", "chunks", "chars", "updated_at"]),
    )


@app.command("delete")
def delete(
    document_id: str = typer.Argument(..., help="The document's id."),
    collection: str = COLLECTION,
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Delete a document with all its chunks and vectors."""
    with errors_as_messages(), cli_services() as services:
        target = services.collections.get(services.access.get_project(project).id, collection)
        document = services.documents.delete(target, document_id)
    emit(
        {"id": document.external_id, "chunks": document.chunk_count},
        as_json,
        lambda: typer.echo(f"deleted {document.external_id} ({document.chunk_count} chunks)"),
    )
