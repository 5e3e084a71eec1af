"""Every duration a tenant writes is parsed once, bounded (0 … 400 days): no huge value reaches
date arithmetic (a 500) or a schedule (a monitor that never runs again)."""

from __future__ import annotations

import time
from datetime import datetime, timedelta
from typing import Any

import pytest

from shipyard.auth import Role
from shipyard.errors import InvalidInput
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.monitoring import DriftConfig, MonitorService, Reference, parse_duration
from shipyard.monitoring.references import MAX_DURATION_SECONDS
from shipyard.platform import Platform
from shipyard.store import MonitorRow
from tests.conftest import LiveServer
from tests.monitoring.test_monitor_lifecycle import Deployments, Traffic, frame


def test_durations_run_from_0_to_400_days() -> None:
    for value, seconds in (("90", 90), (90, 90), ("15m", 900), (" 1.5h ", 5400), ("0s", 0), ("400d", 34_560_000)):
        assert parse_duration(value) == seconds
    assert MAX_DURATION_SECONDS == 400 * 86400
    with pytest.raises(InvalidInput, match="out of range: use 0 s up to 400 days"):
        parse_duration(MAX_DURATION_SECONDS + 1)


@pytest.mark.parametrize(
    "value",
    ["150000000w", "401d", pytest.param("9" * 400, id="400 nines"), 10**30, pytest.param(10**5000, id="10**5000"),
     MAX_DURATION_SECONDS + 1, -1, float("inf"), float("nan"), True, "٣m",
     pytest.param("1" + " " * 100_000 + "x", id="1, 100,000 spaces, x")],
)  # fmt: skip
def test_out_of_range_or_malformed_durations_are_invalid_input(value: Any) -> None:
    started = time.thread_time()
    with pytest.raises(InvalidInput, match="duration"):
        parse_duration(value)
    assert time.thread_time() - started < 0.05  # the old pattern was quadratic on long whitespace


def bad_request(live: LiveServer, method: str, path: str, headers: dict[str, str] | None = None, **kwargs: Any) -> str:
    response = live.client.request(method, path, headers={**live.key(Role.EDITOR), **(headers or {})}, **kwargs)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    return str(error["message"])


@pytest.mark.parametrize("duration", ["150000000w", 10**30, pytest.param("9" * 400, id="400 nines")])
def test_a_huge_silence_is_a_400(live: LiveServer, duration: str | int) -> None:
    body = {"matchers": {"alertname": "x"}, "duration": duration, "comment": "c"}
    assert "duration" in bad_request(live, "POST", "/v1/alerts/silences", json=body)


@pytest.mark.parametrize(
    ("fields", "message"),
    [({"every": "150000000w"}, "out of range"), ({"every": 10**30}, "out of range"),
     pytest.param({"window": "9" * 400}, "invalid", id="400 nines"), ({"every": "366d"}, "between 1m and 90d"),
     ({"min_rows": 10**6}, "min_rows")],
)  # fmt: skip
def test_a_huge_monitor_is_a_400(live: LiveServer, fields: dict[str, Any], message: str) -> None:
    body = {"name": "m", "deployment": "bikes", **fields}
    assert message in bad_request(live, "POST", "/v1/monitors", json=body)


@pytest.mark.parametrize(
    ("rule", "message"),
    [('"for": "150000000w"', "alert 'a': for: duration 150000000w is out of range"),
     pytest.param('"window": "' + "9" * 400 + '"', "alert 'a': window: invalid duration", id="400 nines"),
     ('"hold": "150000000w"', "hold: duration"),
     ('"above": 1e999', "alerts.0.above")],
)  # fmt: skip
def test_a_huge_alert_rule_is_a_400(live: LiveServer, rule: str, message: str) -> None:
    """The JSON body as sent: `1e999` is what Python's parser reads as infinity."""
    threshold = '"threshold": {"signal": "requests"}' + ("" if "above" in rule else ', "above": 1')
    content = '{"alerts": [{"name": "a", ' + threshold + ", " + rule + "}]}"
    headers = {"Content-Type": "application/json"}
    assert message in bad_request(live, "PUT", "/v1/alerts/config", content=content, headers=headers)


def test_a_monitor_schedule_and_its_options_are_bounded(services: Platform) -> None:
    monitors = MonitorService(services.database, Deployments(), Traffic(), services.audit)  # type: ignore[arg-type]
    late = datetime.fromisoformat("9999-12-31T23:00:00-05:00")
    for kwargs in (
        {"interval_seconds": 365 * 86400},  # F11: accepted, and the next run a year away
        {"config": DriftConfig(min_rows=1_000_000)},  # more than a window reads: never a verdict
        {"reference": Reference("training", version=2**40)},
        {"reference": Reference("window", start=late - timedelta(hours=1), end=late)},  # no UTC time
    ):
        with pytest.raises(InvalidInput, match="range|between 1m and 90d|at most"):
            monitors.create(DEFAULT_PROJECT_ID, "m", "bikes", by="test", **kwargs)  # type: ignore[arg-type]


def test_a_stored_schedule_beyond_the_bound_runs_within_90_days(services: Platform) -> None:
    """A monitor stored before the bound (SQLite kept any number) is not pushed decades away."""
    traffic = Traffic()
    traffic.current = frame(0.0)
    monitors = MonitorService(services.database, Deployments(), traffic, services.audit)  # type: ignore[arg-type]
    monitors.create(DEFAULT_PROJECT_ID, "m", "bikes", interval_seconds=3600, by="test")
    with services.database.write() as session:
        row = session.query(MonitorRow).filter(MonitorRow.name == "m").one()
        row.interval_seconds = 1_000_000_000  # 31 years
    result = monitors.run(DEFAULT_PROJECT_ID, "m", trigger="schedule")
    next_run = monitors.get(DEFAULT_PROJECT_ID, "m").next_run_at
    assert next_run is not None and next_run <= result.at + timedelta(days=90)
