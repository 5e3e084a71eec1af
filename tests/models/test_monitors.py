"""Drift monitors on a served model: real traffic through the API, compared with the training data
logged with the version (bike-demand, trained on Jan–Apr 2011)."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pandas as pd
import pytest
from typer.testing import CliRunner

from shipyard.auth import Role
from shipyard.cli.main import app
from shipyard.ids import new_id
from shipyard.models import PredictionRecord
from shipyard.platform import build_platform
from shipyard.settings import get_settings
from shipyard.store.types import utcnow
from tests.conftest import LiveServer, wait_until
from tests.examples import example
from tests.models.conftest import BIKE_COLUMNS
from tests.models.test_cli import cli, fails, run  # noqa: F401 - the `cli` fixture

BIKE = example("bike")


@pytest.fixture(scope="module")
def hours() -> pd.DataFrame:
    return BIKE.load_hours()


def rows(hours: pd.DataFrame, start: str, end: str, n: int, seed: int = 0) -> list[dict[str, Any]]:
    period = hours[(hours["dteday"] >= start) & (hours["dteday"] < end)]
    return period[BIKE_COLUMNS].sample(n, random_state=seed).to_dict(orient="records")


def deploy(live: LiveServer) -> dict[str, str]:
    headers = live.key(Role.EDITOR, rate_limit_per_minute=1_000_000)
    client = live.client
    client.post("/v1/registry/models/bike-demand/versions/1/approve", json={}, headers=headers)
    client.put("/v1/registry/models/bike-demand/aliases/champion", json={"version": 1}, headers=headers)
    assert client.post("/v1/deployments", json={"name": "bikes", "model": "bike-demand"}, headers=headers).is_success
    return headers


def send(live: LiveServer, headers: dict[str, str], instances: list[dict[str, Any]]) -> None:
    for start in range(0, len(instances), 100):
        batch = instances[start : start + 100]
        response = live.client.post("/v1/models/bikes:predict", json={"instances": batch}, headers=headers)
        assert response.status_code == 200, response.text


def test_summer_2012_traffic_drifts_from_the_training_data(model_live: LiveServer, hours: pd.DataFrame) -> None:
    headers = deploy(model_live)
    send(model_live, headers, rows(hours, "2012-06-01", "2012-09-01", 400))
    created = model_live.client.post(
        "/v1/monitors", json={"name": "bikes-drift", "deployment": "bikes"}, headers=headers
    )
    assert created.status_code == 201, created.text
    assert created.json()["reference"] == {"source": "training"} and created.json()["every"] is None

    result = model_live.client.post("/v1/monitors/bikes-drift/run", headers=headers)
    assert result.status_code == 200, result.text
    body = result.json()
    assert (body["status"], body["current_rows"], body["trigger"]) == ("drift", 400, "manual")
    columns = {c["column"]: c for c in body["report"]["columns"]}
    # Every input and the model's own output; the label (cnt) is in the reference, not in traffic.
    assert set(columns) == {*BIKE_COLUMNS, "prediction"}
    assert {"temp", "atemp", "season", "mnth", "prediction"} <= {
        c for c, v in columns.items() if v["status"] == "drift"
    }
    temp = columns["temp"]
    assert (temp["method"], temp["score_kind"], temp["threshold"]) == ("wasserstein", "distance", 0.1)
    assert temp["effect_size"] == temp["score"] > 1

    shown = model_live.client.get("/v1/monitors/bikes-drift", headers=headers).json()
    assert shown["last_status"] == "drift" and shown["latest"]["id"] == body["id"]
    history = model_live.client.get("/v1/monitors/bikes-drift/results", headers=headers).json()
    assert [r["id"] for r in history["data"]] == [body["id"]]
    audit = model_live.client.get("/v1/audit", params={"target": "monitor:bikes-drift"}, headers=headers).json()
    assert [e["action"] for e in audit["data"]] == ["monitor.drift", "monitor.created"]  # newest first
    assert audit["data"][0]["actor"] == "monitor:bikes-drift" and audit["data"][0]["detail"]["result"] == body["id"]


def test_traffic_like_the_training_period_does_not_drift(model_live: LiveServer, hours: pd.DataFrame) -> None:
    headers = deploy(model_live)
    send(model_live, headers, rows(hours, "2011-01-01", "2011-05-01", 500, seed=3))
    body = {"name": "calm", "deployment": "bikes", "columns": ["temp", "hum", "hr", "weathersit", "prediction"]}
    assert model_live.client.post("/v1/monitors", json=body, headers=headers).status_code == 201
    result = model_live.client.post("/v1/monitors/calm/run", headers=headers).json()
    assert result["status"] == "no_drift", result
    assert [c["column"] for c in result["report"]["columns"]] == body["columns"]


def test_a_window_of_earlier_traffic_as_the_reference(model_live: LiveServer, hours: pd.DataFrame) -> None:
    headers = deploy(model_live)
    start = utcnow() - timedelta(seconds=1)
    send(model_live, headers, rows(hours, "2011-01-01", "2011-03-01", 300))
    end = utcnow()
    send(model_live, headers, rows(hours, "2012-06-01", "2012-09-01", 300))
    reference = {"source": "window", "start": start.isoformat(), "end": end.isoformat()}
    columns = ["temp", "atemp", "season", "prediction"]
    body = {"name": "since-launch", "deployment": "bikes", "reference": reference, "window": "1m", "columns": columns}
    created = model_live.client.post("/v1/monitors", json=body, headers=headers)
    assert created.status_code == 201, created.text
    result = model_live.client.post("/v1/monitors/since-launch/run", headers=headers).json()
    # The current window (the last minute) holds both batches: 300 of them from the reference.
    assert (result["status"], result["reference_rows"], result["current_rows"]) == ("drift", 300, 600)


def test_scheduled_runs_are_jobs_and_an_empty_window_is_recorded_not_failed(
    model_live: LiveServer, hours: pd.DataFrame
) -> None:
    headers = deploy(model_live)
    body = {"name": "hourly", "deployment": "bikes", "every": "1h", "window": "5m"}
    assert model_live.client.post("/v1/monitors", json=body, headers=headers).json()["every"] == "1h"
    services = model_live.services
    schedule = services.periodic_task("monitor-schedule")
    schedule.flush()
    schedule.flush()  # a second worker's poll: no second run
    page = lambda: model_live.client.get("/v1/monitors/hourly/results", headers=headers).json()["data"]  # noqa: E731
    wait_until(lambda: len(page()) == 1)
    first = page()[0]
    assert (first["trigger"], first["status"], first["report"]) == ("schedule", "insufficient_data", None)
    assert "no predictions of deployment 'bikes' logged in the last 5m" in first["error"]
    monitor = services.monitors.get(services.access.get_project("default").id, "hourly")
    assert monitor.next_run_at is not None and monitor.next_run_at > utcnow() + timedelta(minutes=59)
    assert services.monitors.due() == []
    jobs = model_live.client.get("/v1/jobs", params={"kind": "monitor.run"}, headers=headers).json()["data"]
    assert [j["status"] for j in jobs] == ["succeeded"]

    send(model_live, headers, rows(hours, "2012-06-01", "2012-09-01", 200))
    schedule.flush()  # not due yet
    assert len(page()) == 1

    # A scheduled run that cannot compare records an error and stays on schedule.
    assert model_live.client.delete("/v1/deployments/bikes", headers=headers).status_code == 204
    project = services.access.get_project("default").id
    failed = services.monitors.run(project, "hourly", trigger="schedule")
    assert failed.status == "error" and "bikes" in (failed.error or "")
    assert services.monitors.get(project, "hourly").next_run_at > utcnow() + timedelta(minutes=59)  # type: ignore[operator]


def test_bad_monitors_get_clear_errors(model_live: LiveServer, hours: pd.DataFrame) -> None:
    headers = deploy(model_live)
    client = model_live.client

    def create(**body: Any) -> Any:
        return client.post("/v1/monitors", json={"name": "m", "deployment": "bikes", **body}, headers=headers)

    unknown = create(columns=["temp", "colour"])
    assert unknown.status_code == 400, unknown.text
    assert "column(s) not in the reference: colour; it has: season" in unknown.json()["error"]["message"], unknown.text
    assert create(deployment="nope").status_code == 404
    assert "invalid duration '5x'" in create(window="5x").json()["error"]["message"]
    assert create(window="10s").status_code == 400  # shorter than a minute
    naive = create(reference={"source": "window", "start": "2026-01-01T00:00:00", "end": "2026-01-02T00:00:00"})
    assert naive.status_code == 400 and "time zone" in naive.json()["error"]["message"]
    no_traffic = create(reference={"source": "window", "start": "2020-01-01T00:00:00Z", "end": "2020-01-02T00:00:00Z"})
    assert no_traffic.status_code == 400 and "has no logged predictions" in no_traffic.json()["error"]["message"]
    assert create(tests={"temp": {"method": "magic"}}).status_code == 422
    unused = create(columns=["temp"], tests={"hum": {"method": "ks"}})
    assert "does not compare: hum" in unused.json()["error"]["message"]

    assert create().status_code == 201
    assert create().status_code == 409
    empty = client.post("/v1/monitors/m/run", headers=headers)
    assert empty.status_code == 422
    assert empty.json()["error"]["code"] == "empty_window" and "no predictions" in empty.json()["error"]["message"]
    assert client.post("/v1/monitors/ghost/run", headers=headers).status_code == 404

    send(model_live, headers, rows(hours, "2012-06-01", "2012-09-01", 10))
    thin = client.post("/v1/monitors/m/run", headers=headers).json()
    assert thin["status"] == "insufficient_data" and thin["share"] is None
    assert {c["status"] for c in thin["report"]["columns"]} == {"insufficient_data"}

    viewer = model_live.key(Role.VIEWER)
    assert client.post("/v1/monitors/m/run", headers=viewer).status_code == 403
    assert client.get("/v1/monitors", headers=viewer).json()[0]["name"] == "m"
    assert client.delete("/v1/monitors/m", headers=headers).status_code == 204
    assert client.get("/v1/monitors/m", headers=headers).status_code == 404


def test_cli_monitor_walk(cli: CliRunner, hours: pd.DataFrame) -> None:  # noqa: F811
    run(cli, "models", "approve", "bike-demand", "1", "--reason", "ok")
    run(cli, "models", "alias", "bike-demand", "1", "champion")
    run(cli, "deploy", "create", "bikes", "--model", "bike-demand")
    assert "column(s) not in the reference: colour" in fails(
        cli, "monitors", "create", "m", "--deployment", "bikes", "--column", "colour"
    )
    assert "invalid --test" in fails(cli, "monitors", "create", "m", "--deployment", "bikes", "--test", "temp=magic")
    # Version 0 was stored from the CLI while the API refused it: one rule now (references.py).
    assert "model versions run from 1 to 2147483647" in fails(
        cli, "monitors", "create", "m", "--deployment", "bikes", "--reference", "training:0"
    )
    created = run(cli, "monitors", "create", "m", "--deployment", "bikes", "--every", "15m", "--test", "hum=ks:0.01")
    assert created["every"] == "15m" and created["config"]["columns"] == {"hum": {"method": "ks", "threshold": 0.01}}
    assert [m["name"] for m in run(cli, "monitors", "list")] == ["m"]
    assert "no predictions of deployment 'bikes'" in fails(cli, "monitors", "run", "m")

    # Traffic a serving process logged (written here straight to the store the CLI reads).
    services = build_platform(get_settings())
    try:
        frame = pd.DataFrame(rows(hours, "2012-06-01", "2012-09-01", 300))
        services.predictions.record(
            PredictionRecord(
                id=new_id("prd"), project_id=services.access.get_project("default").id, deployment="bikes",
                model="bike-demand", version=1, role="champion", at=utcnow(), latency_ms=3.0, status="ok",
                inputs=frame.to_dict(orient="list"), outputs=[400.0] * len(frame), error=None,
            )
        )  # fmt: skip
        services.predictions.writer.flush_now()
    finally:
        services.close()

    result = cli.invoke(app, ["monitors", "run", "m", "--fail-on-drift"])
    assert result.exit_code == 3, result.output
    assert "drift:" in result.stdout and "temp" in result.stdout
    shown = run(cli, "monitors", "show", "m")
    assert shown["latest"]["status"] == "drift" and shown["last_status"] == "drift"
    hum = next(c for c in shown["latest"]["report"]["columns"] if c["column"] == "hum")
    assert (hum["method"], hum["threshold"]) == ("ks", 0.01)
    assert json.loads(cli.invoke(app, ["monitors", "results", "m", "--json"]).stdout)[0]["status"] == "drift"


def test_drift_in_a_canarys_traffic_rolls_the_canary_back(model_live: LiveServer, hours: pd.DataFrame) -> None:
    headers = deploy(model_live)
    client = model_live.client
    client.post("/v1/registry/models/bike-demand/versions/2/approve", json={}, headers=headers)
    assert client.put("/v1/deployments/bikes/canary", json={"version": 2, "percent": 50}, headers=headers).is_success
    # Traffic starts once the canary serves: sent before the refresh loads version 2, it all went to
    # the champion and a canary left with under ~150 calm rows drifts on sampling noise alone.
    probe = rows(hours, "2011-01-01", "2011-05-01", 1)
    wait_until(lambda: any(
        client.post("/v1/models/bikes:predict", json={"instances": probe}, headers=headers).headers[
            "x-model-version"] == "2" for _ in range(20)
    ))  # fmt: skip
    # A third of the columns: the hour's window mixes calm and summer traffic in whatever share
    # the random split gives the canary; season, month and both temperatures drift in any mix
    # (scores 4-14x their threshold), while the 50 % default sat on the line (6 or 7 of 12).
    body = {"name": "canary-watch", "deployment": "bikes", "role": "canary", "on_drift": "rollback_canary",
            "drift_share": 0.3}  # fmt: skip
    created = client.post("/v1/monitors", json=body, headers=headers)
    assert created.status_code == 201 and created.json()["on_drift"] == "rollback_canary"

    # Traffic like the training period: the canary is fine and stays.
    # 1,200 rows give the canary 420 or more in 300 simulated splits, none of them drifting (300
    # rows: 0 of 200; 120 rows: 60 of 200 drift on noise).
    instances = rows(hours, "2011-01-01", "2011-05-01", 1200, seed=5)
    for start in range(0, 1200, 10):
        client.post("/v1/models/bikes:predict", json={"instances": instances[start : start + 10]}, headers=headers)
    calm = client.post("/v1/monitors/canary-watch/run", headers=headers).json()
    assert calm["status"] == "no_drift" and calm["action"] is None and 300 < calm["current_rows"] < 900, calm
    assert client.get("/v1/deployments/bikes", headers=headers).json()["canary_version"] == 2

    # Summer 2012 reaches the canary: the run finds drift and removes the canary at once.
    instances = rows(hours, "2012-06-01", "2012-09-01", 1200, seed=6)
    for start in range(0, 1200, 10):
        client.post("/v1/models/bikes:predict", json={"instances": instances[start : start + 10]}, headers=headers)
    drift = client.post("/v1/monitors/canary-watch/run", headers=headers).json()
    assert (drift["status"], drift["action"]) == ("drift", "rolled back canary version 2")
    deployment = client.get("/v1/deployments/bikes", headers=headers).json()
    assert (deployment["canary_version"], deployment["canary_percent"], deployment["version"]) == (None, 0.0, 1)

    audit = client.get("/v1/audit", params={"target": "deployment:bikes"}, headers=headers).json()["data"]
    rolled = next(e for e in audit if e["action"] == "deployment.rolled_back")
    assert rolled["actor"] == "monitor:canary-watch" and rolled["detail"]["removed_canary"] == 2
    assert (
        rolled["detail"]["reason"].startswith("monitor canary-watch: drift in ")
        and "temp" in rolled["detail"]["reason"]
    )
    events = client.get("/v1/audit", params={"target": "monitor:canary-watch"}, headers=headers).json()["data"]
    assert [e["action"] for e in events] == ["monitor.drift", "monitor.created"]  # newest first
    # Within a refresh every process serves the champion alone again.
    wait_until(lambda: all(
        client.post("/v1/models/bikes:predict", json={"instances": instances[:1]}, headers=headers).headers[
            "x-model-version"] == "1" for _ in range(20)
    ))  # fmt: skip

    # Drift again: reported once (no second monitor.drift), nothing left to roll back.
    again = client.post("/v1/monitors/canary-watch/run", headers=headers).json()
    assert (again["status"], again["action"]) == ("drift", "no canary to roll back")
    events = client.get("/v1/audit", params={"target": "monitor:canary-watch"}, headers=headers).json()["data"]
    assert [e["action"] for e in events].count("monitor.drift") == 1
