"""One output schema per entity: CLI `--json` prints what the API answers, key for key.

Each entity is made through one edge and read through both; a shape is the nesting of keys
(values may differ: ids, times, what a serving process has loaded). The model-side entities
(registry, deployments, monitors) are in tests/models/test_output_shapes.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.platform import Platform
from shipyard.settings import Settings
from tests.conftest import LiveServer, make_settings, wait_until
from tests.rag.conftest import DOCS
from tests.webhook_receiver import LOOPBACK


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The notifier below points at loopback, allowed as an operator would.
    return make_settings(tmp_path, database_url, url_allow_networks=LOOPBACK)


def shape(value: Any) -> Any:
    """The keys and nesting of a JSON value, without its scalars (a list of scalars is a list,
    however many it holds: a serving process's loaded versions, say)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value and isinstance(value[0], dict | list) else []
    return None


def cli_json(cli: CliRunner, *args: str) -> Any:
    result = cli.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


class Edges:
    """Reads one entity through the API and through the CLI and keeps the pairs that differ."""

    def __init__(self, live: LiveServer, cli: CliRunner) -> None:
        self.live, self.cli = live, cli
        self.headers = live.key("admin")
        self.compared: list[str] = []
        self.different: list[str] = []

    def api(self, method: str, path: str, status: int = 200, **kwargs: Any) -> Any:
        response = self.live.client.request(method, path, headers=self.headers, **kwargs)
        assert response.status_code == status, f"{method} {path}: {response.text}"
        return response.json()

    def same(self, entity: str, printed: Any, answered: Any) -> None:
        assert printed not in (None, [], {}), f"{entity}: the CLI printed nothing to compare"
        self.compared.append(entity)
        if shape(printed) != shape(answered):
            self.different.append(f"{entity}: CLI {shape(printed)} != API {shape(answered)}")


def test_every_entity_prints_as_the_api_answers(
    live: LiveServer, services: Platform, cli: CliRunner, tmp_path: Path
) -> None:
    edges = Edges(live, cli)

    created = cli_json(cli, "projects", "create", "acme")
    edges.same("project", created, next(p for p in edges.api("GET", "/v1/projects") if p["name"] == "acme"))
    edges.same("projects", cli_json(cli, "projects", "list"), edges.api("GET", "/v1/projects"))

    printed_key = cli_json(cli, "keys", "create", "--name", "ci", "--role", "viewer")
    answered_key = edges.api("POST", "/v1/keys", 201, json={"name": "ci-2", "role": "viewer"})
    edges.same("created key", printed_key, answered_key)
    edges.same("keys", cli_json(cli, "keys", "list"), edges.api("GET", "/v1/keys"))
    edges.same("revoked key", cli_json(cli, "keys", "revoke", printed_key["id"]),
               edges.api("DELETE", f"/v1/keys/{answered_key['id']}"))  # fmt: skip

    collection = cli_json(cli, "collections", "create", "handbook")
    edges.same("collection", collection, edges.api("GET", "/v1/collections/handbook"))
    edges.same("collections", cli_json(cli, "collections", "list"), edges.api("GET", "/v1/collections"))
    services.ingester.ingest(services.knowledge.collection(DEFAULT_PROJECT_ID, "handbook"), DOCS)
    edges.same("documents", cli_json(cli, "documents", "list", "-c", "handbook"),
               edges.api("GET", "/v1/collections/handbook/documents"))  # fmt: skip
    question = "How do I roll back a deployment?"
    edges.same("search hits", cli_json(cli, "search", question, "-c", "handbook"),
               edges.api("POST", "/v1/collections/handbook/search", json={"query": question})["results"])  # fmt: skip

    answered = edges.api("POST", "/v1/ask", json={"collection": "handbook", "question": question})
    printed = cli_json(cli, "ask", question, "-c", "handbook")
    edges.same("answer", printed, answered)
    assert "total_tokens" in printed["usage"]
    services.traces.writer.flush_now()
    edges.same("traces", cli_json(cli, "traces", "list"), edges.api("GET", "/v1/traces")["data"])
    edges.same("trace", cli_json(cli, "traces", "show", answered["trace_id"]),
               edges.api("GET", f"/v1/traces/{answered['trace_id']}"))  # fmt: skip

    job = edges.api("POST", "/v1/jobs", 202, json={"kind": "maintenance.cleanup"})
    # Read once it is done: a result appears when it finishes, and both edges must see the same job.
    wait_until(lambda: edges.api("GET", f"/v1/jobs/{job['id']}")["status"] == "succeeded", timeout=30)
    edges.same("job", cli_json(cli, "jobs", "show", job["id"]), edges.api("GET", f"/v1/jobs/{job['id']}"))
    edges.same("jobs", cli_json(cli, "jobs", "list"), edges.api("GET", "/v1/jobs"))
    live.flush_logs()
    edges.same("requests", cli_json(cli, "requests", "list"), edges.api("GET", "/v1/requests"))

    prompt = tmp_path / "qa.yaml"
    prompt.write_text("name: qa\ntemplate: 'Answer {{ question }}.'\n")
    pushed = cli_json(cli, "prompts", "push", str(prompt), "--label", "production")
    edges.same("prompt version", pushed, edges.api("GET", "/v1/prompts/qa/versions/1"))
    edges.same("prompt versions", cli_json(cli, "prompts", "show", "qa", "--versions"),
               edges.api("GET", "/v1/prompts/qa/versions"))  # fmt: skip
    edges.same("prompts", cli_json(cli, "prompts", "list"), edges.api("GET", "/v1/prompts"))
    edges.same("moved label", cli_json(cli, "prompts", "label", "qa", "1", "staging"),
               edges.api("PUT", "/v1/prompts/qa/labels/canary", json={"version": 1}))  # fmt: skip

    edges.same("budget", cli_json(cli, "budgets", "set", "default", "day", "--max-tokens", "1000"),
               edges.api("PUT", "/v1/projects/default/budgets/month", json={"max_tokens": 5000}))  # fmt: skip
    edges.same("budgets", cli_json(cli, "budgets", "list"), edges.api("GET", "/v1/budgets"))

    spec = {"notifiers": [{"name": "pager", "webhook": "http://127.0.0.1:9/hook", "match": {"team": "nobody"}}]}
    edges.api("PUT", "/v1/alerts/config", json=spec)
    edges.same("notifiers", cli_json(cli, "alerts", "notifiers"), edges.api("GET", "/v1/alerts/notifiers"))
    edges.same("alert config", cli_json(cli, "alerts", "config"), edges.api("GET", "/v1/alerts/config"))
    silence = {"matchers": {"alertname": "Noisy"}, "duration": "1h", "comment": "known"}
    edges.same("silence", cli_json(cli, "alerts", "silence", "alertname=Quiet", "--comment", "known"),
               edges.api("POST", "/v1/alerts/silences", 201, json=silence))  # fmt: skip
    edges.same("silences", cli_json(cli, "alerts", "silences"), edges.api("GET", "/v1/alerts/silences"))
    fired = {"status": "firing", "labels": {"alertname": "DiskFull", "severity": "page"},
             "annotations": {"summary": "disk full"}, "startsAt": "2026-01-01T00:00:00Z"}  # fmt: skip
    edges.api("POST", "/v1/alerts/alertmanager", json={"alerts": [fired]})
    alerts = edges.api("GET", "/v1/alerts")["data"]
    edges.same("alerts", cli_json(cli, "alerts", "list"), alerts)
    alert_id = alerts[0]["id"]
    edges.same("alert", cli_json(cli, "alerts", "show", alert_id), edges.api("GET", f"/v1/alerts/{alert_id}"))

    assert not edges.different, "\n".join(edges.different)
    assert len(edges.compared) == 27
