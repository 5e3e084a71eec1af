"""Collections over HTTP and the CLI, per project, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.auth import Role
from shipyard.cli.main import app
from shipyard.settings import get_settings
from tests.conftest import LiveServer


def test_create_list_get_delete(live: LiveServer) -> None:
    editor = live.key(Role.EDITOR)
    created = live.client.post(
        "/v1/collections",
        json={"name": "handbook", "description": "Team handbook", "chunking": {"max_tokens": 128}},
        headers=editor,
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert body["id"].startswith("col_") and body["embedder"] == "onnx://all-minilm-l6-v2"
    assert body["dimension"] == 384 and body["chunking"] == {"max_tokens": 128, "overlap_tokens": 30}
    live.client.post("/v1/collections", json={"name": "faq"}, headers=editor)
    assert [c["name"] for c in live.client.get("/v1/collections", headers=editor).json()] == ["faq", "handbook"]
    assert live.client.get("/v1/collections/handbook", headers=live.key(Role.VIEWER)).json()["id"] == body["id"]
    assert live.client.delete("/v1/collections/handbook", headers=editor).status_code == 200
    missing = live.client.get("/v1/collections/handbook", headers=editor)
    assert missing.status_code == 404
    assert missing.json()["error"] == {
        "code": "collection_not_found",
        "message": "no collection named 'handbook' in this project; collections: faq",
    }


def test_rules_and_roles(live: LiveServer) -> None:
    editor = live.key(Role.EDITOR)
    post = live.client.post
    assert post("/v1/collections", json={"name": "docs"}, headers=live.key(Role.VIEWER)).status_code == 403
    assert post("/v1/collections", json={"name": "docs"}, headers=editor).status_code == 201
    duplicate = post("/v1/collections", json={"name": "docs"}, headers=editor)
    assert duplicate.status_code == 409 and duplicate.json()["error"]["code"] == "conflict"
    bad_name = post("/v1/collections", json={"name": "My Docs"}, headers=editor)
    assert bad_name.status_code == 400 and "lowercase" in bad_name.json()["error"]["message"]
    bad_chunking = post("/v1/collections", json={"name": "x", "chunking": {"max_tokens": 4}}, headers=editor)
    assert bad_chunking.status_code == 400 and "max_tokens must be between 16 and 2048" in bad_chunking.text
    bad_embedder = post("/v1/collections", json={"name": "x", "embedder": "hf://some/model"}, headers=editor)
    assert bad_embedder.status_code == 400 and "unknown embedder" in bad_embedder.json()["error"]["message"]
    extra = post("/v1/collections", json={"name": "x", "chunking": {"size": 3}}, headers=editor)
    assert extra.status_code == 422


def test_collections_are_per_project(live: LiveServer) -> None:
    live.services.access.create_project("acme")
    live.client.post("/v1/collections", json={"name": "secret"}, headers=live.key(Role.EDITOR, project="acme"))
    default_editor = live.key(Role.EDITOR)
    assert live.client.get("/v1/collections/secret", headers=default_editor).status_code == 404
    assert live.client.get("/v1/collections", headers=default_editor).json() == []
    assert live.client.delete("/v1/collections/secret", headers=default_editor).status_code == 404
    # The same name is free in another project.
    assert live.client.post("/v1/collections", json={"name": "secret"}, headers=default_editor).status_code == 201


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str, tmp_path: Path) -> CliRunner:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", database_url)
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    yield runner
    get_settings.cache_clear()


def test_cli(cli: CliRunner) -> None:
    created = cli.invoke(app, ["collections", "create", "notes", "--max-tokens", "100", "--json"])
    assert created.exit_code == 0, created.output
    assert json.loads(created.stdout)["chunking"]["max_tokens"] == 100
    listed = json.loads(cli.invoke(app, ["collections", "list", "--json"]).stdout)
    assert [c["name"] for c in listed] == ["notes"]
    again = cli.invoke(app, ["collections", "create", "notes"])
    assert again.exit_code == 1 and again.stderr.strip() == "error: collection 'notes' already exists in this project"
    assert cli.invoke(app, ["collections", "delete", "notes", "--json"]).exit_code == 0
    gone = cli.invoke(app, ["collections", "delete", "notes"])
    assert gone.exit_code == 1 and "no collection named 'notes'" in gone.stderr
