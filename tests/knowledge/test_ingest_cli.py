"""`shipyard ingest`, `search` and `documents` on a folder of files, on SQLite and PostgreSQL."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.platform import build_platform
from shipyard.settings import get_settings
from tests.conftest import serve


@pytest.fixture
def cli(monkeypatch: pytest.MonkeyPatch, database_url: str, vector_url: str, tmp_path: Path) -> Iterator[CliRunner]:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", database_url)
    monkeypatch.setenv("SHIPYARD_MAX_FILE_BYTES", "2000")
    monkeypatch.setenv("SHIPYARD_VECTOR_URL", vector_url)
    get_settings.cache_clear()
    runner = CliRunner()
    assert runner.invoke(app, ["db", "upgrade"]).exit_code == 0
    assert runner.invoke(app, ["collections", "create", "notes"]).exit_code == 0
    yield runner
    get_settings.cache_clear()


def _folder(root: Path) -> Path:
    notes = root / "notes"
    (notes / "ops").mkdir(parents=True)
    (notes / ".git").mkdir()
    (notes / "drafts").mkdir()
    (notes / "ops" / "backup.md").write_text("# Backups\n\nNightly backups run at 02:00 and are kept 30 days.\n")
    (notes / "welcome.txt").write_text("Welcome aboard. Lunch is served at noon.")
    (notes / "faq.jsonl").write_text('{"id": "faq-1", "text": "Parking is in garage B.", "floor": 2}\n')
    (notes / "drafts" / "secret.md").write_text("Draft: the acquisition closes in May.")
    (notes / ".git" / "HEAD.md").write_text("not a document")
    (notes / "logo.png").write_bytes(b"\x89PNG\r\n")
    (notes / "huge.txt").write_text("word " * 1000)
    return notes


def test_ingest_a_folder_then_search_and_delete(
    cli: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    _folder(tmp_path)
    first = cli.invoke(app, ["ingest", "notes", "--collection", "notes", "--exclude", "drafts/*", "--json"])
    assert first.exit_code == 1, first.output  # huge.txt is over the limit; the rest is indexed
    report = json.loads(first.stdout)
    assert report["documents"] == {"created": 3, "updated": 0, "unchanged": 0, "failed": 1}
    assert report["errors"] == [
        {"item": "notes/huge.txt", "error": "notes/huge.txt: 5000 bytes is over SHIPYARD_MAX_FILE_BYTES (2000)"}
    ]
    (tmp_path / "notes" / "huge.txt").unlink()
    (tmp_path / "notes" / "welcome.txt").write_text("Welcome aboard. Lunch is served at one.")
    second = cli.invoke(app, ["ingest", "notes", "-c", "notes", "--exclude", "drafts/*"])
    assert second.exit_code == 0, second.output
    assert "1 updated, 2 unchanged; 1 chunks written" in second.stdout

    found = cli.invoke(app, ["search", "when do backups run?", "-c", "notes", "--json"])
    assert found.exit_code == 0, found.output
    top = json.loads(found.stdout)[0]
    assert top["document_id"] == "notes/ops/backup.md" and top["heading_path"] == ["Backups"]
    human = cli.invoke(app, ["search", "parking garage", "-c", "notes", "-k", "1"])
    assert human.stdout.startswith("[1] faq-1") and "Parking is in garage B." in human.stdout
    filtered = cli.invoke(app, ["search", "parking", "-c", "notes", "--filter", '{"floor": {"$gt": 2}}', "--json"])
    assert json.loads(filtered.stdout) == []

    listed = json.loads(cli.invoke(app, ["documents", "list", "-c", "notes", "--json"]).stdout)
    assert [d["id"] for d in listed["data"]] == ["faq-1", "notes/ops/backup.md", "notes/welcome.txt"]
    assert cli.invoke(app, ["documents", "delete", "faq-1", "-c", "notes"]).stdout.strip() == "deleted faq-1 (1 chunks)"
    gone = cli.invoke(app, ["documents", "delete", "faq-1", "-c", "notes"])
    assert gone.exit_code == 1 and gone.stderr.strip() == "error: no document 'faq-1' in collection 'notes'"


def test_ingest_and_search_errors(cli: CliRunner, tmp_path: Path) -> None:
    missing = cli.invoke(app, ["ingest", str(tmp_path / "nope"), "-c", "notes"])
    assert missing.exit_code == 1 and missing.stderr.strip().endswith("nope: no such file, folder or http(s) URL")
    (tmp_path / "a.md").write_text("hello")
    wrong = cli.invoke(app, ["ingest", str(tmp_path / "a.md"), "-c", "nope"])
    assert wrong.exit_code == 1 and "no collection named 'nope'" in wrong.stderr
    bad_filter = cli.invoke(app, ["search", "x", "-c", "notes", "--filter", "{bad"])
    assert bad_filter.exit_code == 1 and bad_filter.stderr.startswith("error: --filter is not valid JSON")
    bad_k = cli.invoke(app, ["search", "x", "-c", "notes", "-k", "0"])
    assert bad_k.exit_code == 1 and bad_k.stderr.strip() == "error: top_k must be between 1 and 100, got 0"
    none = cli.invoke(app, ["ingest", str(tmp_path), "-c", "notes", "--glob", "*.pdf"])
    assert none.exit_code == 1 and "no files to ingest" in none.stderr


SEARCH, ASK, KEYS = "/v1/collections/notes/search", "/v1/ask", "/v1/keys"
BUDGET, CANARY = "/v1/projects/default/budgets/day", "/v1/deployments/bike/canary"
SILENCE = "/v1/alerts/silences"


@pytest.mark.parametrize(
    ("url", "body", "arguments", "reason"),
    [
        (SEARCH, {"query": "x", "top_k": 0}, ["search", "x", "-k", "0"], "top_k must be between 1 and 100, got 0"),
        (
            SEARCH,
            {"query": "x", "mode": "fuzzy"},
            ["search", "x", "--mode", "fuzzy"],
            "mode must be one of hybrid, dense, lexical, got 'fuzzy'",
        ),
        (SEARCH, {"query": "  "}, ["search", "  "], "query must not be empty"),
        (ASK, {"question": "x", "top_k": 101}, ["ask", "x", "-k", "101"], "top_k must be between 1 and 100, got 101"),
        (ASK, {"question": " "}, ["ask", " "], "question must not be empty"),
        (
            KEYS,
            {"name": "ci", "role": "viewer", "rate_limit_per_minute": 0},
            ["keys", "create", "--name", "ci", "--role", "viewer", "--rate-limit", "0"],
            "rate_limit_per_minute must be between 1 and 1000000000, got 0",
        ),
        (
            KEYS,
            {"name": " ", "role": "viewer"},
            ["keys", "create", "--name", " ", "--role", "viewer"],
            "key name must be 1-128 characters",
        ),
        (
            BUDGET,
            {"max_cost": 0},
            ["budgets", "set", "default", "day", "--max-cost", "0"],
            "max_cost must be above 0, got 0.0",
        ),
        (BUDGET, {}, ["budgets", "set", "default", "day"], "a budget needs max_tokens, max_cost or both"),
        (
            CANARY,
            {"version": 2, "percent": 0},
            ["deploy", "canary", "bike", "--version", "2", "--percent", "0"],
            "percent must be above 0 and at most 100, got 0.0",
        ),
        (
            SILENCE,
            {"matchers": {"alertname": "x"}, "comment": "c" * 2001},
            ["alerts", "silence", "alertname=x", "--comment", "c" * 2001],
            "comment: String should have at most 2000 characters",
        ),
    ],
)
def test_the_api_and_the_cli_refuse_a_bad_request_with_the_same_reason(
    cli: CliRunner, url: str, body: dict[str, object], arguments: list[str], reason: str
) -> None:
    """Search, ask, key, budget, canary and silence requests are the domain's specs: one rule, one
    message, at either edge."""
    with serve(build_platform(get_settings())) as live:
        payload = {**body, "collection": "notes"} if url == ASK else body
        answer = live.client.request(
            "PUT" if url in (BUDGET, CANARY) else "POST", url, json=payload, headers=live.key("admin")
        )
    assert answer.status_code == 422
    error = answer.json()["error"]
    assert error["code"] == "invalid_request"
    # A validator's message reads the same; pydantic's own names the field where the API got it.
    assert error["message"] in (f"invalid request: {reason}", f"invalid request: body.{reason}")
    refused = cli.invoke(app, [*arguments, "-c", "notes"] if url in (SEARCH, ASK) else arguments)
    assert refused.exit_code == 1 and refused.stderr.strip() == f"error: {reason}"


NOTE = "n" * 2001


@pytest.mark.parametrize(
    ("method", "url", "body", "arguments"),
    [
        ("POST", "/v1/collections", {"name": "c2", "description": NOTE},
         ["collections", "create", "c2", "--description", NOTE]),
        ("POST", "/v1/deployments/bike/rollback", {"reason": NOTE}, ["deploy", "rollback", "bike", "--reason", NOTE]),
        ("POST", "/v1/registry/models/bike/versions/1/reject", {"reason": NOTE},
         ["models", "reject", "bike", "1", "--reason", NOTE]),
    ],
)  # fmt: skip
def test_a_note_over_2000_characters_is_refused_at_either_edge_alike(
    cli: CliRunner, method: str, url: str, body: dict[str, object], arguments: list[str]
) -> None:
    """Descriptions and reasons were capped in the API's schema only: the CLI stored any length."""
    what = "description" if "description" in body else "reason"
    reason = f"{what} is at most 2,000 characters, got 2,001"
    with serve(build_platform(get_settings())) as live:
        answer = live.client.request(method, url, json=body, headers=live.key("admin"))
    assert answer.status_code == 400 and answer.json()["error"]["message"] == reason
    refused = cli.invoke(app, arguments)
    assert refused.exit_code == 1 and refused.stderr.strip() == f"error: {reason}"


LONG_URL = "https://docs.example/" + "a" * 2000


@pytest.mark.parametrize(
    ("method", "url", "body", "arguments", "reason"),
    [
        ("POST", "/v1/projects", {"name": ""}, ["projects", "create", ""],
         "invalid project name '': use 1-64 lowercase letters, digits, '-' or '_', starting with a letter or digit"),
        ("POST", "/v1/collections", {"name": "Notes"}, ["collections", "create", "Notes"],
         "invalid collection name 'Notes': use 1-64 lowercase letters, digits, '-' or '_', starting with a letter "
         "or digit"),
        ("POST", "/v1/collections/notes/documents", {"urls": [LONG_URL]}, ["ingest", LONG_URL, "-c", "notes"],
         "expected an http(s) URL of at most 512 characters (its document's id)"),
        ("POST", "/v1/collections/notes/documents", {"urls": ["https://docs.example/"], "text_field": "f" * 201},
         ["ingest", "https://docs.example/", "-c", "notes", "--text-field", "f" * 201],
         "text_field is at most 200 characters, got 201"),
    ],
)  # fmt: skip
def test_a_rule_the_domain_owns_is_refused_at_either_edge_alike(
    cli: CliRunner, method: str, url: str, body: dict[str, object], arguments: list[str], reason: str
) -> None:
    """Names, ingest URLs and text fields had a bound in the API's schema (a 422 in pydantic's
    words) and another in the service; the CLI took a 2,001-character URL and any text field."""
    with serve(build_platform(get_settings())) as live:
        answer = live.client.request(method, url, json=body, headers=live.key("admin"))
    assert answer.status_code == 400, answer.text
    assert answer.json()["error"]["message"] in (reason, f"urls[0]: {reason}")
    refused = cli.invoke(app, arguments)
    assert refused.exit_code == 1 and refused.stderr.strip() == f"error: {reason}"
