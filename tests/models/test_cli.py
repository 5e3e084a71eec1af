"""`shipyard models` and `shipyard deploy` on the embedded default: the registry walk a user takes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.settings import Settings
from tests.models.conftest import ROOT


@pytest.fixture
def cli_settings(model_settings: Settings) -> Settings:
    return model_settings


@pytest.fixture
def cli(cli: CliRunner, model_settings: Settings) -> CliRunner:
    """The shared `cli` fixture on the model tests' store, PostgreSQL migrated first."""
    if "sqlite" not in model_settings.resolved_database_url:
        assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    return cli


def run(cli: CliRunner, *args: str) -> Any:
    result = cli.invoke(app, [*args, "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def fails(cli: CliRunner, *args: str, code: int = 1) -> str:
    result = cli.invoke(app, list(args))
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.stderr.strip()


def test_registry_and_deployment_walk(cli: CliRunner) -> None:
    assert [m["name"] for m in run(cli, "models", "list")] == ["bike-demand", "flaky"]
    versions = run(cli, "models", "versions", "bike-demand")
    assert [v["version"] for v in versions] == [2, 1] and versions[0]["approval"]["state"] == "pending"
    run(cli, "models", "alias", "bike-demand", "1", "champion")
    assert "approve it first" in fails(cli, "deploy", "create", "bikes", "--model", "bike-demand")
    approved = run(cli, "models", "approve", "bike-demand", "1", "--reason", "r2 0.82 on held-out weeks")
    assert approved["approval"]["state"] == "approved" and approved["approval"]["by"].startswith("cli")
    assert "Missing option '--reason'" in fails(cli, "models", "reject", "bike-demand", "2", code=2)
    deployment = run(cli, "deploy", "create", "bikes", "--model", "bike-demand")
    assert (deployment["version"], deployment["alias"]) == (1, "champion")
    assert "approve it first" in fails(cli, "deploy", "canary", "bikes", "--version", "2", "--percent", "10")
    run(cli, "models", "approve", "bike-demand", "2")
    canary = run(cli, "deploy", "canary", "bikes", "--version", "2", "--percent", "10")
    assert (canary["canary_version"], canary["canary_percent"]) == (2, 10.0)
    promoted = run(cli, "deploy", "promote", "bikes")
    assert (promoted["version"], promoted["previous_version"]) == (2, 1)
    assert run(cli, "models", "versions", "bike-demand")[0]["aliases"] == ["champion"]
    rolled = run(cli, "deploy", "rollback", "bikes", "--reason", "p99 up")
    assert rolled["version"] == 1
    assert [d["name"] for d in run(cli, "deploy", "list")] == ["bikes"]
    assert "no deployment 'nope'" in fails(cli, "deploy", "show", "nope")
    assert "no model 'bike'" in fails(cli, "models", "versions", "bike")


def test_models_train_runs_an_example_in_a_project(tmp_path: Path) -> None:
    """The CLI runs the script as a user would: its own process, the project in the environment."""
    env = {"SHIPYARD_HOME": str(tmp_path / "home"), "PATH": str(Path(sys.executable).parent)}
    result = subprocess.run(
        [str(Path(sys.executable).parent / "shipyard"), "models", "train", str(ROOT / "examples" / "adult.py"),
         "--project", "census", "--C", "0.5"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr[-2000:]
    assert "registered adult-income version 1 (project census" in result.stdout
    failed = subprocess.run(
        [str(Path(sys.executable).parent / "shipyard"), "models", "train", str(ROOT / "examples" / "adult.py"),
         "--bogus"],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    assert failed.returncode == 2 and "exited with status 2" in failed.stderr
