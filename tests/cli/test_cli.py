"""The CLI acts directly on the configured store; --json output is for scripts."""

from __future__ import annotations

import json

from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.settings import get_settings


def run(cli: CliRunner, *args: str) -> dict | list:
    result = cli.invoke(app, list(args))
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_projects_and_keys(cli: CliRunner) -> None:
    if "sqlite" not in get_settings().resolved_database_url:
        assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0  # production migrates on purpose
    project = run(cli, "projects", "create", "acme", "--json")
    assert project["name"] == "acme" and project["id"].startswith("prj_")
    assert [p["name"] for p in run(cli, "projects", "list", "--json")] == ["acme", "default"]

    created = run(cli, "keys", "create", "--name", "ci", "--role", "editor", "--project", "acme", "--json")
    assert created["key"].startswith("sy_") and created["role"] == "editor" and created["project"] == "acme"
    listed = run(cli, "keys", "list", "--project", "acme", "--json")
    assert [k["id"] for k in listed] == [created["id"]]
    assert "key" not in listed[0]

    revoked = run(cli, "keys", "revoke", created["id"], "--json")
    assert revoked["revoked_at"] is not None
    assert run(cli, "keys", "list", "--project", "acme", "--json") == []
    assert len(run(cli, "keys", "list", "--project", "acme", "--include-revoked", "--json")) == 1


def test_plain_key_create_prints_only_the_key_on_stdout(cli: CliRunner) -> None:
    cli.invoke(app, ["db", "upgrade"])
    result = cli.invoke(app, ["keys", "create", "--name", "ops", "--role", "admin"])
    assert result.exit_code == 0
    assert result.stdout.strip().startswith("sy_") and len(result.stdout.strip().splitlines()) == 1
    assert "not shown again" in result.stderr


def test_errors_are_one_line_with_exit_code_1(cli: CliRunner) -> None:
    cli.invoke(app, ["db", "upgrade"])
    run(cli, "projects", "create", "acme", "--json")
    duplicate = cli.invoke(app, ["projects", "create", "acme"])
    assert duplicate.exit_code == 1
    assert duplicate.stderr.strip() == "error: project 'acme' already exists"
    missing = cli.invoke(app, ["keys", "create", "--name", "x", "--role", "viewer", "--project", "nope"])
    assert missing.exit_code == 1 and missing.stderr.strip() == "error: no project named 'nope'"
    revoke = cli.invoke(app, ["keys", "revoke", "key_nope"])
    assert revoke.exit_code == 1 and "no API key" in revoke.stderr


def test_usage_errors_exit_2(cli: CliRunner) -> None:
    result = cli.invoke(app, ["keys", "create", "--name", "x", "--role", "root"])
    assert result.exit_code == 2


def test_db_upgrade_and_current(cli: CliRunner) -> None:
    before = run(cli, "db", "current", "--json")
    assert before["current"] is None and before["up_to_date"] is False
    upgraded = run(cli, "db", "upgrade", "--json")
    assert upgraded["to"] == before["head"]
    assert run(cli, "db", "current", "--json")["up_to_date"] is True


def test_jobs_and_requests(cli: CliRunner) -> None:
    cli.invoke(app, ["db", "upgrade"])
    jobs = run(cli, "jobs", "list", "--json")
    assert jobs == {"data": [], "next_cursor": None}
    missing = cli.invoke(app, ["jobs", "show", "job_nope"])
    assert missing.exit_code == 1 and "no job with id" in missing.stderr
    assert run(cli, "requests", "list", "--json") == {"data": [], "next_cursor": None}
    assert run(cli, "requests", "cleanup", "--json") == {"deleted": 0, "retention_days": 30}


def test_production_store_must_be_migrated_on_purpose(cli: CliRunner) -> None:
    if "sqlite" in get_settings().resolved_database_url:
        run(cli, "projects", "list", "--json")  # the embedded default migrates itself
        return
    result = cli.invoke(app, ["projects", "list"])
    assert result.exit_code == 1
    assert "run `shipyard db upgrade`" in result.stderr
