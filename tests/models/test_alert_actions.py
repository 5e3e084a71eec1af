"""Alerts act: a canary that is made to fail (flaky v2, a bad build) burns its SLO and is rolled
back — by the in-process engine, by an error-rate rule, by a drift rule, and by Prometheus's
alerts arriving through Alertmanager's webhook. Real serving, real HTTP, real notifications."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.auth import Role
from shipyard.ids import DEFAULT_PROJECT_ID
from tests.conftest import LiveServer, wait_until
from tests.models.test_monitors import deploy as deploy_bikes
from tests.models.test_monitors import rows
from tests.webhook_receiver import Received, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[Received]:
    with webhook_receiver() as received:
        yield received


def canary(live: LiveServer) -> dict[str, str]:
    """flaky v1 serves; the bad build v2 takes half the traffic as a canary."""
    headers = live.key(Role.EDITOR, rate_limit_per_minute=1_000_000)
    client = live.client
    for version in (1, 2):
        assert client.post(f"/v1/registry/models/flaky/versions/{version}/approve", json={}, headers=headers).is_success
    client.put("/v1/registry/models/flaky/aliases/champion", json={"version": 1}, headers=headers)
    assert client.post("/v1/deployments", json={"name": "flaky", "model": "flaky"}, headers=headers).is_success
    response = client.put("/v1/deployments/flaky/canary", json={"version": 2, "percent": 50}, headers=headers)
    assert response.status_code == 200 and response.json()["canary_version"] == 2, response.text
    return headers


def traffic(live: LiveServer, headers: dict[str, str], n: int) -> list[int]:
    """`n` requests with x = 5: the champion doubles it, the bad build fails (503)."""
    body = {"instances": [{"x": 5.0}]}
    return [live.client.post("/v1/models/flaky:predict", json=body, headers=headers).status_code for _ in range(n)]


def serves_champion_alone(live: LiveServer, deployment: str) -> bool:
    runtime = live.services.model_server.current(DEFAULT_PROJECT_ID, deployment)
    return runtime is not None and runtime.deployment.canary_version is None


def apply(live: LiveServer, headers: dict[str, str], spec: dict[str, Any]) -> None:
    response = live.client.put("/v1/alerts/config", json=spec, headers=headers)
    assert response.status_code == 200, response.text


def evaluate(live: LiveServer, headers: dict[str, str]) -> dict[str, int]:
    response = live.client.post("/v1/alerts/evaluate", headers=headers)
    assert response.status_code == 200, response.text
    result: dict[str, int] = response.json()
    return result


def rolled_back(live: LiveServer, headers: dict[str, str]) -> list[dict[str, Any]]:
    events = live.client.get("/v1/audit", params={"action": "deployment.rolled_back"}, headers=headers).json()["data"]
    return [e for e in events if e["target"].endswith("flaky")]


def test_a_failing_canary_burns_its_slo_and_is_rolled_back(model_live: LiveServer, receiver: Received) -> None:
    headers = canary(model_live)
    apply(model_live, headers, {
        "slos": [{"name": "flaky-canary", "objective": 99, "action": "rollback_canary",
                  "sli": {"availability": {"deployment": "flaky", "role": "canary"}}}],
        "notifiers": [{"name": "oncall", "webhook": f"{receiver.url}/am"}],
    })  # fmt: skip
    statuses = traffic(model_live, headers, 40)
    assert 200 in statuses and 503 in statuses  # the champion answers, the canary fails
    assert evaluate(model_live, headers)["fired"] == 2  # the page and the ticket
    state = model_live.client.get("/v1/deployments/flaky", headers=headers).json()
    assert state["canary_version"] is None and state["version"] == 1
    (event,) = rolled_back(model_live, headers)
    assert event["actor"] == "alert:flaky-canary"
    assert "error ratio 1 over 1h and 1 over 5m" in event["detail"]["reason"]
    alerts = model_live.client.get("/v1/alerts", params={"state": "firing"}, headers=headers).json()["data"]
    page = next(a for a in alerts if a["severity"] == "page")
    assert page["action"] == "rolled back canary version 2 of deployment flaky"
    shown = model_live.client.get(f"/v1/alerts/{page['id']}", headers=headers).json()
    assert [h["state"] for h in shown["history"]] == ["pending", "firing", "firing"]
    (body, *_) = receiver.wait_for(1)
    assert body["status"] == "firing" and body["commonLabels"]["slo"] == "flaky-canary"
    # The serving process drops the canary at its next refresh; from then on, no more failures.
    # (Waiting for 5 answers in a row to succeed passed by chance 1 time in 32 at a 50 % canary.)
    wait_until(lambda: serves_champion_alone(model_live, "flaky"), timeout=30)
    assert traffic(model_live, headers, 20) == [200] * 20
    # Firing again does not roll back twice (there is no canary left, and the alert is already open).
    assert evaluate(model_live, headers)["fired"] == 0
    assert len(rolled_back(model_live, headers)) == 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the SLO test above covers both stores
def test_an_error_rate_rule_rolls_the_canary_back_and_notifies_slack(
    model_live: LiveServer, receiver: Received
) -> None:
    headers = canary(model_live)
    apply(model_live, headers, {
        "alerts": [{"name": "canary-errors", "threshold": {"signal": "error_rate", "deployment": "flaky",
                                                           "role": "canary"},
                    "window": "5m", "above": 0.05, "min_events": 10, "action": "rollback_canary"}],
        "notifiers": [{"name": "chat", "slack": f"{receiver.url}/services/T000/B000/secret"}],
    })  # fmt: skip
    traffic(model_live, headers, 40)
    assert evaluate(model_live, headers)["fired"] == 1
    assert model_live.client.get("/v1/deployments/flaky", headers=headers).json()["canary_version"] is None
    (event,) = rolled_back(model_live, headers)
    assert event["actor"] == "alert:canary-errors" and "error_rate 1 over 5m" in event["detail"]["reason"]
    text = receiver.wait_for(1)[0]["text"]
    assert text.startswith("*[FIRING:1] canary-errors*") and "deployment=flaky" in text
    notifiers = model_live.client.get("/v1/alerts/notifiers", headers=headers).json()
    assert notifiers[0]["url"] == receiver.url + "/…"  # the secret part of a Slack URL is never shown
    wait_until(lambda: model_live.client.get("/v1/alerts/notifiers", headers=headers).json()[0]["last_status"] == 200)
    config = model_live.client.get("/v1/alerts/config", headers=headers).json()
    assert "secret" not in str(config)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the SLO test above covers both stores
def test_a_drift_rule_fires_with_its_monitor_and_rolls_back(model_live: LiveServer, hours: Any) -> None:
    headers = deploy_bikes(model_live)
    client = model_live.client
    client.post("/v1/registry/models/bike-demand/versions/2/approve", json={}, headers=headers)
    client.put("/v1/deployments/bikes/canary", json={"version": 2, "percent": 50}, headers=headers)
    monitor = {"name": "bikes-drift", "deployment": "bikes", "role": "canary"}
    assert client.post("/v1/monitors", json=monitor, headers=headers).is_success
    apply(model_live, headers, {"alerts": [{"name": "bikes-drifting", "drift": {"monitor": "bikes-drift"},
                                            "severity": "ticket", "action": "rollback_canary"}]})  # fmt: skip

    def send(instances: list[dict[str, Any]]) -> None:
        """Ten rows a request, each with its own sticky key: the same half reaches the canary every run."""
        for start in range(0, len(instances), 10):
            batch = {"instances": instances[start : start + 10]}
            client.post("/v1/models/bikes:predict", json=batch, headers={**headers, "X-Request-Key": f"r{start}"})

    send(rows(hours, "2011-01-01", "2011-05-01", 400, seed=5))
    assert client.post("/v1/monitors/bikes-drift/run", headers=headers).json()["status"] == "no_drift"
    assert evaluate(model_live, headers)["fired"] == 0  # traffic like the training data
    send(rows(hours, "2012-06-01", "2012-09-01", 1200, seed=6))  # summer: three quarters of the window
    assert client.post("/v1/monitors/bikes-drift/run", headers=headers).json()["status"] == "drift"
    assert evaluate(model_live, headers)["fired"] == 1
    (alert,) = client.get("/v1/alerts", params={"state": "firing"}, headers=headers).json()["data"]
    assert alert["labels"]["monitor"] == "bikes-drift" and alert["labels"]["deployment"] == "bikes"
    assert alert["action"] == "rolled back canary version 2 of deployment bikes"
    rules = client.get("/v1/alerts/prometheus-rules", headers=headers).text
    assert 'max(shipyard_monitor_drifting{project="default",monitor="bikes-drift"}) == 1' in rules
    assert 'shipyard_monitor_drifting{deployment="bikes",monitor="bikes-drift",project="default"} 1.0' in (
        client.get("/metrics").text
    )


def _am_alert(status: str, **labels: str) -> dict[str, Any]:
    return {
        "status": status,
        "labels": {"alertname": "ShipyardSLOBurnRateHigh", "severity": "page", "slo": "flaky-canary", **labels},
        "annotations": {"summary": "SLO flaky-canary is burning its 30-day error budget"},
        "startsAt": "2026-12-03T10:00:00Z",
        "endsAt": "2026-12-03T10:05:00Z" if status == "resolved" else "0001-01-01T00:00:00Z",
        "generatorURL": "http://prometheus:9090/graph",
        "fingerprint": "a1b2c3d4e5f60718",
    }


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # the SLO test above covers both stores
def test_alertmanager_webhooks_record_prometheus_alerts_and_roll_back(model_live: LiveServer) -> None:
    headers = canary(model_live)
    client = model_live.client
    others = {"deployment": "flaky", "shipyard_action": "rollback_canary", "project": "someone-else"}
    foreign = {"version": "4", "status": "firing", "alerts": [{**_am_alert("firing", **others), "fingerprint": "f1"}]}
    assert client.post("/v1/alerts/alertmanager", json=foreign, headers=headers).json()["actions"] == 0
    labels = {"deployment": "flaky", "shipyard_action": "rollback_canary", "project": "default"}
    firing = {"version": "4", "status": "firing", "receiver": "shipyard", "alerts": [_am_alert("firing", **labels)]}
    assert client.post("/v1/alerts/alertmanager", json=firing, headers=headers).json() == {
        "received": 1, "opened": 1, "resolved": 0, "actions": 1}  # fmt: skip
    assert client.post("/v1/alerts/alertmanager", json=firing, headers=headers).json()["opened"] == 0  # a repeat
    assert client.get("/v1/deployments/flaky", headers=headers).json()["canary_version"] is None
    (event,) = rolled_back(model_live, headers)
    assert (
        event["actor"] == "alert:flaky-canary"
        and "Prometheus alert ShipyardSLOBurnRateHigh" in event["detail"]["reason"]
    )
    resolved = {"version": "4", "status": "resolved", "alerts": [_am_alert("resolved", **labels)]}
    assert client.post("/v1/alerts/alertmanager", json=resolved, headers=headers).json()["resolved"] == 1
    alerts = client.get("/v1/alerts", headers=headers).json()["data"]
    ours = next(a for a in alerts if a["fingerprint"] == "a1b2c3d4e5f60718")
    assert (ours["source"], ours["state"], ours["resolved_at"]) == ("prometheus", "resolved", "2026-12-03T10:05:00Z")
    assert ours["action"] == "rolled back canary version 2 of deployment flaky"
    # Bad input is a 400 naming the problem; viewers may not post alerts.
    bad = client.post("/v1/alerts/alertmanager", json={"alerts": [{"status": "firing"}]}, headers=headers)
    assert bad.status_code == 400 and "alerts.0.labels" in bad.json()["error"]["message"]
    viewer = model_live.key(Role.VIEWER)
    assert client.post("/v1/alerts/alertmanager", json=firing, headers=viewer).status_code == 403


@pytest.fixture(scope="module")
def hours() -> Any:
    from tests.models.test_monitors import BIKE

    return BIKE.load_hours()
