"""Every entry point runs the platform the same way, so what a process observed reaches the
store: a CLI command's LLM call, a worker's, whether or not it evaluates alerts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.jobs import JobStatus
from shipyard.monitoring.alerts import LEASE
from shipyard.platform import Platform, build_platform
from shipyard.settings import get_settings
from shipyard.store import leases, upgrade
from shipyard.store.types import utcnow
from shipyard.telemetry.series import SeriesQuery, read
from tests.conftest import make_settings, wait_until

REPO = Path(__file__).resolve().parents[2]


def llm_calls(platform: Platform) -> float:
    """Calls in the default project's per-minute `llm` series, as every process wrote them."""
    since = utcnow() - timedelta(hours=1)
    return sum(s.count for s in read(platform.database, SeriesQuery("llm", DEFAULT_PROJECT_ID), since))


@pytest.fixture
def store(tmp_path: Path, database_url: str) -> Iterator[Platform]:
    """The store the processes under test share, with a collection holding one document."""
    platform = build_platform(make_settings(tmp_path, database_url))
    upgrade(platform.database)
    platform.collections.create(DEFAULT_PROJECT_ID, "handbook")
    yield platform
    platform.close()


def test_a_cli_ask_writes_its_llm_series_before_it_exits(
    store: Platform, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("SHIPYARD_DATABASE_URL", database_url)
    get_settings.cache_clear()
    handbook = tmp_path / "rollbacks.md"
    handbook.write_text("# Rollbacks\n\nTo roll back a deployment, run `shipyard deploy rollback`.\n")
    cli = CliRunner()
    try:
        assert cli.invoke(app, ["ingest", str(handbook), "--collection", "handbook"]).exit_code == 0
        result = cli.invoke(app, ["ask", "How do I roll back a deployment?", "--collection", "handbook"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "shipyard deploy rollback" in result.stdout
    assert llm_calls(store) == 1  # written when the command ended, not lost with the process


def test_a_worker_without_the_alert_lease_writes_its_series(store: Platform, tmp_path: Path, database_url: str) -> None:
    # Another process evaluates alerts (and so, before the redesign, was the only one that wrote).
    assert leases.acquire(store.database, LEASE, "another-process", 600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    env.update(SHIPYARD_HOME=str(tmp_path / "home"), SHIPYARD_DATABASE_URL=database_url,
               SHIPYARD_PLUGINS="tests.plugins.ask_jobs", SHIPYARD_JOB_POLL_SECONDS="0.05",
               SHIPYARD_SERIES_FLUSH_SECONDS="0.2", PYTHONPATH=str(REPO))  # fmt: skip
    log = (tmp_path / "worker.log").open("wb")
    worker = subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "worker"], env=env, cwd=REPO,
                              stdout=log, stderr=subprocess.STDOUT)  # fmt: skip
    try:
        job = store.jobs.enqueue(DEFAULT_PROJECT_ID, "test.ask", {"collection": "handbook", "question": "rollback?"})
        wait_until(lambda: store.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.SUCCEEDED, timeout=60)
        # While the worker runs: its series writer is part of its lifecycle, like every process's.
        wait_until(lambda: llm_calls(store) == 1, timeout=10)
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)
        log.close()
    assert worker.returncode == 0, (tmp_path / "worker.log").read_text()
