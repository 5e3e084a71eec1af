"""Property-based fuzzing of the whole HTTP API from its OpenAPI schema: no input is a 5xx."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from shipyard.auth import Role
from tests.conftest import LiveServer

pytestmark = pytest.mark.slow
SCHEMATHESIS = Path(sys.executable).parent / "schemathesis"


def test_no_generated_request_causes_a_server_error(live: LiveServer, tmp_path: Path) -> None:
    headers = live.key(Role.ADMIN, rate_limit_per_minute=1_000_000)
    env = {k: v for k, v in os.environ.items() if not k.startswith("SHIPYARD_")}
    result = subprocess.run(
        [
            str(SCHEMATHESIS),
            "run",
            f"{live.url}/openapi.json",
            "--header",
            f"Authorization: {headers['Authorization']}",
            "--checks",
            "not_a_server_error",
            "--max-examples",
            "25",
            "--seed",
            "1",
            "--generation-database",
            "none",
            "--no-color",
        ],
        cwd=tmp_path,  # it writes .hypothesis/ into the working directory
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-4000:]
    assert " passed" in result.stdout and "failed" not in result.stdout.split("SUMMARY")[-1]
