"""The security audit's findings on the API, each reproduced exactly: variables named over HTTP
(F1), outbound URLs to internal addresses (F2), /metrics (F7), logged credentials (F12), invalid
keys (F13), secrets at rest and file modes (F14), NUL characters (F15)."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest
import sqlalchemy as sa

from shipyard.auth import Role
from shipyard.platform import build_platform
from shipyard.secretbox import new_key
from shipyard.settings import Settings
from shipyard.store import WebhookRow, upgrade
from shipyard.telemetry import configure_logging
from tests.conftest import LiveServer, make_settings, serve
from tests.webhook_receiver import LOOPBACK, webhook_receiver

INTERNAL = ["http://127.0.0.1:9/x", "http://[::1]:9/x", "http://localhost:9/x", "http://169.254.169.254/latest",
            "http://[2002:7f00:1::1]/x", "http://[fec0::1]/x", "http://10.0.0.1/x"]  # fmt: skip


def test_notifiers_cannot_name_server_variables_over_http(live: LiveServer, monkeypatch: pytest.MonkeyPatch) -> None:
    """F1: `webhook_env` over HTTP was an existence oracle and sent alerts to whatever URL it held."""
    monkeypatch.setenv("HTTP_PROXY_FOR_TEST", "http://user:secret@proxy.example:3128")
    editor = live.key(Role.EDITOR)
    answers = [
        live.client.put("/v1/alerts/config", json={"notifiers": [{"name": "n", "webhook_env": name}]}, headers=editor)
        for name in ("HTTP_PROXY_FOR_TEST", "SURELY_NOT_SET_ANYWHERE")
    ]
    assert [a.status_code for a in answers] == [400, 400]
    assert answers[0].json()["error"]["message"] == answers[1].json()["error"]["message"].replace(
        "SURELY_NOT_SET_ANYWHERE", "HTTP_PROXY_FOR_TEST"
    )  # the same answer whether or not the variable exists
    assert "shipyard alerts apply" in answers[0].json()["error"]["message"]
    assert live.client.get("/v1/alerts/notifiers", headers=editor).json() == []


@pytest.mark.parametrize("url", INTERNAL)
def test_webhooks_and_notifiers_refuse_internal_addresses(live: LiveServer, url: str) -> None:
    """F2: both accepted loopback, metadata and private addresses and then delivered to them."""
    editor = live.key(Role.EDITOR)
    webhook = live.client.post("/v1/webhooks", json={"url": url, "events": ["*"]}, headers=editor)
    assert webhook.status_code == 400 and webhook.json()["error"]["code"] == "url_refused"
    spec = {"notifiers": [{"name": "n", "webhook": url}]}
    notifier = live.client.put("/v1/alerts/config", json=spec, headers=editor)
    assert notifier.status_code == 400 and "non-public address" in notifier.json()["error"]["message"]
    assert live.client.get("/v1/webhooks", headers=editor).json() == []


def test_a_stored_internal_url_is_refused_at_delivery_without_detail(live: LiveServer) -> None:
    """A URL that passed when it was set (DNS changed since, or an old row) is checked again at
    every delivery, and the outcome reveals nothing about the network."""
    services = live.services
    project = services.access.get_project("default")
    with webhook_receiver() as receiver:
        with services.database.write() as session:
            url = receiver.url.replace("127.0.0.1", "localhost") + "/hook"
            session.add(WebhookRow(id="whk_old", project_id=project.id, url=url, events=["*"]))
        services.audit.record(project.id, "test", "model.approved", "m", {})
        services.webhooks.drain()
        assert receiver.bodies == []
    listed = live.client.get("/v1/webhooks", headers=live.key()).json()
    assert listed[0]["last_status"] is None and "non-public address" in listed[0]["last_error"]
    assert "127.0.0.1" not in listed[0]["last_error"]  # the resolved address is not told
    assert listed[0]["url"] == url.removesuffix("/hook") + "/…"


def test_webhook_urls_and_secrets_are_sealed_at_rest_and_listed_without_credentials(
    tmp_path: Path, database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    """F14: webhook secrets sat in the store in plaintext; listings showed full URLs to viewers.
    F12: httpx logged each delivery's full URL, credentials and token included."""
    configure_logging("debug", "json")
    # PostgreSQL needs the key in settings (SQLite would make one in SHIPYARD_HOME: next test).
    settings = make_settings(tmp_path, database_url, url_allow_networks=LOOPBACK, secret_key=new_key())
    services = build_platform(settings)
    upgrade(services.database)
    try:
        with serve(services) as live, webhook_receiver() as receiver:
            url = receiver.url.replace("http://", "http://hook-user:hook-pass@") + "/in?token=t0k3n"
            created = live.client.post(
                "/v1/webhooks", json={"url": url, "events": ["*"], "secret": "s3cr3t-signing"}, headers=live.key()
            )
            assert created.status_code == 201, created.text
            shown = created.json()["url"]
            assert "hook-pass" not in shown and "t0k3n" not in shown and shown.endswith("/…")
            with services.database.read() as session:
                raw = session.execute(sa.text("SELECT url, secret FROM webhooks")).one()
            assert all(value.startswith("fernet:") for value in raw)
            assert not any(s in "".join(raw) for s in ("hook-pass", "t0k3n", "s3cr3t-signing"))
            services.audit.record(services.access.get_project("default").id, "t", "model.approved", "m", {})
            receiver.wait_for(1)
            assert receiver.paths == ["/in?token=t0k3n"]  # delivered with the URL as given
            services.webhooks.drain()
    finally:
        services.close()
        configure_logging("warning", "console")
    logged = "".join(capsys.readouterr())
    assert "/in?token" not in logged and "hook-pass" not in logged and "s3cr3t" not in logged


def test_the_embedded_store_and_home_are_private(tmp_path: Path) -> None:
    """F14: SHIPYARD_HOME and the SQLite file were created world-readable."""
    settings = Settings(home=tmp_path / "home")
    services = build_platform(settings)
    upgrade(services.database)
    services.database.dispose()
    database = tmp_path / "home" / "shipyard.db"
    assert stat.S_IMODE(database.stat().st_mode) == 0o600
    assert stat.S_IMODE((tmp_path / "home").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "home" / "secret.key").stat().st_mode) == 0o600
    assert all(stat.S_IMODE(p.stat().st_mode) & 0o077 == 0 for p in (tmp_path / "home").glob("shipyard.db*"))


def test_metrics_can_require_a_token_and_are_rendered_once_a_second(tmp_path: Path, database_url: str) -> None:
    """F7: /metrics was open and rendered on every call."""
    settings = make_settings(tmp_path, database_url, metrics_token="scrape-token", metrics_cache_seconds=1.0)
    services = build_platform(settings)
    upgrade(services.database)
    try:
        with serve(services) as live:
            assert live.client.get("/metrics").status_code == 401
            assert live.client.get("/metrics", headers={"Authorization": "Bearer wrong"}).status_code == 401
            renders = 0
            render = services.metrics.render

            def counted() -> bytes:
                nonlocal renders
                renders += 1
                return render()

            services.metrics.render = counted  # type: ignore[method-assign]
            token = {"Authorization": "Bearer scrape-token"}
            answers = [live.client.get("/metrics", headers=token) for _ in range(20)]
            assert all(a.status_code == 200 and b"shipyard_" in a.content for a in answers)
            assert renders <= 2  # 20 scrapes within about a second: rendered once (twice at a boundary)
    finally:
        services.close()


def test_invalid_keys_are_limited_per_client_address(tmp_path: Path, database_url: str) -> None:
    """F13: requests with invalid keys were never limited, each costing a hash and a query."""
    settings = make_settings(tmp_path, database_url, auth_failures_per_minute=5)
    services = build_platform(settings)
    upgrade(services.database)
    try:
        with serve(services) as live:
            good = live.key(Role.VIEWER)
            assert live.client.get("/v1/me", headers=good).status_code == 200  # now cached
            bad = {"Authorization": "Bearer sy_not-a-key"}
            statuses = [live.client.get("/v1/me", headers=bad).status_code for _ in range(8)]
            assert statuses == [401] * 5 + [429] * 3
            refused = live.client.get("/v1/me", headers=bad)
            assert refused.json()["error"]["code"] == "rate_limited" and int(refused.headers["Retry-After"]) > 0
            assert live.client.get("/v1/me", headers=good).status_code == 200  # a known key is not held up
    finally:
        services.close()


def test_nul_characters_are_refused_at_the_edge_on_both_stores(live: LiveServer) -> None:
    """F15: NUL in names, ids and text reached the store (PostgreSQL cannot keep it: 500)."""
    admin = live.key()
    for response in (
        live.client.post("/v1/collections", json={"name": "a\u0000b"}, headers=admin),
        live.client.post("/v1/projects", json={"name": "p\u0000"}, headers=admin),
        live.client.get("/v1/collections/a%00b", headers=admin),
        live.client.get("/v1/jobs?kind=x%00", headers=admin),
    ):
        assert response.status_code == 400, response.text
        assert response.json()["error"]["code"] == "invalid_input" and "NUL" in response.json()["error"]["message"]
    # A backslash followed by "u0000" is ordinary text (here refused only as a name).
    literal = live.client.post("/v1/projects", json={"name": "lit\\u0000"}, headers=admin)
    assert "NUL" not in literal.text


@pytest.fixture
def open_live(tmp_path: Path, database_url: str) -> Iterator[LiveServer]:
    """A live server whose outbound policy allows loopback, where the tests' receivers listen."""
    services = build_platform(make_settings(tmp_path, database_url, url_allow_networks=LOOPBACK))
    upgrade(services.database)
    try:
        with serve(services) as live:
            yield live
    finally:
        services.webhooks.close(timeout=1)
        services.alerts.sender.close(timeout=1)
        services.database.dispose()


def test_webhooks_per_project_and_their_patterns_are_bounded(open_live: LiveServer) -> None:
    """F6: webhooks per project and event patterns per webhook were unlimited."""
    editor = open_live.key(Role.EDITOR)
    with webhook_receiver() as receiver:
        many = open_live.client.post(
            "/v1/webhooks", json={"url": receiver.url, "events": [f"e{i}" for i in range(21)]}, headers=editor
        )
        assert many.status_code == 400 and "at most 20 event patterns" in many.json()["error"]["message"]
        created = [
            open_live.client.post("/v1/webhooks", json={"url": receiver.url, "events": ["*"]}, headers=editor)
            for _ in range(21)
        ]
    assert [c.status_code for c in created] == [201] * 20 + [400]
    assert "at most 20 webhooks" in created[-1].json()["error"]["message"]


def test_every_schema_reference_in_the_openapi_document_resolves(live: LiveServer) -> None:
    """Found by the generated isolation test: ingestion's body referred to a schema the document
    did not have, which breaks generated clients."""
    document = live.client.get("/openapi.json").json()
    references = set(re.findall(r'"#/components/schemas/([^"]+)"', json.dumps(document)))
    assert references and references <= set(document["components"]["schemas"])


@pytest.mark.parametrize("fmt", ["console", "json"])
def test_logged_tracebacks_carry_no_locals(fmt: str, capsys: pytest.CaptureFixture[str]) -> None:
    """The console renderer's default (rich) traceback printed every frame's locals: on the 500
    path that is the request, its Authorization header included."""
    import structlog

    def handler(authorization: str = "Bearer sy_do-not-log-me") -> None:
        raise RuntimeError("a bug")

    configure_logging("info", fmt)
    try:
        try:
            handler()
        except RuntimeError:
            structlog.get_logger("test").exception("unhandled_error")
    finally:
        configure_logging("warning", "console")
    logged = capsys.readouterr().err
    assert "RuntimeError: a bug" in logged and "do-not-log-me" not in logged
