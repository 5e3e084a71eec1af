"""`shipyard alerts` on the embedded default: apply a spec, see alerts fire, silence, export."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.platform import build_platform
from shipyard.settings import Settings
from shipyard.store import upgrade
from shipyard.telemetry.metrics import HTTP_BUCKETS

SPEC = """
slos:
  - {name: api-availability, objective: 99.9, sli: {availability: {}}}
alerts:
  - {name: ask-slow, threshold: {signal: latency_p95, route: /v1/ask}, window: 5m, above: 1}
  - {name: ask-latency-anomaly, anomaly: {signal: latency_p95, route: /v1/ask}, severity: ticket}
"""


@pytest.fixture
def cli(cli: CliRunner, settings: Settings) -> CliRunner:
    """The shared `cli` fixture on a store holding an hour of /v1/ask traffic."""
    services = build_platform(settings)
    upgrade(services.database)
    # An hour of /v1/ask: fine, then five minutes of 5xx at 3 s each (what a running API records).
    for status, seconds in (("200", 0.05),) * 50 + (("500", 3.0),) * 30:
        services.series.record("http", "/v1/ask", "POST", status, seconds, bounds=HTTP_BUCKETS)
    services.close()
    return cli


def run(cli: CliRunner, *args: str) -> Any:
    result = cli.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fails(cli: CliRunner, *args: str) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.stderr.strip()


def test_alerts_walk(cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "alerts.yaml").write_text(SPEC)
    applied = cli.invoke(app, ["alerts", "apply", str(tmp_path / "alerts.yaml")])
    assert applied.exit_code == 0 and "1 SLOs, 2 alert rules, 0 notifiers" in applied.output
    assert [s["name"] for s in run(cli, "alerts", "config")["slos"]] == ["api-availability"]
    summary = run(cli, "alerts", "evaluate")
    assert (summary["rules"], summary["fired"]) == (3, 3)  # the SLO's page and ticket, and ask-slow
    firing = run(cli, "alerts", "list", "--state", "firing")
    assert sorted(a["rule"] for a in firing) == ["api-availability", "api-availability", "ask-slow"]
    slow = next(a for a in firing if a["rule"] == "ask-slow")
    assert slow["labels"]["route"] == "/v1/ask" and slow["value"] > 1
    shown = cli.invoke(app, ["alerts", "show", slow["id"]])
    assert shown.exit_code == 0 and "latency p95 of /v1/ask above 1 over 5m" in shown.output
    silenced = run(cli, "alerts", "silence", "alertname=ask-slow", "--for", "1h", "--comment", "deploying a fix")
    assert silenced["matchers"] == {"alertname": "ask-slow"}
    assert [s["id"] for s in run(cli, "alerts", "silences")] == [silenced["id"]]
    run(cli, "alerts", "evaluate")
    assert run(cli, "alerts", "show", slow["id"])["silenced_by"] == silenced["id"]
    assert cli.invoke(app, ["alerts", "unsilence", silenced["id"]]).exit_code == 0
    assert run(cli, "alerts", "silences") == [] and len(run(cli, "alerts", "silences", "--all")) == 1
    assert run(cli, "alerts", "notifiers") == []
    # The applied spec as Prometheus rules: the anomaly rule stays in-process, and says so.
    exported = cli.invoke(app, ["alerts", "export-prometheus", "-o", str(tmp_path / "rules.yml")])
    assert exported.exit_code == 0, exported.output
    text = (tmp_path / "rules.yml").read_text()
    assert "# Evaluated by shipyard only (no PromQL equivalent): ask-latency-anomaly" in text
    assert "alert: ask-slow" in text and "histogram_quantile(0.95" in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by `make services`"
    checked = subprocess.run([promtool, "check", "rules", str(tmp_path / "rules.yml")], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 8 rules found" in checked.stdout, checked.stdout + checked.stderr
    # Bad input: one line, exit code 1.
    assert "no such file" in fails(cli, "alerts", "apply", str(tmp_path / "nope.yaml"))
    (tmp_path / "bad.yaml").write_text("alerts: [{name: x, threshold: {signal: requests}}]")
    assert "needs exactly one of above or below" in fails(cli, "alerts", "apply", str(tmp_path / "bad.yaml"))
    assert "invalid matcher" in fails(cli, "alerts", "silence", "nolabel", "--comment", "c")
    assert "no alert 'alr_nope'" in fails(cli, "alerts", "show", "alr_nope")
    assert "no silence 'sil_nope'" in fails(cli, "alerts", "unsilence", "sil_nope")
