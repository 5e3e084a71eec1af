"""`shipyard monitors`: drift monitors on deployments' logged traffic."""

from __future__ import annotations

from typing import Any

import typer

from shipyard.cli.context import cli_services
from shipyard.cli.models import actor
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import console, emit, errors_as_messages, fail, print_table
from shipyard.errors import InvalidInput
from shipyard.monitoring import ColumnTest, DriftConfig, Monitor, MonitorResult, Reference, format_duration
from shipyard.monitoring import parse_duration as duration
from shipyard.monitoring.drift import EMBEDDING_METHODS, METHODS
from shipyard.monitoring.monitors import DEFAULT_WINDOW_SECONDS
from shipyard.schemas.monitors import MonitorDetail, MonitorPublic, ResultPublic

app = typer.Typer(help="Drift monitors: a deployment's recent traffic against a reference.", no_args_is_help=True)
DRIFT_EXIT_CODE = 3
COLUMNS = ["name", "target", "reference", "window", "every", "last_status", "last_run_at", "next_run_at"]
REPORT_COLUMNS = ["column", "kind", "method", "score", "threshold", "status", "effect_size"]


def _row(monitor: Monitor) -> dict[str, Any]:
    return {
        **MonitorPublic.of(monitor).model_dump(),
        "reference": str(monitor.reference),
        "target": monitor.deployment or f"collection {monitor.collection}",
        "window": format_duration(monitor.window_seconds),
        "every": format_duration(monitor.interval_seconds) if monitor.interval_seconds else "on demand",
    }


def _tests(specs: list[str]) -> dict[str, ColumnTest]:
    """`col=method`, `col=method:threshold` or `col=:threshold` (default method, own threshold)."""
    tests: dict[str, ColumnTest] = {}
    for spec in specs:
        column, _, rest = spec.partition("=")
        method, _, threshold = rest.partition(":")
        if not column or not rest or (method and method not in METHODS and method not in EMBEDDING_METHODS):
            known = ", ".join([*METHODS, *EMBEDDING_METHODS])
            raise InvalidInput(f"invalid --test {spec!r}: use COLUMN=METHOD[:THRESHOLD]; methods: {known}")
        try:
            tests[column] = ColumnTest(method=method or None, threshold=float(threshold) if threshold else None)  # type: ignore[arg-type]
        except ValueError:
            raise InvalidInput(f"invalid --test {spec!r}: the threshold must be a number") from None
    return tests


@app.command("create")
def create(
    name: str = typer.Argument(..., help="Monitor name."),
    deployment: str = typer.Option(None, "--deployment", help="The deployment whose traffic is watched."),
    collection: str = typer.Option(
        None, "--collection", help="Or the RAG collection whose questions (and answers' relevance) are watched."
    ),
    reference: str = typer.Option(
        None,
        "--reference",
        help="training[:VERSION] (deployments' default), previous (collections' default), or window:START/END.",
    ),
    column: list[str] = typer.Option(None, "--column", help="A column to compare (repeat); default: all."),
    window: str = typer.Option(
        format_duration(DEFAULT_WINDOW_SECONDS), "--window", help="The current window, e.g. 15m, 1h, 7d."
    ),
    every: str = typer.Option(None, "--every", help="Run on this schedule (e.g. 15m); default: on demand only."),
    role: str = typer.Option(None, "--role", help="Only this role's predictions (e.g. canary)."),
    drift_share: float = typer.Option(
        DriftConfig.drift_share, "--drift-share", help="Dataset drift when this share of columns drift."
    ),
    min_rows: int = typer.Option(
        DriftConfig.min_rows, "--min-rows", help="Fewer values in a window: insufficient data."
    ),
    on_drift: str = typer.Option(
        None, "--on-drift", help="rollback_canary: remove the deployment's canary when drift is found."
    ),
    test: list[str] = typer.Option(None, "--test", help="COLUMN=METHOD[:THRESHOLD], e.g. temp=ks or cnt=:0.2."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Watch a deployment's logged inputs and predictions, or a collection's questions, for drift."""
    with errors_as_messages(), cli_services() as services:
        config = DriftConfig(drift_share=drift_share, min_rows=min_rows, columns=_tests(test or []))
        found = services.monitors.create(
            services.access.get_project(project).id,
            name,
            deployment,
            collection=collection,
            reference=Reference.parse(reference) if reference else None,
            columns=column or None,
            config=config,
            role=role,
            window_seconds=duration(window),
            interval_seconds=duration(every) if every else None,
            on_drift=on_drift,
            by=actor(),
        )
    target = f"deployment {deployment}" if deployment else f"collection {collection}"
    emit(
        MonitorPublic.of(found),
        as_json,
        lambda: console.print(f"created monitor {name} on {target} ({found.reference})"),
    )


@app.command("list")
def list_(project: str = PROJECT, as_json: bool = JSON) -> None:
    with errors_as_messages(), cli_services() as services:
        found = services.monitors.list(services.access.get_project(project).id)
    emit([MonitorPublic.of(m) for m in found], as_json, lambda: print_table([_row(m) for m in found], COLUMNS))


@app.command("show")
def show(name: str, project: str = PROJECT, as_json: bool = JSON) -> None:
    """The monitor and its latest result, column by column."""
    with errors_as_messages(), cli_services() as services:
        project_id = services.access.get_project(project).id
        found = services.monitors.get(project_id, name)
        latest = services.monitors.results(project_id, name, limit=1).items
    result = latest[0] if latest else None

    def human() -> None:
        print_table([_row(found)], COLUMNS)
        if result is None:
            console.print("no runs yet: shipyard monitors run " + name)
        else:
            _print_result(result)

    emit(MonitorDetail.with_latest(found, result), as_json, human)


@app.command("run")
def run(
    name: str,
    fail_on_drift: bool = typer.Option(
        False, "--fail-on-drift", help=f"Exit with code {DRIFT_EXIT_CODE} when the dataset drifts (for CI gates)."
    ),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Compare the current window with the reference now; the result is stored."""
    with errors_as_messages(), cli_services() as services:
        result = services.monitors.run(services.access.get_project(project).id, name)
    emit(ResultPublic.of(result), as_json, lambda: _print_result(result))
    if fail_on_drift and result.status == "drift":
        raise typer.Exit(DRIFT_EXIT_CODE)


@app.command("results")
def results(
    name: str,
    limit: int = typer.Option(20, "--limit", help="How many, newest first."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Past runs, newest first."""
    with errors_as_messages(), cli_services() as services:
        page = services.monitors.results(services.access.get_project(project).id, name, limit=limit)
    columns = ["at", "trigger", "status", "drifted_columns", "tested_columns", "current_rows", "error"]
    emit([ResultPublic.of(r) for r in page.items], as_json, lambda: print_table(page.items, columns))


@app.command("delete")
def delete(name: str, project: str = PROJECT) -> None:
    with errors_as_messages(), cli_services() as services:
        services.monitors.delete(services.access.get_project(project).id, name, by=actor())
    console.print(f"deleted monitor {name}")


def _print_result(result: MonitorResult) -> None:
    if result.report is None:
        if result.status == "error":
            fail(f"{result.monitor}: {result.error}")
        console.print(f"{result.monitor}: {result.status} ({result.error})")
        return
    rows = [
        {**c, "score": _number(c["score"]), "effect_size": _number(c["effect_size"])} for c in result.report["columns"]
    ]
    print_table(rows, REPORT_COLUMNS, title=f"{result.monitor} at {result.at:%Y-%m-%d %H:%M:%S}")
    share = f"{result.share:.0%}" if result.share is not None else "n/a"
    console.print(
        f"{result.status}: {result.drifted_columns} of {result.tested_columns} columns drifted ({share}); "
        f"reference {result.reference_rows} rows, current {result.current_rows} rows",
        highlight=False,
    )
    if result.action:
        console.print(f"action: {result.action}", highlight=False)


def _number(value: float | None) -> str:
    return "" if value is None else f"{value:.4g}"
