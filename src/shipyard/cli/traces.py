"""`shipyard traces`: what ask and chat calls did — answers, models, tokens, cost, timings."""

from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import emit, errors_as_messages, print_table
from shipyard.schemas.traces import TraceDetail, TracePublic

app = typer.Typer(help="Traces of ask and chat calls, with their feedback.", no_args_is_help=True)


@app.command("list")
def list_(
    collection: str | None = typer.Option(None, "--collection", "-c"),
    status: str | None = typer.Option(None, "--status", help="ok, no_answer, truncated or error."),
    kind: str | None = typer.Option(None, "--kind", help="ask or chat."),
    limit: int = typer.Option(20, "--limit", min=1, max=500),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """The newest traces of a project."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id
        page = services.traces.find(project_id, collection=collection, status=status, kind=kind, limit=limit)
        summaries = services.traces.feedback_summaries(project_id, [t.id for t in page.items])
    rows = [TracePublic.of(t, summaries.get(t.id)) for t in page.items]
    columns = ["id", "started_at", "kind", "status", "collection", "model", "duration_ms", "cost", "question"]
    emit(rows, as_json, lambda: print_table(rows, columns))


@app.command("show")
def show(trace_id: str = typer.Argument(...), project: str = PROJECT, as_json: bool = JSON) -> None:
    """One trace with its spans and feedback."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id
        trace = services.traces.get(project_id, trace_id)
        feedback, summary = services.traces.feedback(project_id, trace_id)
    data = TraceDetail.with_feedback(trace, summary, feedback)

    def human() -> None:
        typer.echo(f"{trace.id}  {trace.kind}  {trace.status}  {trace.model or '-'}  {trace.duration_ms:.1f} ms")
        typer.echo(f"question: {trace.question}")
        typer.echo(f"answer:   {trace.answer}")
        typer.echo(f"tokens:   {trace.input_tokens} in, {trace.output_tokens} out; cost {trace.cost:.6f}")
        for span in trace.details.get("spans", []):
            typer.echo(f"  {span['name']:<10} {span['start_ms']:>8.1f} ms  +{span['duration_ms']:.1f} ms")
        if summary.count:
            typer.echo(f"feedback: {summary.count}, mean score {summary.mean_score:.2f}")

    emit(data, as_json, human)
