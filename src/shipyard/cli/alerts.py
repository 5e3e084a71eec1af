"""`shipyard alerts`: alerting as code (SLOs, rules, notifiers), alerts and their history,
silences, and the Prometheus rule file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml

from shipyard.cli.context import cli_services
from shipyard.cli.models import actor
from shipyard.cli.options import JSON, PROJECT
from shipyard.cli.output import console, emit, errors_as_messages, fail, jsonable, print_table
from shipyard.errors import InvalidInput
from shipyard.monitoring.rules import load_spec, prometheus_rules, rules_yaml
from shipyard.monitoring.silences import SilenceSpec
from shipyard.schemas.alerts import AlertPublic, NotifierPublic, SilencePublic

app = typer.Typer(help="Alerts: SLOs and rules as code, alert history, silences, Prometheus rules.",
                  no_args_is_help=True)  # fmt: skip
ALERT_COLUMNS = ["id", "rule", "severity", "state", "value", "started_at", "resolved_at", "silenced_by", "action"]


def _read_spec(path: Path) -> Any:
    if not path.is_file():
        fail(f"no such file: {path}")
    return load_spec(path.read_text(), str(path))


@app.command("apply")
def apply(spec_file: Path = typer.Argument(..., help="YAML: slos, alerts, notifiers."), project: str = PROJECT) -> None:
    """Make SPEC_FILE the project's whole alerting configuration (what is not in it is removed)."""
    with errors_as_messages(), cli_services() as services:
        spec = _read_spec(spec_file)
        # An operator's file: its notifiers may read their URLs from this machine's environment.
        counts = services.alerts.apply(services.access.get_project(project).id, spec, by=actor(), operator=True)
    console.print(
        f"applied {spec_file}: {counts['slos']} SLOs, {counts['alerts']} alert rules, {counts['notifiers']} notifiers",
        highlight=False,
    )


@app.command("config")
def config(project: str = PROJECT, as_json: bool = JSON) -> None:
    """The applied configuration, as it would be written (notifier URLs show their host only)."""
    with errors_as_messages(), cli_services() as services:
        applied = services.alerts.config(services.access.get_project(project).id)
    emit(applied, as_json, lambda: typer.echo(yaml.safe_dump(applied, sort_keys=False), nl=False))


@app.command("list")
def list_(
    state: str = typer.Option(None, "--state", help="pending, firing or resolved."),
    rule: str = typer.Option(None, "--rule", help="Only this rule's alerts."),
    limit: int = typer.Option(50, "--limit", help="How many, newest first."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Alerts newest first: the open ones and the history."""
    with errors_as_messages(), cli_services() as services:
        page = services.alerts.list(services.access.get_project(project).id, state=state, rule=rule, limit=limit)
    rows = [{**jsonable(a), "value": f"{a.value:.4g}" if a.value is not None else ""} for a in page.items]
    emit([AlertPublic.of(a) for a in page.items], as_json, lambda: print_table(rows, ALERT_COLUMNS))


@app.command("show")
def show(alert_id: str, project: str = PROJECT, as_json: bool = JSON) -> None:
    """One alert with its labels and every transition."""
    with errors_as_messages(), cli_services() as services:
        found = services.alerts.get(services.access.get_project(project).id, alert_id)

    def human() -> None:
        console.print(f"{found.id}  {found.rule}  {found.severity}  {found.state}", highlight=False)
        console.print("labels: " + " ".join(f"{k}={v}" for k, v in sorted(found.labels.items())), highlight=False)
        for key, value in found.annotations.items():
            console.print(f"{key}: {value}", highlight=False)
        print_table(found.history, ["at", "state", "value", "note"])

    emit(AlertPublic.of(found), as_json, human)


@app.command("evaluate")
def evaluate(project: str = PROJECT, as_json: bool = JSON) -> None:
    """Evaluate the project's rules now (workers do it every SHIPYARD_ALERT_EVAL_SECONDS)."""
    with errors_as_messages(), cli_services() as services:
        rules, opened, fired, resolved, sent = services.alerts.evaluate_now(services.access.get_project(project).id)
        services.alerts.sender.drain()
    summary = {"rules": rules, "opened": opened, "fired": fired, "resolved": resolved, "notifications": sent}
    line = f"{rules} rules: {opened} opened, {fired} fired, {resolved} resolved, {sent} notifications"
    emit(summary, as_json, lambda: console.print(line, highlight=False))


@app.command("silence")
def silence(
    matchers: list[str] = typer.Argument(..., help="LABEL=VALUE (or LABEL=~REGEX), e.g. alertname=canary-errors."),
    duration: str = typer.Option("2h", "--for", help="How long, e.g. 30m, 2h, 1d (at most 30d)."),
    comment: str = typer.Option(..., "--comment", help="Why (what the next person on call reads)."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    """Hold back notifications and actions of matching alerts for a while."""
    with errors_as_messages(), cli_services() as services:
        parsed: dict[str, str] = {}
        for matcher in matchers:
            key, sep, value = matcher.partition("=")
            if not sep or not key:
                raise InvalidInput(f"invalid matcher {matcher!r}: use LABEL=VALUE or LABEL=~REGEX")
            parsed[key] = value
        spec = SilenceSpec.of(matchers=parsed, duration=duration, comment=comment)
        created = services.alerts.silences.create(services.access.get_project(project).id, spec, by=actor())
    emit(
        SilencePublic.of(created),
        as_json,
        lambda: console.print(f"silence {created.id} until {created.ends_at:%Y-%m-%d %H:%M} UTC"),
    )


@app.command("silences")
def silences(
    include_expired: bool = typer.Option(False, "--all", help="Expired ones too."),
    project: str = PROJECT,
    as_json: bool = JSON,
) -> None:
    with errors_as_messages(), cli_services() as services:
        found = services.alerts.silences.list(services.access.get_project(project).id, include_expired=include_expired)
    rows = [{**jsonable(s), "matchers": " ".join(f"{k}={v}" for k, v in s.matchers.items())} for s in found]
    emit([SilencePublic.of(s) for s in found], as_json,
         lambda: print_table(rows, ["id", "matchers", "starts_at", "ends_at", "created_by", "comment"]))  # fmt: skip


@app.command("unsilence")
def unsilence(silence_id: str, project: str = PROJECT) -> None:
    """End a silence now."""
    with errors_as_messages(), cli_services() as services:
        services.alerts.silences.expire(services.access.get_project(project).id, silence_id)
    console.print(f"expired silence {silence_id}")


@app.command("notifiers")
def notifiers(project: str = PROJECT, as_json: bool = JSON) -> None:
    """Where notifications go, and how the last delivery went."""
    with errors_as_messages(), cli_services() as services:
        data = [
            NotifierPublic.of(n) for n in services.alerts.notifier_statuses(services.access.get_project(project).id)
        ]
    emit(data, as_json, lambda: print_table(data, ["name", "kind", "url", "last_status", "last_error"]))


@app.command("export-prometheus")
def export_prometheus(
    spec_file: Path = typer.Argument(None, help="An alert spec (YAML); default: the project's applied one."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the rule file here (default: stdout)."),
    project: str = PROJECT,
) -> None:
    """Compile SLOs and alert rules to Prometheus recording and alerting rules (promtool-checked)."""
    with errors_as_messages():
        if spec_file is not None:
            spec = _read_spec(spec_file)
            skipped = [a.name for a in spec.alerts if a.kind == "anomaly"]
            monitors: dict[str, str] = {}
            if any(a.drift is not None for a in spec.alerts):  # their deployments come from the store
                with cli_services() as services:
                    found = services.monitors.list(services.access.get_project(project).id)
                    monitors = {m.name: m.deployment for m in found if m.deployment}
            text = rules_yaml(prometheus_rules(spec, project, monitors), skipped)
        else:
            with cli_services() as services:
                text = services.alerts.prometheus_rules(services.access.get_project(project).id)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    console.print(f"wrote {output} (check with: promtool check rules {output})")
