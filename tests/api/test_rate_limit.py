"""Per-key rate limits: in-process by default, shared through real Redis across replicas."""

from __future__ import annotations

import uuid
from pathlib import Path

import redis

from shipyard.auth import Role
from shipyard.platform import build_platform
from shipyard.store import upgrade
from tests.conftest import REDIS_URL, LiveServer, make_settings, serve


def test_over_the_limit_is_429_with_retry_after(tmp_path: Path, database_url: str) -> None:
    services = build_platform(make_settings(tmp_path, database_url, rate_limit_per_minute=3))
    upgrade(services.database)
    with serve(services) as live:
        headers = live.key(Role.VIEWER)
        statuses = [live.client.get("/v1/me", headers=headers).status_code for _ in range(5)]
        assert statuses == [200, 200, 200, 429, 429]
        refused = live.client.get("/v1/me", headers=headers)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert refused.json()["error"]["code"] == "rate_limited"
        # Limits are per key: another key is unaffected.
        assert live.client.get("/v1/me", headers=live.key(Role.VIEWER)).status_code == 200
        assert "shipyard_rate_limited_requests_total 3.0" in live.client.get("/metrics").text


def test_a_key_can_have_its_own_limit(live: LiveServer) -> None:
    headers = live.key(Role.VIEWER, rate_limit_per_minute=2)
    statuses = [live.client.get("/v1/me", headers=headers).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


def test_replicas_share_one_limit_through_redis(tmp_path: Path, database_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    replicas = [
        build_platform(
            make_settings(tmp_path, database_url, rate_limit_per_minute=4, redis_url=REDIS_URL, redis_key_prefix=prefix)
        )
        for _ in range(2)
    ]
    upgrade(replicas[0].database)
    with serve(replicas[0]) as first, serve(replicas[1]) as second:
        headers = first.key(Role.VIEWER)
        statuses = [
            (first if i % 2 == 0 else second).client.get("/v1/me", headers=headers).status_code for i in range(6)
        ]
        assert statuses == [200, 200, 200, 200, 429, 429]


def test_redis_outage_fails_open(tmp_path: Path, database_url: str) -> None:
    # Nothing listens on port 1: the limiter cannot reach Redis, and the API keeps serving.
    services = build_platform(make_settings(tmp_path, database_url, redis_url="redis://127.0.0.1:1/0"))
    upgrade(services.database)
    with serve(services) as live:
        headers = live.key(Role.VIEWER)
        assert [live.client.get("/v1/me", headers=headers).status_code for _ in range(3)] == [200, 200, 200]
        # One failed check, then Redis is left alone for a while instead of timing out each request.
        assert "shipyard_rate_limiter_errors_total 1.0" in live.client.get("/metrics").text


def test_redis_limits_survive_a_script_flush(tmp_path: Path, database_url: str) -> None:
    prefix = f"test-{uuid.uuid4().hex[:8]}"
    settings = make_settings(
        tmp_path, database_url, rate_limit_per_minute=3, redis_url=REDIS_URL, redis_key_prefix=prefix
    )
    services = build_platform(settings)
    upgrade(services.database)
    with serve(services) as live:
        headers = live.key(Role.VIEWER)
        assert live.client.get("/v1/me", headers=headers).status_code == 200
        with redis.Redis.from_url(REDIS_URL) as client:
            client.script_flush()  # as after a Redis restart
        statuses = [live.client.get("/v1/me", headers=headers).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
        refused = live.client.get("/v1/me", headers=headers)
        assert 1 <= int(refused.headers["retry-after"]) <= 60
        assert "shipyard_rate_limiter_errors_total 0.0" in live.client.get("/metrics").text
