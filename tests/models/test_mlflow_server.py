"""The production path: a real `mlflow server` on PostgreSQL, reached through a proxy a test can cut."""

from __future__ import annotations

import gc
import os
import runpy
import socket
import subprocess
import sys
import time
import uuid
import warnings
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa

from shipyard.auth import Role
from shipyard.platform import build_platform
from shipyard.settings import get_settings
from shipyard.store import upgrade
from tests.conftest import PG_ADMIN_URL, make_settings, serve
from tests.models.conftest import BIKE_ROW, ROOT
from tests.tcp_proxy import TcpProxy


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TcpProxy]:
    """`mlflow server` with a fresh PostgreSQL database and a proxied artifact store."""
    database = f"mlflow_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text(f'CREATE DATABASE "{database}"'))
    backend = PG_ADMIN_URL.rsplit("/", 1)[0] + f"/{database}"
    port = _free_port()
    bin_dir = str(Path(sys.executable).parent)
    env = {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}", "MLFLOW_DISABLE_TELEMETRY": "true"}
    log = (tmp_path_factory.mktemp("mlflow-server") / "server.log").open("w")
    process = subprocess.Popen(
        [f"{bin_dir}/mlflow", "server", "--backend-store-uri", backend, "--host", "127.0.0.1", "--port", str(port),
         "--artifacts-destination", str(tmp_path_factory.mktemp("mlflow-artifacts")), "--workers", "1"],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    proxy = TcpProxy("127.0.0.1", port)
    try:
        deadline = time.monotonic() + 90
        while True:
            assert process.poll() is None, f"mlflow server exited: {Path(log.name).read_text()[-2000:]}"
            assert time.monotonic() < deadline, "mlflow server did not start in 90 s"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.5)
        yield proxy
    finally:
        _drop_mlflow_sessions()
        proxy.close()
        process.terminate()
        process.wait(30)
        log.close()
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'))
        admin.dispose()


def _drop_mlflow_sessions() -> None:
    """MLflow keeps pooled HTTP sessions in an lru_cache; the ones whose connections the proxy cut
    would otherwise be garbage-collected (with a ResourceWarning) in some later test."""
    from mlflow.utils.request_utils import _cached_get_request_session

    _cached_get_request_session.cache_clear()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ResourceWarning)
        gc.collect()


def test_train_register_serve_against_an_mlflow_server_and_survive_its_outage(
    mlflow_server: TcpProxy, tmp_path: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri = f"http://127.0.0.1:{mlflow_server.port}"
    monkeypatch.setenv("SHIPYARD_HOME", str(tmp_path / "trainer"))
    monkeypatch.setenv("SHIPYARD_MLFLOW_URI", uri)
    monkeypatch.setenv("SHIPYARD_PROJECT", f"p{uuid.uuid4().hex[:8]}")
    project = os.environ["SHIPYARD_PROJECT"]
    monkeypatch.setattr(sys, "argv", ["bike.py", "--max-iter", "30"])
    get_settings.cache_clear()
    try:
        runpy.run_path(str(ROOT / "examples" / "bike.py"), run_name="__main__")
    finally:
        get_settings.cache_clear()

    settings = make_settings(tmp_path, database_url, mlflow_uri=uri, model_refresh_seconds=0.2)
    services = build_platform(settings)
    upgrade(services.database)
    services.access.create_project(project)
    try:
        with serve(services) as live:
            headers = live.key(Role.EDITOR, project=project)
            client = live.client
            versions = client.get("/v1/registry/models/bike-demand/versions", headers=headers).json()
            assert versions[0]["version"] == 1 and versions[0]["metrics"]["r2"] > 0.5
            client.post("/v1/registry/models/bike-demand/versions/1/approve", json={}, headers=headers)
            client.put("/v1/registry/models/bike-demand/aliases/champion", json={"version": 1}, headers=headers)
            created = client.post("/v1/deployments", json={"name": "bikes", "model": "bike-demand"}, headers=headers)
            assert created.status_code == 201 and created.json()["ready"], created.text
            body = {"instances": [BIKE_ROW]}
            answer = client.post("/v1/models/bikes:predict", json=body, headers=headers)
            assert answer.status_code == 200

            mlflow_server.cut()
            try:
                started = time.monotonic()
                down = client.get("/v1/registry/models", headers=headers)
                assert down.status_code == 503 and "MLflow at http://127.0.0.1" in down.json()["error"]["message"]
                assert time.monotonic() - started < 5
                time.sleep(0.5)  # a few refreshes fail meanwhile
                still = client.post("/v1/models/bikes:predict", json=body, headers=headers)
                assert still.status_code == 200 and still.json() == answer.json()
                problem = client.get("/v1/deployments/bikes", headers=headers).json()["problem"]
                assert problem and "cannot check alias" in problem
            finally:
                mlflow_server.restore()
    finally:
        services.close()
