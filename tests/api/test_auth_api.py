"""Auth over HTTP: 401 without a valid key, 403 for the wrong role, 404 across projects."""

from __future__ import annotations

from shipyard.auth import Role
from tests.conftest import LiveServer


def test_me_describes_the_calling_key(live: LiveServer) -> None:
    response = live.client.get("/v1/me", headers=live.key(Role.EDITOR))
    assert response.status_code == 200
    body = response.json()
    assert body["role"] == "editor"
    assert body["project"] == {"id": "prj_default", "name": "default"}
    assert body["key_id"].startswith("key_")


def test_missing_and_invalid_keys_are_401_with_json_error(live: LiveServer) -> None:
    missing = live.client.get("/v1/me")
    assert missing.status_code == 401
    assert missing.json()["error"]["code"] == "unauthenticated"
    assert missing.headers["www-authenticate"] == "Bearer"
    invalid = live.client.get("/v1/me", headers={"Authorization": "Bearer sy_not-a-real-key"})
    assert invalid.status_code == 401
    assert invalid.json() == {"error": {"code": "unauthenticated", "message": "invalid or revoked API key"}}


def test_revoked_key_stops_working_at_once_in_the_same_process(live: LiveServer) -> None:
    created = live.services.access.create_key("short-lived", Role.VIEWER)
    headers = {"Authorization": f"Bearer {created.secret}"}
    assert live.client.get("/v1/me", headers=headers).status_code == 200
    admin = live.key(Role.ADMIN)
    assert live.client.delete(f"/v1/keys/{created.key.id}", headers=admin).status_code == 200
    assert live.client.get("/v1/me", headers=headers).status_code == 401


def test_wrong_role_is_403(live: LiveServer) -> None:
    viewer = live.key(Role.VIEWER)
    response = live.client.post("/v1/projects", json={"name": "acme"}, headers=viewer)
    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "forbidden",
        "message": "this needs the admin role; the key has viewer",
    }
    editor = live.key(Role.EDITOR)
    assert live.client.get("/v1/keys", headers=editor).status_code == 403


def test_admin_manages_projects_and_keys(live: LiveServer) -> None:
    admin = live.key(Role.ADMIN)
    created = live.client.post("/v1/projects", json={"name": "acme"}, headers=admin)
    assert created.status_code == 201
    assert live.client.post("/v1/projects", json={"name": "acme"}, headers=admin).status_code == 409
    names = [p["name"] for p in live.client.get("/v1/projects", headers=admin).json()]
    assert names == ["acme", "default"]

    key = live.client.post("/v1/keys", json={"name": "ci", "role": "editor", "project": "acme"}, headers=admin).json()
    assert key["key"].startswith("sy_") and key["prefix"] == key["key"][:10]
    me = live.client.get("/v1/me", headers={"Authorization": f"Bearer {key['key']}"}).json()
    assert me["project"]["name"] == "acme" and me["role"] == "editor"

    listed = live.client.get("/v1/keys", params={"project": "acme"}, headers=admin).json()
    assert [k["name"] for k in listed] == ["ci"]
    assert "key" not in listed[0] and "key_hash" not in listed[0]
    unknown = live.client.post("/v1/keys", json={"name": "x", "role": "editor", "project": "nope"}, headers=admin)
    assert unknown.status_code == 404
    assert unknown.json()["error"]["message"] == "no project named 'nope'"


def test_other_projects_objects_are_404(live: LiveServer) -> None:
    live.services.access.create_project("acme")
    live.services.access.create_project("globex")
    acme_job = live.services.jobs.enqueue(live.services.access.get_project("acme").id, "maintenance.cleanup")
    globex_viewer = live.key(Role.VIEWER, project="globex")
    response = live.client.get(f"/v1/jobs/{acme_job.id}", headers=globex_viewer)
    assert response.status_code == 404
    assert response.json()["error"] == {
        "code": "not_found",
        "message": f"no job with id '{acme_job.id}' in this project",
    }
    acme_viewer = live.key(Role.VIEWER, project="acme")
    assert live.client.get(f"/v1/jobs/{acme_job.id}", headers=acme_viewer).status_code == 200
    assert live.client.get("/v1/jobs", headers=globex_viewer).json() == {"data": [], "next_cursor": None}
