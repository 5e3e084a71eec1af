"""Serving through the real app: deployments, the three protocols, errors, canary, shadow, rollback."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from shipyard.auth import Role
from tests.conftest import LiveServer, wait_until
from tests.models.conftest import BIKE_COLUMNS, BIKE_ROW


def _deploy(live: LiveServer, headers: dict[str, str], name: str = "bikes", model: str = "bike-demand") -> None:
    client = live.client
    assert (
        client.put(f"/v1/registry/models/{model}/aliases/champion", json={"version": 1}, headers=headers).status_code
        == 200
    )
    assert client.post(f"/v1/registry/models/{model}/versions/1/approve", json={}, headers=headers).status_code == 200
    response = client.post("/v1/deployments", json={"name": name, "model": model}, headers=headers)
    assert response.status_code == 201, response.text
    assert response.json()["ready"] is True


def test_a_version_must_be_approved_before_it_serves(model_live: LiveServer) -> None:
    headers = model_live.key(Role.EDITOR)
    client = model_live.client
    client.put("/v1/registry/models/bike-demand/aliases/champion", json={"version": 1}, headers=headers)
    refused = client.post("/v1/deployments", json={"name": "bikes", "model": "bike-demand"}, headers=headers)
    assert refused.status_code == 409
    assert "pending" in refused.json()["error"]["message"]
    assert "shipyard models approve bike-demand 1" in refused.json()["error"]["message"]


def test_three_protocols_give_the_same_prediction(model_live: LiveServer) -> None:
    headers = model_live.key(Role.EDITOR)
    _deploy(model_live, headers)
    client = model_live.client
    # Open Inference Protocol v2: one tensor per column.
    oip = {
        "id": "req-1",
        "inputs": [
            {"name": c, "shape": [1], "datatype": "FP64" if isinstance(v, float) else "INT64", "data": [v]}
            for c, v in BIKE_ROW.items()
        ],
    }
    v2 = client.post("/v2/models/bikes/infer", json=oip, headers=headers)
    assert v2.status_code == 200, v2.text
    body = v2.json()
    assert body["model_name"] == "bikes" and body["model_version"] == "1" and body["id"] == "req-1"
    value = body["outputs"][0]["data"][0]
    assert body["outputs"][0]["shape"] == [1] and body["outputs"][0]["datatype"] == "FP64"
    # MLflow scoring, every JSON format and CSV.
    row = [BIKE_ROW[c] for c in BIKE_COLUMNS]
    for payload in (
        {"dataframe_split": {"columns": BIKE_COLUMNS, "data": [row]}},
        {"dataframe_records": [BIKE_ROW]},
        {"instances": [BIKE_ROW]},
        {"inputs": {c: [v] for c, v in BIKE_ROW.items()}},
    ):
        scored = client.post("/deployments/bikes/invocations", json=payload, headers=headers)
        assert scored.status_code == 200, scored.text
        assert scored.json() == {"predictions": [pytest.approx(value)]}
        assert scored.headers["x-prediction-id"].startswith("prd_")
    csv = ",".join(BIKE_COLUMNS) + "\n" + ",".join(str(v) for v in row) + "\n"
    scored = client.post("/invocations", content=csv, headers={**headers, "Content-Type": "text/csv"})
    assert scored.status_code == 200, scored.text
    assert scored.json()["predictions"] == [pytest.approx(value)]
    # KServe V1.
    v1 = client.post("/v1/models/bikes:predict", json={"instances": [BIKE_ROW, BIKE_ROW]}, headers=headers)
    assert v1.status_code == 200, v1.text
    assert v1.json()["predictions"] == [pytest.approx(value)] * 2
    # Health and metadata.
    assert client.get("/v2/health/ready").json() == {"ready": True}
    meta = client.get("/v2/models/bikes", headers=headers).json()
    assert [i["name"] for i in meta["inputs"]] == BIKE_COLUMNS and meta["versions"] == ["1"]
    assert client.get("/ping").status_code == 200
    # Serving metrics: per deployment, version and role; promtool accepts them.
    text = client.get("/metrics").text
    assert (
        'shipyard_predictions_total{deployment="bikes",project="default",role="champion",status="ok",version="1"} 7.0'
        in text
    )
    assert 'shipyard_model_batch_rows_count{deployment="bikes",version="1"}' in text
    assert 'shipyard_model_loads_total{deployment="bikes",outcome="ok"} 1.0' in text
    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by `make services` (scripts/services.sh)"
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and not (checked.stdout + checked.stderr).strip(), checked.stdout + checked.stderr


def test_bad_payloads_are_400s_that_name_the_problem(model_live: LiveServer) -> None:
    headers = model_live.key(Role.EDITOR)
    _deploy(model_live, headers)
    client = model_live.client
    wrong_column = {**BIKE_ROW, "tmep": 0.3}
    response = client.post(
        "/deployments/bikes/invocations", json={"dataframe_records": [wrong_column]}, headers=headers
    )
    assert response.status_code == 400
    assert response.json()["error_code"] == "BAD_REQUEST" and "'tmep'" in response.json()["message"]
    wrong_type = {**BIKE_ROW, "hr": "eight"}
    response = client.post("/v1/models/bikes:predict", json={"instances": [wrong_type]}, headers=headers)
    assert response.status_code == 400 and "'hr' expects long" in response.json()["error"]
    missing = {k: v for k, v in BIKE_ROW.items() if k != "temp"}
    response = client.post("/deployments/bikes/invocations", json={"instances": [missing]}, headers=headers)
    assert response.status_code == 400 and "missing column 'temp'" in response.json()["message"]
    bad_shape = {"inputs": [{"name": "hr", "shape": [2], "datatype": "INT64", "data": [8]}]}
    response = client.post("/v2/models/bikes/infer", json=bad_shape, headers=headers)
    assert response.status_code == 400 and "shape [2] needs 2 values" in response.json()["error"]
    two_formats = {"instances": [BIKE_ROW], "dataframe_records": [BIKE_ROW]}
    response = client.post("/deployments/bikes/invocations", json=two_formats, headers=headers)
    assert response.status_code == 400 and "exactly one of" in response.json()["message"]
    response = client.post("/v2/models/nope/infer", json={"inputs": []}, headers=headers)
    assert response.status_code in (400, 404)
    response = client.post("/v1/models/nope:predict", json={"instances": [BIKE_ROW]}, headers=headers)
    assert response.status_code == 404 and "deployments: bikes" in response.json()["error"]
    assert client.post("/v2/models/bikes/infer", json={"inputs": []}).status_code == 401
    tensors = {
        "inputs": [{"name": c, "shape": [1], "datatype": "FP64", "data": [float(v)]} for c, v in BIKE_ROW.items()]
    }
    response = client.post("/v2/models/bikes/versions/2/infer", json=tensors, headers=headers)
    assert response.status_code == 404 and "it serves: 1" in response.json()["error"]
    response = client.post("/v2/models/bikes/versions/1/infer", json=tensors, headers=headers)
    assert (
        response.status_code == 400
        and "datatype 'FP64' does not fit the model's long column" in response.json()["error"]
    )


def test_hot_swap_when_the_alias_moves_in_mlflow(model_live: LiveServer) -> None:
    headers = model_live.key(Role.EDITOR)
    _deploy(model_live, headers)
    client = model_live.client
    services = model_live.services
    client.post("/v1/registry/models/bike-demand/versions/2/approve", json={}, headers=headers)
    # Moved with the plain MLflow client, behind shipyard's back.
    services.registry.client().set_registered_model_alias("default.bike-demand", "champion", "2")

    def served_version() -> bool:
        r = client.post("/v1/models/bikes:predict", json={"instances": [BIKE_ROW]}, headers=headers)
        return r.headers.get("x-model-version") == "2"

    wait_until(served_version, timeout=10)
    deployment = client.get("/v1/deployments/bikes", headers=headers).json()
    assert deployment["version"] == 2 and deployment["previous_version"] == 1
    rolled = client.post("/v1/deployments/bikes/rollback", json={"reason": "test"}, headers=headers).json()
    assert rolled["version"] == 1 and rolled["serving_version"] == 1
    audit = client.get("/v1/audit", params={"target": "deployment:bikes"}, headers=headers).json()["data"]
    assert [e["action"] for e in audit][:2] == ["deployment.rolled_back", "deployment.alias_moved"]
