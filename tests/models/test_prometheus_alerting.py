"""The production path with the real peers: a real Prometheus scrapes a live shipyard's /metrics and
evaluates the rules shipyard exported; a real Alertmanager delivers the alert to shipyard's
webhook receiver; the failing canary is rolled back. Nothing here is simulated."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from shipyard.auth import Role
from tests.conftest import LiveServer, wait_until
from tests.models.test_alert_actions import apply, canary, rolled_back, traffic

pytestmark = pytest.mark.slow


def _binary(name: str) -> str:
    found = shutil.which(name)
    assert found, f"{name} is installed by `make services` (scripts/services.sh)"
    return found


def _port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def running(args: list[str], log: Path, ready_url: str) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("wb") as out:
        process = subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT)
    try:

        def ready() -> bool:
            assert process.poll() is None, log.read_text()[-3000:]
            try:
                return httpx.get(ready_url, timeout=1).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(ready, timeout=30, interval=0.2)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the store is not what this tests
def test_prometheus_and_alertmanager_roll_a_failing_canary_back(model_live: LiveServer, tmp_path: Path) -> None:
    headers = canary(model_live)
    sli = {"availability": {"deployment": "flaky", "role": "canary"}}
    apply(model_live, headers, {"slos": [{"name": "flaky-canary", "objective": 99, "action": "rollback_canary",
                                          "sli": sli}]})  # fmt: skip
    rules = model_live.client.get("/v1/alerts/prometheus-rules", headers=headers)
    assert rules.status_code == 200
    (tmp_path / "rules.yml").write_text(rules.text)
    checked = subprocess.run([_binary("promtool"), "check", "rules", str(tmp_path / "rules.yml")],
                             capture_output=True, text=True, check=False)  # fmt: skip
    assert checked.returncode == 0, checked.stdout + checked.stderr

    receiver_key = model_live.key(Role.EDITOR)
    am_port, prom_port = _port(), _port()
    target = model_live.url.removeprefix("http://")
    am_config: dict[str, Any] = {
        "route": {"receiver": "shipyard", "group_by": ["alertname"], "group_wait": "1s", "group_interval": "1s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": "shipyard", "webhook_configs": [{
            "url": f"{model_live.url}/v1/alerts/alertmanager", "send_resolved": True,
            "http_config": {"authorization": {"type": "Bearer",
                                              "credentials": receiver_key["Authorization"].split()[1]}},
        }]}],
    }  # fmt: skip
    (tmp_path / "alertmanager.yml").write_text(yaml.safe_dump(am_config))
    prometheus_config = {
        "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
        "rule_files": [str(tmp_path / "rules.yml")],
        "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{am_port}"]}]}]},
        "scrape_configs": [{"job_name": "shipyard", "static_configs": [{"targets": [target]}]}],
    }
    (tmp_path / "prometheus.yml").write_text(yaml.safe_dump(prometheus_config))
    alertmanager = [
        _binary("prometheus-alertmanager"), f"--config.file={tmp_path / 'alertmanager.yml'}",
        f"--storage.path={tmp_path / 'am-data'}", f"--web.listen-address=127.0.0.1:{am_port}",
        "--cluster.listen-address=",
    ]  # fmt: skip
    prometheus = [
        _binary("prometheus"), f"--config.file={tmp_path / 'prometheus.yml'}",
        f"--storage.tsdb.path={tmp_path / 'prom-data'}", f"--web.listen-address=127.0.0.1:{prom_port}",
    ]  # fmt: skip
    with (
        running(alertmanager, tmp_path / "am.log", f"http://127.0.0.1:{am_port}/-/ready"),
        running(prometheus, tmp_path / "prom.log", f"http://127.0.0.1:{prom_port}/-/ready"),
    ):
        deadline = time.monotonic() + 90
        while model_live.client.get("/v1/deployments/flaky", headers=headers).json()["canary_version"] is not None:
            assert time.monotonic() < deadline, (tmp_path / "prom.log").read_text()[-2000:]
            traffic(model_live, headers, 10)  # half of it fails on the canary
            time.sleep(0.5)
        # Prometheus really scraped shipyard: the canary's failures are in its database.
        errors = 'shipyard_predictions_total{deployment="flaky",role="canary",status="error"}'
        query = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/query", params={"query": errors})
        assert query.json()["data"]["result"], query.text
        fired = httpx.get(f"http://127.0.0.1:{prom_port}/api/v1/alerts").json()["data"]["alerts"]
        assert any(a["labels"]["alertname"] == "ShipyardSLOBurnRateHigh" and a["state"] == "firing" for a in fired)
    (event,) = rolled_back(model_live, headers)
    assert (
        event["actor"] == "alert:flaky-canary"
        and "Prometheus alert ShipyardSLOBurnRateHigh" in event["detail"]["reason"]
    )
    alerts = model_live.client.get("/v1/alerts", params={"state": "firing"}, headers=headers).json()["data"]
    page = next(a for a in alerts if a["severity"] == "page")
    assert page["source"] == "prometheus" and page["labels"]["deployment"] == "flaky"
    assert page["action"] == "rolled back canary version 2 of deployment flaky"
