# ruff: noqa: E501 - promtool series and expectations read best one per line
"""SLOs compile to rules that a real Prometheus accepts (`promtool check rules`) and that fire as
the SRE workbook intends (`promtool test rules`: synthetic series, alerts expected per minute)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.errors import InvalidInput
from shipyard.monitoring.slo import PAGE_ALERT, TICKET_ALERT, load_slos, prometheus_rules

SLOS = """
slos:
  - name: ask-availability
    objective: 99.9
    sli: {availability: {route: /v1/ask}}
  - name: ask-latency
    objective: 99
    sli: {latency: {route: /v1/ask, threshold: 0.5}}
  - name: bikes-errors
    objective: 99.5
    sli: {availability: {deployment: bikes}}
  - name: chat-latency
    objective: 99
    sli: {latency: {model: chat, threshold: 2.56}}
"""
ASK = 'http_server_request_duration_seconds_{part}{{http_route="/v1/ask",http_request_method="POST",{extra}}}'
OTHER = 'http_server_request_duration_seconds_count{http_route="/v1/chat/completions",http_request_method="POST",http_response_status_code="500"}'  # noqa: E501


def promtool() -> str:
    found = shutil.which("promtool")
    assert found, "promtool is installed by `make services` (scripts/services.sh)"
    return found


@pytest.fixture
def rules_file(tmp_path: Path) -> Path:
    (tmp_path / "slos.yaml").write_text(SLOS)
    result = CliRunner().invoke(
        app, ["alerts", "export-prometheus", str(tmp_path / "slos.yaml"), "-o", str(tmp_path / "rules.yml")]
    )
    assert result.exit_code == 0, result.output
    return tmp_path / "rules.yml"


def test_promtool_accepts_the_rules(rules_file: Path) -> None:
    checked = subprocess.run(
        [promtool(), "check", "rules", str(rules_file)], capture_output=True, text=True, check=False
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS: 28 rules found" in checked.stdout  # 4 SLOs × (5 recordings + 2 alerts)


def _requests(ok_per_minute: int, errors_per_minute: int | str, minutes: int = 4400) -> list[dict[str, str]]:
    errors = errors_per_minute if isinstance(errors_per_minute, str) else f"0+{errors_per_minute}x{minutes}"
    return [
        {
            "series": ASK.format(part="count", extra='http_response_status_code="200"'),
            "values": f"0+{ok_per_minute}x{minutes}",
        },
        {"series": ASK.format(part="count", extra='http_response_status_code="500"'), "values": errors},
    ]


def _expected(rules_file: Path, alert: str, slo: str) -> dict[str, Any]:
    for group in yaml.safe_load(rules_file.read_text())["groups"]:
        for rule in group["rules"]:
            if rule.get("alert") == alert and rule["labels"]["slo"] == slo:
                return {"exp_labels": rule["labels"], "exp_annotations": rule["annotations"]}
    raise AssertionError(f"no {alert} for {slo}")


def _alerts(rules_file: Path, at: str, slo: str, *, page: bool, ticket: bool) -> list[dict[str, Any]]:
    return [
        {
            "eval_time": at,
            "alertname": PAGE_ALERT,
            "exp_alerts": [_expected(rules_file, PAGE_ALERT, slo)] if page else [],
        },
        {
            "eval_time": at,
            "alertname": TICKET_ALERT,
            "exp_alerts": [_expected(rules_file, TICKET_ALERT, slo)] if ticket else [],
        },
    ]


def test_burn_rates_page_and_ticket_as_the_workbook_says(rules_file: Path, tmp_path: Path) -> None:
    budget_burn = lambda errors: {"interval": "1m", "input_series": _requests(1000 - errors, errors)}  # noqa: E731
    tests = [
        # 2 % errors against a 0.1 % budget: 20× — pages (14.4× over 1 h and 5 m) within minutes.
        {**budget_burn(20), "alert_rule_test": _alerts(rules_file, "10m", "ask-availability", page=True, ticket=True)},
        # 1 %: 10× — not the fast page, but the 6× rule over 6 h and 30 m pages.
        {**budget_burn(10), "alert_rule_test": _alerts(rules_file, "7h", "ask-availability", page=True, ticket=True)},
        # 0.5 %: 5× — a ticket (1× over 3 d and 6 h), no page.
        {**budget_burn(5), "alert_rule_test": _alerts(rules_file, "7h", "ask-availability", page=False, ticket=True)},
        # 0.05 %: half the budget — nothing.
        {**budget_burn(0.5), "alert_rule_test": _alerts(rules_file, "3d", "ask-availability", page=False, ticket=False)},
        # 20 % errors for an hour, then none: the page stops once the 5 m and 30 m windows are
        # clean (the 1 h and 6 h ones still remember), the ticket stays.
        {
            "interval": "1m",
            "input_series": _requests(800, "0+200x60 12000+0x4400"),
            "alert_rule_test": [
                *_alerts(rules_file, "30m", "ask-availability", page=True, ticket=True),
                *_alerts(rules_file, "100m", "ask-availability", page=False, ticket=True),
            ],
        },
        # Errors on another route do not burn this SLO.
        {
            "interval": "1m",
            "input_series": [*_requests(1000, 0), {"series": OTHER, "values": "0+500x4400"}],
            "alert_rule_test": _alerts(rules_file, "7h", "ask-availability", page=False, ticket=False),
        },
        # Latency: 5 % of requests slower than 0.5 s against a 1 % budget: 5× — a ticket.
        {
            "interval": "1m",
            "input_series": [
                {"series": ASK.format(part="bucket", extra='http_response_status_code="200",le="0.5"'), "values": "0+950x4400"},
                {"series": ASK.format(part="bucket", extra='http_response_status_code="200",le="+Inf"'), "values": "0+1000x4400"},
                {"series": ASK.format(part="count", extra='http_response_status_code="200"'), "values": "0+1000x4400"},
            ],
            "alert_rule_test": _alerts(rules_file, "7h", "ask-latency", page=False, ticket=True),
        },
        # An LLM model's latency: 10 % of chat calls slower than 2.56 s against a 1 % budget: 10× —
        # the 6× page and the ticket. Slow calls of another model do not count.
        {
            "interval": "1m",
            "input_series": [
                {"series": 'shipyard_llm_call_duration_seconds_bucket{project="default",model="chat",le="2.56"}', "values": "0+90x600"},
                {"series": 'shipyard_llm_call_duration_seconds_bucket{project="default",model="chat",le="+Inf"}', "values": "0+100x600"},
                {"series": 'shipyard_llm_call_duration_seconds_count{project="default",model="chat"}', "values": "0+100x600"},
                {"series": 'shipyard_llm_call_duration_seconds_bucket{project="default",model="big",le="2.56"}', "values": "0+0x600"},
                {"series": 'shipyard_llm_call_duration_seconds_count{project="default",model="big"}', "values": "0+100x600"},
            ],
            "alert_rule_test": _alerts(rules_file, "7h", "chat-latency", page=True, ticket=True),
        },
        # A deployment: champion errors burn it; a failing shadow does not (nobody got its answers).
        {
            "interval": "1m",
            "input_series": [
                {"series": 'shipyard_predictions_total{project="default",deployment="bikes",version="1",role="champion",status="ok"}', "values": "0+900x600"},
                {"series": 'shipyard_predictions_total{project="default",deployment="bikes",version="1",role="champion",status="error"}', "values": "0+100x600"},
                {"series": 'shipyard_predictions_total{project="default",deployment="bikes",version="2",role="shadow",status="error"}', "values": "0+1000x600"},
            ],
            "alert_rule_test": _alerts(rules_file, "10m", "bikes-errors", page=True, ticket=True),
        },
        {
            "interval": "1m",
            "input_series": [
                {"series": 'shipyard_predictions_total{project="default",deployment="bikes",version="1",role="champion",status="ok"}', "values": "0+1000x600"},
                {"series": 'shipyard_predictions_total{project="default",deployment="bikes",version="2",role="shadow",status="error"}', "values": "0+1000x600"},
            ],
            "alert_rule_test": _alerts(rules_file, "10m", "bikes-errors", page=False, ticket=False),
        },
    ]  # fmt: skip
    test_file = tmp_path / "tests.yml"
    test_file.write_text(yaml.safe_dump({"rule_files": [rules_file.name], "evaluation_interval": "1m", "tests": tests}))
    result = subprocess.run(
        [promtool(), "test", "rules", test_file.name], cwd=tmp_path, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_example_slo_file_compiles(tmp_path: Path) -> None:
    example = Path(__file__).resolve().parents[2] / "examples" / "slos.yaml"
    result = CliRunner().invoke(app, ["alerts", "export-prometheus", str(example), "-o", str(tmp_path / "r.yml")])
    assert result.exit_code == 0, result.output
    checked = subprocess.run([promtool(), "check", "rules", str(tmp_path / "r.yml")], capture_output=True, text=True)
    assert checked.returncode == 0 and "SUCCESS: 28 rules found" in checked.stdout, checked.stdout + checked.stderr


def test_rules_have_one_recording_per_window_and_no_shadow_traffic() -> None:
    rules = prometheus_rules(load_slos(SLOS))
    records = [r for g in rules["groups"] for r in g["rules"] if "record" in r]
    assert sorted({r["record"] for r in records}) == sorted(
        f"shipyard_slo:error_ratio:rate{w}" for w in ("5m", "30m", "1h", "6h", "3d")
    )
    bikes = next(r["expr"] for r in records if r["labels"]["slo"] == "bikes-errors")
    assert bikes.count('role!="shadow"') == 2


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("slos: [{name: a, objective: 99, sli: {latency: {route: /x, threshold: 0.3}}}]", "not a bucket bound"),
        ("slos: [{name: a, objective: 100, sli: {availability: {}}}]", "slos.0.objective"),
        ("slos: [{name: a, objective: 99, sli: {}}]", "either availability or latency"),
        ("slos: [{name: a, objective: 99, sli: {availability: {deployment: d, route: /x}}}]", "not route/method and deployment"),
        ("slos: [{name: a, objective: 99, sli: {availability: {}}}, {name: a, objective: 9, sli: {availability: {}}}]",
         "defined twice"),
        ("slos: [{name: A!, objective: 99, sli: {availability: {}}}]", "invalid SLO name"),
        ("slos: [{name: a, objective: 99, sli: {availability: {}}, colour: red}]", "slos.0.colour"),
        ("slos: [", "not valid YAML"),
    ],
)  # fmt: skip
def test_bad_slo_files_are_clear_errors(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        load_slos(text)


def test_cli_errors_are_one_line(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = runner.invoke(app, ["alerts", "export-prometheus", str(tmp_path / "nope.yaml")])
    assert missing.exit_code == 1 and "no such file" in missing.stderr
    (tmp_path / "bad.yaml").write_text("slos: [{name: a, objective: 99, sli: {latency: {threshold: 0.3}}}]")
    bad = runner.invoke(app, ["alerts", "export-prometheus", str(tmp_path / "bad.yaml")])
    assert bad.exit_code == 1 and "not a bucket bound" in bad.stderr and "Traceback" not in bad.output
