"""A monitor's drift lifecycle on the real store and audit log, with the deployment and its traffic
as small fakes (no model, no MLflow): drift is audited when it starts and when it ends, once."""

from __future__ import annotations

from datetime import datetime
from types import SimpleNamespace
from typing import Any

import numpy as np
import pandas as pd

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.monitoring import MonitorService
from shipyard.platform import Platform

RNG = np.random.default_rng(11)


class Traffic:
    """What `PredictionLog.window` would return: whatever the test says the last window held."""

    def __init__(self) -> None:
        self.current = pd.DataFrame()

    def window(self, project_id: str, deployment: str, *, since: datetime, **_: Any) -> pd.DataFrame:
        return self.current


class Deployments:
    def __init__(self) -> None:
        self.deployment = SimpleNamespace(name="bikes", model="bike-demand", version=1, canary_version=None)
        self.registry = SimpleNamespace(reference_data=lambda project, model, version: frame(0.0))

    def get(self, project_id: str, name: str) -> Any:
        return self.deployment


def frame(shift: float) -> pd.DataFrame:
    return pd.DataFrame({"temp": RNG.normal(shift, 1, 2000), "hum": RNG.normal(shift, 1, 2000)})


def test_drift_is_audited_when_it_starts_and_when_it_ends(services: Platform) -> None:
    traffic = Traffic()
    monitors = MonitorService(services.database, Deployments(), traffic, services.audit)  # type: ignore[arg-type]
    monitors.create(DEFAULT_PROJECT_ID, "m", "bikes", by="test")

    def actions() -> list[str]:
        events = services.audit.find(DEFAULT_PROJECT_ID, target="monitor:m").items
        return [e.action for e in reversed(events)]

    statuses = []
    for shift in (0.0, 2.0, 2.0, 0.0, 0.0, 2.0):
        traffic.current = frame(shift)
        statuses.append(monitors.run(DEFAULT_PROJECT_ID, "m").status)
    assert statuses == ["no_drift", "drift", "drift", "no_drift", "no_drift", "drift"]
    assert actions() == ["monitor.created", "monitor.drift", "monitor.recovered", "monitor.drift"]
    drift = services.audit.find(DEFAULT_PROJECT_ID, target="monitor:m", action="monitor.drift").items[0]
    assert drift.actor == "monitor:m" and drift.detail["columns"] == "2 of 2 columns (temp, hum)"
    assert [r.status for r in monitors.results(DEFAULT_PROJECT_ID, "m", limit=10).items] == statuses[::-1]
