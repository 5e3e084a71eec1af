"""`PredictionLog.window`: logged requests as one frame of input rows (what monitors compare)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from shipyard.ids import DEFAULT_PROJECT_ID, new_id
from shipyard.models import PredictionRecord
from shipyard.platform import Platform
from shipyard.store.types import utcnow


def record(inputs: dict[str, list[Any]], outputs: list[Any] | None, *, role: str = "champion", status: str = "ok",
           ago: float = 0.0) -> PredictionRecord:  # fmt: skip
    return PredictionRecord(
        id=new_id("prd"), project_id=DEFAULT_PROJECT_ID, deployment="bikes", model="bike-demand", version=1,
        role=role, at=utcnow() - timedelta(seconds=ago), latency_ms=1.0, status=status, inputs=inputs,
        outputs=outputs, error=None,
    )  # fmt: skip


def test_window_flattens_requests_into_rows(services: Platform) -> None:
    log = services.predictions
    log.record(record({"temp": [0.1, 0.2], "hr": [1, 2]}, [10.0, 20.0], ago=30))
    log.record(record({"temp": [0.3]}, [30.0], ago=20))  # a request without `hr`
    log.record(record({"temp": [0.4], "hr": [4]}, [[1, 2]], ago=10))  # not one value per row: no prediction
    log.record(record({"temp": [9.9], "hr": [9]}, [99.0], role="shadow"))  # shadow calls are left out
    log.record(record({"temp": [8.8], "hr": [8]}, None, status="error"))  # so are failures
    log.record(record({"temp": [7.7], "hr": [7]}, [77.0], ago=3600))  # and what is older than `since`
    window = log.window(DEFAULT_PROJECT_ID, "bikes", since=utcnow() - timedelta(minutes=5))
    assert window["temp"].tolist() == [0.4, 0.3, 0.1, 0.2]  # newest request first
    assert window["hr"].tolist()[0] == 4 and window["hr"].isna().tolist() == [False, True, False, False]
    assert window["prediction"].isna().tolist() == [True, False, False, False]
    assert window["prediction"].tolist()[1:] == [30.0, 10.0, 20.0]
    shadow = log.window(DEFAULT_PROJECT_ID, "bikes", since=utcnow() - timedelta(minutes=5), role="shadow")
    assert shadow["temp"].tolist() == [9.9]
    capped = log.window(DEFAULT_PROJECT_ID, "bikes", since=utcnow() - timedelta(minutes=5), max_rows=3)
    assert len(capped) == 3
    assert log.window(DEFAULT_PROJECT_ID, "other", since=utcnow() - timedelta(minutes=5)).empty
