"""`shipyard ask`: a question about a collection, answered with numbered sources."""

from __future__ import annotations

import asyncio

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import errors_as_messages, print_json
from shipyard.ids import ProjectId
from shipyard.platform import Platform
from shipyard.rag import Answer, AskRequest
from shipyard.schemas.rag import AskResponse


def ask(
    question: str = typer.Argument(..., help="The question."),
    collection: str = typer.Option(..., "--collection", "-c", help="Collection to answer from."),
    top_k: int | None = typer.Option(None, "-k", "--top-k", help="Passages to retrieve (default 6)."),
    model: str | None = typer.Option(None, "--model", help="A gateway model or `extractive`."),
    prompt: str | None = typer.Option(None, "--prompt", help="NAME[@VERSION|@LABEL] (default rag-answer@production)."),
    stream: bool = typer.Option(False, "--stream", help="Print the answer as it is generated."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Answer a question from a collection, citing its sources."""
    with errors_as_messages(), cli_services() as services:
        project_id = ProjectId(services.access.get_project(project).id)
        request = AskRequest.of(collection=collection, question=question, top_k=top_k, model=model, prompt=prompt)
        answer = asyncio.run(_answer(services, project_id, request, stream and not as_json))
    if as_json:
        print_json(AskResponse.of(answer).model_dump(mode="json"))
        return
    if not stream:
        typer.echo(answer.answer)
    if answer.citations:
        typer.echo("\nSources:")
        for passage in answer.citations:
            where = f" — {passage.source}" if passage.source else ""
            start, end = passage.span
            typer.echo(f"[{passage.index}] {passage.title or passage.document_id}{where} (chars {start}–{end})")


async def _answer(services: Platform, project_id: ProjectId, request: AskRequest, stream: bool) -> Answer:
    try:
        if not stream:
            return await services.rag.ask(project_id, request)
        final: Answer | None = None
        async for item in services.rag.ask_stream(project_id, request):
            if isinstance(item, Answer):
                final = item
            else:
                typer.echo(item, nl=False)
        typer.echo()
        assert final is not None
        return final
    finally:
        await services.aclose()  # the LLM clients' pools belong to this loop
