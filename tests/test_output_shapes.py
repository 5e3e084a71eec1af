"""One output schema per entity: CLI `--json` prints what the API answers, key for key.

Each entity is created through one edge and read through both; a shape is the nesting of keys
(values differ: ids, times, trace ids).
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.platform import Platform
from tests.conftest import LiveServer
from tests.rag.conftest import DOCS


def shape(value: Any) -> Any:
    """The keys and nesting of a JSON value, without its scalars."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    return None


def cli_json(cli: CliRunner, *args: str) -> Any:
    result = cli.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


@pytest.mark.xfail(
    strict=True, reason="cli/collections.py still flattens chunking: its owner applies CollectionPublic there"
)
def test_a_collection_has_one_shape(live: LiveServer, cli: CliRunner) -> None:
    created = cli_json(cli, "collections", "create", "handbook")
    api = live.client.get("/v1/collections/handbook", headers=live.key("viewer"))
    assert api.status_code == 200, api.text
    assert shape(created) == shape(api.json())
    listed = cli_json(cli, "collections", "list")
    assert shape(listed) == shape(live.client.get("/v1/collections", headers=live.key("viewer")).json())


def test_an_answer_has_one_shape(live: LiveServer, services: Platform, cli: CliRunner) -> None:
    collection = services.collections.create(DEFAULT_PROJECT_ID, "handbook")
    services.ingester.ingest(collection, DOCS)
    question = "How do I roll back a deployment?"
    api = live.client.post("/v1/ask", json={"collection": "handbook", "question": question}, headers=live.key("viewer"))
    assert api.status_code == 200, api.text
    printed = cli_json(cli, "ask", question, "-c", "handbook")
    assert shape(printed) == shape(api.json()) and "total_tokens" in printed["usage"]
