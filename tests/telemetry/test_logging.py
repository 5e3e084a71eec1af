"""Structured logs: one JSON object per line, carrying the request's trace id."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from shipyard.auth import Role
from tests.conftest import LiveServer

SCRIPT = """
from shipyard.telemetry import configure_logging
from shipyard.telemetry.logging import TRACE_ID
import logging, structlog
configure_logging("info", "json")
token = TRACE_ID.set("4bf92f3577b34da6a3ce929d0e0e4736")
structlog.get_logger("t").info("inside_request", answer=42)
logging.getLogger("uvicorn.error").warning("from stdlib")
TRACE_ID.reset(token)
structlog.get_logger("t").info("outside_request")
"""


def test_log_lines_are_json_with_the_trace_id(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, check=True).stderr
    lines = [json.loads(line) for line in out.splitlines()]
    assert lines[0]["event"] == "inside_request" and lines[0]["answer"] == 42
    assert lines[0]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert lines[0]["level"] == "info" and lines[0]["timestamp"].endswith("Z")
    assert lines[1]["event"] == "from stdlib" and lines[1]["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    assert "trace_id" not in lines[2]


def test_metrics_use_route_templates_and_otel_names(live: LiveServer) -> None:
    headers = live.key(Role.VIEWER)
    live.client.get("/v1/jobs/job_a", headers=headers)
    live.client.get("/v1/jobs/job_b", headers=headers)
    text = live.client.get("/metrics").text
    assert "# TYPE http_server_request_duration_seconds histogram" in text
    line = (
        'http_server_request_duration_seconds_count{http_request_method="GET",'
        'http_response_status_code="404",http_route="/v1/jobs/{job_id}"} 2.0'
    )
    assert line in text
    assert "/v1/jobs/job_a" not in text  # ids never become labels
    assert 'shipyard_jobs{status="queued"}' in text
    assert "shipyard_request_log_queue_depth" in text


def test_cli_log_lines_go_to_stderr_not_into_its_output() -> None:
    """A command's stdout is data (`--json` piped to jq): a warning from a thread it started, e.g. a
    notifier that cannot be reached, goes to whatever stderr is when it is written."""
    import logging

    import structlog
    from typer.testing import CliRunner

    from shipyard.cli.main import app

    runner = CliRunner()
    assert runner.invoke(app, ["version"]).exit_code == 0  # every command configures the logs
    with runner.isolation() as (out, err, _):
        structlog.get_logger("deliveries").warning("notification_failed", error="ConnectError")
        structlog.get_logger("deliveries").info("delivered")  # below the CLI's level
        logging.getLogger("alembic").warning("from stdlib")
        printed, logged = out.getvalue(), err.getvalue().decode()
    assert printed == b""
    lines = logged.splitlines()
    assert len(lines) == 2 and "notification_failed" in lines[0] and "from stdlib" in lines[1]
