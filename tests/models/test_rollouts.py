"""Canary split, sticky keys, shadow, promote, rollback under load, failed loads, model errors, labels."""

from __future__ import annotations

import asyncio
import math

import httpx
import pytest

from shipyard.auth import Role
from shipyard.models.errors import NotApproved
from tests.conftest import LiveServer, wait_until
from tests.models.conftest import BIKE_ROW


def _setup(live: LiveServer) -> dict[str, str]:
    headers = live.key(Role.EDITOR, rate_limit_per_minute=1_000_000)
    client = live.client
    for version in (1, 2):
        client.post(f"/v1/registry/models/bike-demand/versions/{version}/approve", json={}, headers=headers)
    client.put("/v1/registry/models/bike-demand/aliases/champion", json={"version": 1}, headers=headers)
    created = client.post("/v1/deployments", json={"name": "bikes", "model": "bike-demand"}, headers=headers)
    assert created.status_code == 201, created.text
    return headers


def _predict(live: LiveServer, headers: dict[str, str], key: str | None = None) -> httpx.Response:
    extra = {"X-Request-Key": key} if key else {}
    return live.client.post("/v1/models/bikes:predict", json={"instances": [BIKE_ROW]}, headers={**headers, **extra})


def test_canary_takes_its_share_and_keys_are_sticky(model_live: LiveServer) -> None:
    headers = _setup(model_live)
    response = model_live.client.put(
        "/v1/deployments/bikes/canary", json={"version": 2, "percent": 20}, headers=headers
    )
    assert response.status_code == 200 and response.json()["loaded_versions"] == [1, 2]
    n = 600
    versions = [_predict(model_live, headers).headers["x-model-version"] for _ in range(n)]
    share = versions.count("2") / n
    # Binomial(600, 0.2): sd 1.6 %; 4.5 sd either side fails by chance about once in 150,000 runs.
    assert abs(share - 0.2) < 4.5 * math.sqrt(0.2 * 0.8 / n), share
    for key in ("user-1", "user-2", "user-3", "user-42"):
        sides = {_predict(model_live, headers, key).headers["x-model-version"] for _ in range(10)}
        assert len(sides) == 1, key
    # Predictions are logged with the version and role that answered.
    roles = model_live.client.get(
        "/v1/deployments/bikes/predictions", params={"role": "canary", "limit": 500}, headers=headers
    ).json()["data"]
    assert roles and {p["version"] for p in roles} == {2}


def test_shadow_never_changes_answers_and_its_answers_are_logged(model_live: LiveServer) -> None:
    headers = _setup(model_live)
    before = [_predict(model_live, headers).json() for _ in range(3)]
    assert (
        model_live.client.put("/v1/deployments/bikes/shadow", json={"version": 2}, headers=headers).status_code == 200
    )
    after = [_predict(model_live, headers) for _ in range(20)]
    assert all(r.json() == before[0] and r.headers["x-model-version"] == "1" for r in after)

    def shadows() -> list[dict[str, object]]:
        page = model_live.client.get("/v1/deployments/bikes/predictions", params={"role": "shadow"}, headers=headers)
        return list(page.json()["data"])

    wait_until(lambda: len(shadows()) == 20)
    served = {r.headers["x-prediction-id"] for r in after}
    assert {str(s["id"]).removesuffix("-shadow") for s in shadows()} == served
    assert {s["version"] for s in shadows()} == {2}
    assert shadows()[0]["outputs"] != before[0]["predictions"]  # a different model, really run


def test_promote_then_rollback_under_concurrent_load_loses_no_request(model_live: LiveServer) -> None:
    headers = _setup(model_live)
    client = model_live.client
    client.put("/v1/deployments/bikes/canary", json={"version": 2, "percent": 10}, headers=headers)
    promoted = client.post("/v1/deployments/bikes/promote", headers=headers).json()
    assert (promoted["version"], promoted["previous_version"], promoted["canary_version"]) == (2, 1, None)
    assert promoted["serving_version"] == 2

    async def hammer() -> list[int]:
        async with httpx.AsyncClient(base_url=model_live.url, headers=headers, timeout=30) as http:

            async def one() -> tuple[int, str]:
                r = await http.post("/v1/models/bikes:predict", json={"instances": [BIKE_ROW]})
                return r.status_code, r.headers.get("x-model-version", "")

            async def rollback_midway() -> None:
                await asyncio.sleep(0.3)
                r = await http.post("/v1/deployments/bikes/rollback", json={"reason": "canary p99"})
                assert r.status_code == 200 and r.json()["serving_version"] == 1

            results = await asyncio.gather(*(one() for _ in range(400)), rollback_midway())
            answers = [r for r in results if r is not None]
            assert {v for _, v in answers} <= {"1", "2"}
            return [status for status, _ in answers]

    statuses = asyncio.run(hammer())
    assert statuses == [200] * 400
    assert _predict(model_live, headers).headers["x-model-version"] == "1"
    audit = client.get("/v1/audit", params={"action": "deployment.rolled_back"}, headers=headers).json()["data"]
    assert audit[0]["detail"]["reason"] == "canary p99" and audit[0]["detail"]["to_version"] == 1


def test_a_version_that_fails_to_load_never_replaces_the_working_one(model_live: LiveServer) -> None:
    headers = _setup(model_live)
    client = model_live.client
    mlflow = model_live.services.registry.client()
    broken = mlflow.create_model_version("default.bike-demand", source="file:///nonexistent/model", run_id=None)
    client.post(f"/v1/registry/models/bike-demand/versions/{broken.version}/approve", json={}, headers=headers)
    moved = client.put(
        "/v1/registry/models/bike-demand/aliases/champion", json={"version": int(broken.version)}, headers=headers
    )
    assert moved.status_code == 200
    deployment = client.get("/v1/deployments/bikes", headers=headers).json()
    assert deployment["version"] == 3 and deployment["serving_version"] == 1
    assert "version 3 failed to load" in deployment["problem"]
    answered = _predict(model_live, headers)
    assert answered.status_code == 200 and answered.headers["x-model-version"] == "1"


def test_a_deployed_alias_only_moves_to_an_approved_version(model_live: LiveServer) -> None:
    headers = _setup(model_live)
    client = model_live.client
    client.post("/v1/registry/models/bike-demand/versions/2/reject", json={"reason": "bias"}, headers=headers)
    refused = client.put("/v1/registry/models/bike-demand/aliases/champion", json={"version": 2}, headers=headers)
    assert refused.status_code == 409 and "rejected" in refused.json()["error"]["message"]
    # Moved behind shipyard's back: served only if approved, so version 1 stays.
    model_live.services.registry.client().set_registered_model_alias("default.bike-demand", "champion", "2")
    wait_until(lambda: client.get("/v1/deployments/bikes", headers=headers).json()["problem"] is not None)
    deployment = client.get("/v1/deployments/bikes", headers=headers).json()
    assert "not approved" in deployment["problem"] and deployment["serving_version"] == 1
    assert _predict(model_live, headers).headers["x-model-version"] == "1"


def test_no_edge_can_move_a_deployed_alias_to_an_unapproved_version(model_live: LiveServer) -> None:
    """The rule lives in the registry's alias guard, so a third edge (a plugin, MCP, a script)
    calling the service directly is refused exactly like the API and the CLI."""
    headers = _setup(model_live)
    client = model_live.client
    client.post("/v1/registry/models/bike-demand/versions/2/reject", json={"reason": "bias"}, headers=headers)
    platform = model_live.services
    project_id = platform.access.get_project("default").id
    with pytest.raises(NotApproved, match="rejected"):
        platform.registry.set_alias(project_id, "bike-demand", "champion", 2, by="third-edge")
    assert platform.registry.resolve(project_id, "bike-demand", "champion") == 1
    # An alias no deployment serves still moves freely.
    moved = platform.registry.set_alias(project_id, "bike-demand", "staging", 2, by="third-edge")
    assert "staging" in moved.aliases


def test_model_errors_are_422_or_503_with_a_logged_prediction_id(model_live: LiveServer) -> None:
    headers = model_live.key(Role.EDITOR)
    client = model_live.client
    client.post("/v1/registry/models/flaky/versions/1/approve", json={}, headers=headers)
    client.put("/v1/registry/models/flaky/aliases/champion", json={"version": 1}, headers=headers)
    client.post("/v1/deployments", json={"name": "flaky", "model": "flaky"}, headers=headers)
    ok = client.post(
        "/v2/models/flaky/infer",
        json={"inputs": [{"name": "x", "shape": [2], "datatype": "FP64", "data": [1.5, 2]}]},
        headers=headers,
    )
    assert ok.status_code == 200 and ok.json()["outputs"][0]["data"] == [3.0, 4.0]
    rejected = client.post("/deployments/flaky/invocations", json={"inputs": {"x": [-1.0]}}, headers=headers)
    assert rejected.status_code == 422 and "x must not be negative" in rejected.json()["message"]
    broken = client.post("/v1/models/flaky:predict", json={"instances": [{"x": 13.0}]}, headers=headers)
    assert broken.status_code == 503 and "the model is broken" in broken.json()["error"]
    prediction_id = broken.json()["error"].split("(prediction ")[1].split(")")[0]
    logged = client.get("/v1/deployments/flaky/predictions", headers=headers).json()["data"]
    by_id = {p["id"]: p for p in logged}
    assert by_id[prediction_id]["status"] == "error" and "RuntimeError" in by_id[prediction_id]["error"]

    # A batch with one bad request fails only that request.
    async def burst() -> list[int]:
        async with httpx.AsyncClient(base_url=model_live.url, headers=headers, timeout=30) as http:
            bodies = [{"instances": [{"x": -1.0 if i == 7 else float(i % 10)}]} for i in range(30)]
            responses = await asyncio.gather(*(http.post("/v1/models/flaky:predict", json=b) for b in bodies))
            return [r.status_code for r in responses]

    statuses = asyncio.run(burst())
    assert statuses[7] == 422 and statuses.count(200) == 29


def test_labels_join_predictions_by_id(model_live: LiveServer) -> None:
    headers = _setup(model_live)
    ids = [_predict(model_live, headers).headers["x-prediction-id"] for _ in range(3)]
    posted = model_live.client.post("/v1/deployments/bikes/labels", headers=headers, json={
        "labels": [{"prediction_id": ids[0], "label": 120}, {"prediction_id": ids[1], "label": 80},
                   {"prediction_id": "prd_unknown", "label": 1}]})  # fmt: skip
    assert posted.json() == {"labelled": 2, "not_found": ["prd_unknown"]}
    labelled = model_live.client.get(
        "/v1/deployments/bikes/predictions", params={"labelled": True}, headers=headers
    ).json()["data"]
    assert sorted((p["id"], p["label"]) for p in labelled) == sorted([(ids[0], 120), (ids[1], 80)])
    assert labelled[0]["inputs"]["hr"] == [8]


def test_every_api_process_follows_a_rollback_made_in_another(model_live: LiveServer) -> None:
    """Two API processes on one store and one MLflow: a promote and a rollback made through one are
    served by the other within its refresh interval, without a restart."""
    from shipyard.platform import build_platform
    from tests.conftest import serve

    headers = _setup(model_live)
    other_services = build_platform(model_live.services.settings)
    try:
        with serve(other_services) as other:
            wait_until(lambda: _predict(other, headers).status_code == 200)
            assert _predict(other, headers).headers["x-model-version"] == "1"
            model_live.client.put("/v1/deployments/bikes/canary", json={"version": 2, "percent": 50}, headers=headers)
            model_live.client.post("/v1/deployments/bikes/promote", headers=headers)
            wait_until(lambda: _predict(other, headers).headers["x-model-version"] == "2", timeout=10)
            model_live.client.post("/v1/deployments/bikes/rollback", headers=headers)
            wait_until(lambda: _predict(other, headers).headers["x-model-version"] == "1", timeout=10)
            state = other.client.get("/v1/deployments/bikes", headers=headers).json()
            assert (state["version"], state["serving_version"], state["previous_version"]) == (1, 1, 2)
    finally:
        other_services.close()
