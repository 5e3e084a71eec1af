"""`shipyard alerts`: SLOs as code, compiled to Prometheus alerting rules."""

from __future__ import annotations

from pathlib import Path

import typer

from shipyard.cli.output import console, errors_as_messages, fail
from shipyard.monitoring.slo import load_slos, rules_yaml

app = typer.Typer(help="Alerts: SLO burn-rate rules for Prometheus.", no_args_is_help=True)


@app.command("export-prometheus")
def export_prometheus(
    slo_file: Path = typer.Argument(..., help="The SLO file (YAML): slos: [{name, objective, sli}]."),
    output: Path = typer.Option(None, "--output", "-o", help="Write the rule file here (default: stdout)."),
) -> None:
    """Compile SLO_FILE to Prometheus recording and multi-window burn-rate alerting rules."""
    if not slo_file.is_file():
        fail(f"no such file: {slo_file}")
    with errors_as_messages():
        slos = load_slos(slo_file.read_text(), str(slo_file))
    text = rules_yaml(slos)
    if output is None:
        typer.echo(text, nl=False)
        return
    output.write_text(text)
    console.print(f"wrote {len(slos)} SLOs' rules to {output} (check with: promtool check rules {output})")
