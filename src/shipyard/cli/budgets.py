"""`shipyard budgets`: per-project LLM budgets (tokens and/or cost per day or month)."""

from __future__ import annotations

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import emit, errors_as_messages, print_table
from shipyard.ids import ProjectId
from shipyard.llm.budgets import BudgetSpec
from shipyard.schemas.budgets import BudgetPublic

app = typer.Typer(help="LLM budgets per project: over budget, LLM calls get 429 until the period resets.",
                  no_args_is_help=True)  # fmt: skip


@app.command("set")
def set_(
    project: str = typer.Argument(...),
    period: str = typer.Argument(..., help="day or month (UTC)."),
    max_tokens: int | None = typer.Option(None, "--max-tokens", help="Input + output tokens per period."),
    max_cost: float | None = typer.Option(None, "--max-cost", help="Cost per period (the price table's currency)."),
    as_json: bool = JSON,
) -> None:
    """Create or change a project's budget for a period."""
    with errors_as_messages(), cli_services() as services:
        project_id = ProjectId(services.access.get_project(project).id)
        spec = BudgetSpec.of(max_tokens=max_tokens, max_cost=max_cost)
        budget = services.budgets.set(project_id, period, spec)
    public = BudgetPublic.of(budget)
    emit(public, as_json, lambda: typer.echo(f"{project}: {_describe(public)}"))


@app.command("list")
def list_(project: str = PROJECT, as_json: bool = JSON) -> None:
    """A project's budgets and what the current periods have used."""
    with errors_as_messages(), cli_services() as services:
        budgets = services.budgets.budgets(ProjectId(services.access.get_project(project).id))
    rows = [BudgetPublic.of(b) for b in budgets]
    columns = ["period", "max_tokens", "used_tokens", "max_cost", "used_cost", "resets_at"]
    emit(rows, as_json, lambda: print_table(rows, columns))


@app.command("delete")
def delete(project: str = typer.Argument(...), period: str = typer.Argument(...)) -> None:
    """Remove a project's budget for a period."""
    with errors_as_messages(), cli_services() as services:
        services.budgets.delete(ProjectId(services.access.get_project(project).id), period)
    typer.echo(f"deleted the {period} budget of {project}")


def _describe(budget: BudgetPublic) -> str:
    limits = [f"{budget.max_tokens} tokens" if budget.max_tokens else "",
              f"cost {budget.max_cost}" if budget.max_cost else ""]  # fmt: skip
    return f"{' and '.join(x for x in limits if x)} per {budget.period} (used {budget.used_tokens} tokens)"
