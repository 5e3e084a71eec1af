"""The registry through the API: MLflow's versions and metrics, aliases, approvals, audit, webhooks."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shipyard.auth import Role
from tests.conftest import LiveServer, wait_until


class Receiver:
    """A real HTTP endpoint that records what webhooks POST to it."""

    def __init__(self) -> None:
        self.calls: list[tuple[dict[str, str], bytes]] = []
        self.fail_first = 0
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if owner.fail_first > 0:
                    owner.fail_first -= 1
                    self.send_response(503)
                else:
                    owner.calls.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    yield found
    found.server.shutdown()
    found.server.server_close()


def test_versions_carry_mlflow_metrics_and_pending_approval(model_live: LiveServer) -> None:
    headers = model_live.key(Role.VIEWER)
    models = model_live.client.get("/v1/registry/models", headers=headers).json()
    assert [m["name"] for m in models] == ["bike-demand", "flaky"]
    versions = model_live.client.get("/v1/registry/models/bike-demand/versions", headers=headers).json()
    assert [v["version"] for v in versions] == [2, 1]
    assert versions[1]["metrics"]["r2"] > 0.7  # the example's held-out weeks
    assert versions[0]["params"]["max_iter"] == "50"
    assert {v["approval"]["state"] for v in versions} == {"pending"}


def test_approve_reject_and_aliases_are_audited_and_sent_to_webhooks(
    model_live: LiveServer, receiver: Receiver
) -> None:
    headers = model_live.key(Role.EDITOR)
    client = model_live.client
    hook = client.post(
        "/v1/webhooks", json={"url": receiver.url, "events": ["model.*"], "secret": "s3cret"}, headers=headers
    )
    assert hook.status_code == 201
    receiver.fail_first = 1  # the first delivery is retried
    approved = client.post(
        "/v1/registry/models/bike-demand/versions/1/approve", json={"reason": "beats baseline"}, headers=headers
    ).json()
    assert approved["approval"]["state"] == "approved" and approved["approval"]["by"] == "test-editor"
    no_reason = client.post("/v1/registry/models/bike-demand/versions/2/reject", json={}, headers=headers)
    assert no_reason.status_code == 400 and "reason" in no_reason.json()["error"]["message"]
    rejected = client.post(
        "/v1/registry/models/bike-demand/versions/2/reject", json={"reason": "worse rmse"}, headers=headers
    ).json()
    assert rejected["approval"] == {**rejected["approval"], "state": "rejected", "reason": "worse rmse"}
    moved = client.put("/v1/registry/models/bike-demand/aliases/champion", json={"version": 1}, headers=headers)
    assert moved.json()["aliases"] == ["champion"]
    # MLflow itself sees the alias and the approval tag.
    mlflow_version = model_live.services.registry.client().get_model_version_by_alias("default.bike-demand", "champion")
    assert str(mlflow_version.version) == "1" and mlflow_version.tags["shipyard.approval"] == "approved"

    audit = client.get("/v1/audit", params={"target": "model:bike-demand/"}, headers=headers).json()["data"]
    assert [e["action"] for e in audit] == ["model.alias_set", "model.rejected", "model.approved"]
    assert audit[1]["detail"]["reason"] == "worse rmse" and audit[1]["actor"] == "test-editor"

    wait_until(lambda: len(receiver.calls) == 3)
    events = [json.loads(body)["event"] for _, body in receiver.calls]
    assert events == ["model.approved", "model.rejected", "model.alias_set"]
    headers_seen, body = receiver.calls[0]
    expected = hmac.new(b"s3cret", body, hashlib.sha256).hexdigest()
    assert headers_seen["x-shipyard-signature"] == f"sha256={expected}"
    listed = client.get("/v1/webhooks", headers=headers).json()
    assert listed[0]["last_status"] == 204 and listed[0]["last_error"] is None


def test_unknown_names_are_404s_that_say_what_exists(model_live: LiveServer) -> None:
    headers = model_live.key(Role.EDITOR)
    client = model_live.client
    response = client.get("/v1/registry/models/bike/versions", headers=headers)
    assert response.status_code == 404 and "models: bike-demand, flaky" in response.json()["error"]["message"]
    response = client.get("/v1/registry/models/bike-demand/versions/7", headers=headers)
    assert response.status_code == 404 and "versions: 1, 2" in response.json()["error"]["message"]
    response = client.get("/v1/registry/models/bike-demand/versions/staging", headers=headers)
    assert response.status_code == 404 and "no alias 'staging'" in response.json()["error"]["message"]
    response = client.put("/v1/registry/models/bike-demand/aliases/v2", json={"version": 1}, headers=headers)
    assert response.status_code == 400 and "reserved" in response.json()["error"]["message"]
    response = client.post("/v1/deployments/nope/rollback", headers=headers)
    assert response.status_code == 404 and "deployments: none" in response.json()["error"]["message"]


def test_another_project_sees_none_of_these_models(model_live: LiveServer) -> None:
    model_live.services.access.create_project("other")
    headers = model_live.key(Role.ADMIN, project="other")
    assert model_live.client.get("/v1/registry/models", headers=headers).json() == []
    response = model_live.client.get("/v1/registry/models/bike-demand/versions", headers=headers)
    assert response.status_code == 404


def test_viewers_cannot_change_the_registry(model_live: LiveServer) -> None:
    headers = model_live.key(Role.VIEWER)
    response = model_live.client.post("/v1/registry/models/bike-demand/versions/1/approve", json={}, headers=headers)
    assert response.status_code == 403
