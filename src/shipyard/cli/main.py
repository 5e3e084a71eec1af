"""`shipyard`: the command-line entry point."""

from __future__ import annotations

import typer

from shipyard import __version__
from shipyard.cli import (
    alerts,
    anomalies,
    ask,
    budgets,
    collections,
    db,
    demo,
    deploy,
    documents,
    ingest,
    jobs,
    keys,
    models,
    monitors,
    projects,
    prompts,
    requests,
    serve,
    traces,
)
from shipyard.secretbox import new_key
from shipyard.telemetry import configure_logging

app = typer.Typer(
    name="shipyard",
    help="shipyard: run AI in production. Commands act on the store in SHIPYARD_HOME / SHIPYARD_DATABASE_URL.",
    no_args_is_help=True,
    # Locals can hold API keys: never print them in a traceback.
    pretty_exceptions_show_locals=False,
)


@app.callback()
def _logging() -> None:
    # Warnings and errors, one line each on stderr: stdout is the command's output (JSON, tables)
    # and must stay parseable. `serve`, `worker` and `demo` configure their own.
    configure_logging("warning", "console")


app.add_typer(db.app, name="db")
app.add_typer(projects.app, name="projects")
app.add_typer(keys.app, name="keys")
app.add_typer(jobs.app, name="jobs")
app.add_typer(requests.app, name="requests")
app.add_typer(collections.app, name="collections")
app.add_typer(documents.app, name="documents")
app.add_typer(prompts.app, name="prompts")
app.add_typer(traces.app, name="traces")
app.add_typer(budgets.app, name="budgets")
app.add_typer(models.app, name="models")
app.add_typer(deploy.app, name="deploy")
app.add_typer(monitors.app, name="monitors")
app.add_typer(alerts.app, name="alerts")
app.add_typer(anomalies.app, name="anomalies")
app.command("ingest")(ingest.ingest)
app.command("search")(ingest.search)
app.command("ask")(ask.ask)
app.command("serve")(serve.serve)
app.command("worker")(serve.worker)
app.command("demo")(demo.demo)


@app.command("secret-key")
def secret_key() -> None:
    """Print a new key for SHIPYARD_SECRET_KEY (encrypts stored webhook secrets and receiver URLs)."""
    typer.echo(new_key())


@app.command("version")
def version() -> None:
    """Print the shipyard version."""
    typer.echo(__version__)


def main() -> None:
    app()


if __name__ == "__main__":
    main()
