from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import emit, errors_as_messages, print_table
from shipyard.paging import MAX_PAGE_SIZE
from shipyard.schemas.documents import DocumentPublic

app = typer.Typer(help="Documents of a collection: list them, delete one.", no_args_is_help=True)
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
    data = [DocumentPublic.of(d) for d in page.items]
    emit(
        {"data": data, "next_cursor": page.next_cursor},
        as_json,
        lambda: print_table(data, ["id", "title", "chunk_count", "chars", "updated_at"]),
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
        DocumentPublic.of(document),
        as_json,
        lambda: typer.echo(f"deleted {document.external_id} ({document.chunk_count} chunks)"),
    )
