"""Prompts through the HTTP API and the CLI."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.settings import Settings
from tests.conftest import LiveServer

PROMPT = {"name": "qa", "template": "Answer {{ question }}.", "message": "first"}


def test_push_label_show_diff_and_render_over_http(live: LiveServer) -> None:
    editor, viewer = live.key("editor"), live.key("viewer")
    created = live.client.post("/v1/prompts", json=PROMPT, headers=editor)
    assert created.status_code == 201 and created.json()["version"] == 1 and created.json()["author"] == "test-editor"
    assert live.client.post("/v1/prompts", json=PROMPT, headers=editor).status_code == 200  # same content
    changed = {**PROMPT, "template": "Answer {{ question }} in one line.", "message": "shorter"}
    assert live.client.post("/v1/prompts", json=changed, headers=editor).json()["version"] == 2
    assert live.client.post("/v1/prompts", json=changed, headers=viewer).status_code == 403

    moved = live.client.put("/v1/prompts/qa/labels/production", json={"version": 1}, headers=editor)
    assert moved.status_code == 200 and moved.json()["labels"] == ["production"]
    shown = live.client.get("/v1/prompts/qa/versions/production", headers=viewer).json()
    assert shown["version"] == 1 and shown["messages"] == [{"role": "user", "content": "Answer {{ question }}."}]
    listed = live.client.get("/v1/prompts", headers=viewer).json()
    assert [(p["name"], p["latest_version"], p["labels"]) for p in listed] == [("qa", 2, {"production": 1})]

    diff = live.client.get("/v1/prompts/qa/diff", params={"from": "production", "to": "2"}, headers=viewer)
    assert diff.status_code == 200 and "+  content: Answer {{ question }} in one line." in diff.text

    rendered = live.client.post(
        "/v1/prompts/qa/versions/latest/render", json={"variables": {"question": "why"}}, headers=viewer
    )
    assert rendered.json() == {"prompt": "qa@2", "messages": [{"role": "user", "content": "Answer why in one line."}]}
    missing = live.client.post("/v1/prompts/qa/versions/1/render", json={"variables": {}}, headers=viewer)
    assert missing.status_code == 400 and missing.json()["error"]["code"] == "prompt_render_error"
    unknown = live.client.get("/v1/prompts/nope/versions/1", headers=viewer)
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "prompt_not_found"
    bad = live.client.post("/v1/prompts", json={"name": "x", "template": "{% if %}"}, headers=editor)
    assert bad.status_code == 400 and "template error on line 1" in bad.json()["error"]["message"]


@pytest.fixture
def cli_settings(tmp_path: Path) -> Settings:
    return Settings(home=tmp_path / "home")  # the embedded default store under a fresh home


def test_the_prompts_cli(cli: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "qa.yaml"
    path.write_text("name: qa\ntemplate: 'Answer {{ question }}.'\nparameters: {temperature: 0.2}\n")
    result = cli.invoke(app, ["prompts", "push", str(path), "-m", "first", "--label", "production"])
    assert result.exit_code == 0 and result.stdout.strip() == "pushed qa@1 [production]"
    assert cli.invoke(app, ["prompts", "push", str(path)]).stdout.strip() == "unchanged: qa@1 [production]"
    path.write_text("name: qa\ntemplate: 'Answer {{ question }}.'\nparameters: {temperature: 0.5}\n")
    assert cli.invoke(app, ["prompts", "push", str(path)]).stdout.strip() == "pushed qa@2"

    shown = cli.invoke(app, ["prompts", "show", "qa@production"])
    assert shown.exit_code == 0 and "qa@1 [production]" in shown.stdout and "temperature: 0.2" in shown.stdout
    versions = json.loads(cli.invoke(app, ["prompts", "show", "qa", "--versions", "--json"]).stdout)
    assert [v["version"] for v in versions] == [2, 1]
    diff = cli.invoke(app, ["prompts", "diff", "qa", "1", "2"]).stdout
    assert "-  temperature: 0.2" in diff and "+  temperature: 0.5" in diff
    assert cli.invoke(app, ["prompts", "label", "qa", "2", "production"]).stdout.strip() == "production → qa@2"
    listed = json.loads(cli.invoke(app, ["prompts", "list", "--json"]).stdout)
    assert listed[0]["name"] == "qa" and listed[0]["labels"] == {"production": 2}

    path.write_text("name: qa\ntemplate: [unclosed\n")
    failed = cli.invoke(app, ["prompts", "push", str(path)])
    assert failed.exit_code == 1 and failed.stderr.startswith("error: ") and len(failed.stderr.splitlines()) == 1
    failed = cli.invoke(app, ["prompts", "label", "qa", "9", "production"])
    assert failed.exit_code == 1 and "no version 9" in failed.stderr
