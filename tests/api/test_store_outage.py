"""The store going away: 503 with a reason, then recovery without a restart (real PostgreSQL)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.engine import make_url

from shipyard.auth import Role
from shipyard.platform import build_platform
from shipyard.store import upgrade
from tests.conftest import make_settings, postgres_schema, serve
from tests.tcp_proxy import TcpProxy


@pytest.fixture
def proxied_pg_url() -> Iterator[tuple[str, TcpProxy]]:
    with postgres_schema() as url:
        parsed = make_url(url)
        proxy = TcpProxy(parsed.host or "127.0.0.1", parsed.port or 5432)
        try:
            yield parsed.set(port=proxy.port).render_as_string(hide_password=False), proxy
        finally:
            proxy.close()


def test_store_outage_is_503_and_recovers(tmp_path: Path, proxied_pg_url: tuple[str, TcpProxy]) -> None:
    url, proxy = proxied_pg_url
    # No auth cache, so every call needs the store.
    services = build_platform(make_settings(tmp_path, url, auth_cache_seconds=0, worker_in_process=False))
    upgrade(services.database)
    with serve(services) as live:
        headers = live.key(Role.ADMIN)
        assert live.client.get("/readyz").status_code == 200
        assert live.client.get("/v1/me", headers=headers).status_code == 200

        proxy.cut()
        ready = live.client.get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["status"] == "unavailable" and "unreachable" in ready.json()["reason"]
        down = live.client.get("/v1/me", headers=headers)
        assert down.status_code == 503
        assert down.json()["error"]["code"] == "store_unavailable"
        assert "Traceback" not in down.text
        assert live.client.get("/healthz").status_code == 200  # liveness does not depend on the store

        proxy.restore()
        assert live.client.get("/readyz").status_code == 200
        assert live.client.get("/v1/me", headers=headers).status_code == 200
        # Calls made during the outage were kept and written once the store came back.
        live.flush_logs()
        statuses = [r.status for r in live.services.request_log.list(None).items]
        assert 503 in statuses and statuses.count(200) >= 2


def test_readyz_reports_a_schema_that_needs_migrating(tmp_path: Path) -> None:
    services = build_platform(make_settings(tmp_path, f"sqlite:///{tmp_path / 'fresh.db'}", worker_in_process=False))
    with serve(services) as live:
        response = live.client.get("/readyz")
        assert response.status_code == 503
        assert "run `shipyard db upgrade`" in response.json()["reason"]
