"""Bad input gets a 4xx with a JSON message, never a stack trace."""

from __future__ import annotations

import pytest

from shipyard.auth import Role
from shipyard.platform import Platform
from tests.conftest import LiveServer, make_settings, serve


def test_malformed_json_is_400(live: LiveServer) -> None:
    response = live.client.post(
        "/v1/projects", content=b'{"name": ', headers={**live.key(), "Content-Type": "application/json"}
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed_json"


def test_wrong_types_are_422_naming_the_field(live: LiveServer) -> None:
    response = live.client.post("/v1/keys", json={"name": "x", "role": "root"}, headers=live.key())
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "invalid_request"
    assert "body.role" in error["message"]
    assert error["details"][0]["loc"] == ["body", "role"]
    extra = live.client.post("/v1/projects", json={"name": "ok", "admin": True}, headers=live.key())
    assert extra.status_code == 422 and "body.admin" in extra.json()["error"]["message"]


def test_invalid_project_name_is_400_with_the_rule(live: LiveServer) -> None:
    response = live.client.post("/v1/projects", json={"name": "Bad Name!"}, headers=live.key())
    assert response.status_code == 400
    assert "lowercase letters" in response.json()["error"]["message"]


def test_query_parameters_out_of_range_are_422(live: LiveServer) -> None:
    response = live.client.get("/v1/jobs", params={"limit": 0}, headers=live.key(Role.VIEWER))
    assert response.status_code == 422
    bad_cursor = live.client.get("/v1/requests", params={"cursor": "abc"}, headers=live.key(Role.VIEWER))
    assert bad_cursor.status_code == 400 and bad_cursor.json()["error"]["code"] == "invalid_cursor"
    assert "invalid cursor" in bad_cursor.json()["error"]["message"]


def test_unknown_route_and_method_are_json(live: LiveServer) -> None:
    headers = live.key(Role.VIEWER)
    missing = live.client.get("/v1/nothing-here", headers=headers)
    assert missing.status_code == 404
    assert missing.json() == {"error": {"code": "not_found", "message": "no route GET /v1/nothing-here"}}
    # Without a key, nothing under /v1/ is revealed, not even which routes exist.
    assert live.client.get("/v1/nothing-here").status_code == 401
    assert live.client.get("/nothing-here").status_code == 404
    wrong_method = live.client.put("/v1/me", headers=headers)
    assert wrong_method.status_code == 405
    assert wrong_method.json()["error"]["code"] == "method_not_allowed"


def test_unknown_job_kind_is_400_listing_the_kinds(live: LiveServer) -> None:
    response = live.client.post("/v1/jobs", json={"kind": "nope"}, headers=live.key())
    assert response.status_code == 400
    message = "unknown job kind 'nope'; kinds are: knowledge.ingest, maintenance.cleanup, monitor.run"
    assert response.json()["error"]["message"] == message


@pytest.mark.parametrize("chunked", [False, True], ids=["content-length", "chunked"])
def test_oversized_body_is_413(tmp_path, database_url: str, chunked: bool) -> None:
    settings = make_settings(tmp_path, database_url, max_body_bytes=2048)
    from shipyard.platform import build_platform
    from shipyard.store import upgrade

    services: Platform = build_platform(settings)
    upgrade(services.database)
    body = b'{"name": "' + b"x" * 5000 + b'"}'
    with serve(services) as live:
        headers = {**live.key(), "Content-Type": "application/json"}
        content = iter([body[:1000], body[1000:]]) if chunked else body
        response = live.client.post("/v1/projects", content=content, headers=headers)
        assert response.status_code == 413
        assert response.json()["error"]["code"] == "payload_too_large"
        assert "2048 bytes" in response.json()["error"]["message"]
        small = live.client.post("/v1/projects", json={"name": "fits"}, headers=headers)
        assert small.status_code == 201


def test_openapi_docs_are_served(live: LiveServer) -> None:
    assert live.client.get("/docs").status_code == 200
    spec = live.client.get("/openapi.json").json()
    operations = {op["operationId"] for path in spec["paths"].values() for op in path.values()}
    assert {"get_me", "list_jobs", "get_job", "list_requests", "create_key", "revoke_key"} <= operations


def test_values_a_column_cannot_hold_are_4xx_not_500(live: LiveServer) -> None:
    """Found by the fuzz test: a huge rate limit overflowed PostgreSQL's INTEGER with a 500."""
    admin = live.key()
    huge = live.client.post(
        "/v1/keys", json={"name": "x", "role": "viewer", "rate_limit_per_minute": 10**13}, headers=admin
    )
    assert huge.status_code == 422 and "rate_limit_per_minute" in huge.json()["error"]["message"]
    nul = live.client.post("/v1/keys", json={"name": "a\u0000b", "role": "viewer"}, headers=admin)
    assert nul.status_code in (201, 400)  # SQLite stores NUL; PostgreSQL refuses it: never a 500
    if nul.status_code == 400:
        assert nul.json()["error"]["code"] == "invalid_input"
