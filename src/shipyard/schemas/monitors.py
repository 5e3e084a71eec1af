"""Drift monitors and their results, as the API answers and `shipyard monitors … --json` prints them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel, Field

from shipyard.monitoring import Monitor, MonitorResult, format_duration


class MonitorPublic(BaseModel):
    name: str
    deployment: str | None
    collection: str | None
    reference: dict[str, Any]
    columns: list[str] | None
    config: dict[str, Any]
    role: str | None
    window: str
    every: str | None
    on_drift: str | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, monitor: Monitor) -> MonitorPublic:
        return cls(
            name=monitor.name,
            deployment=monitor.deployment,
            collection=monitor.collection,
            reference=monitor.reference.to_dict(),
            columns=monitor.columns,
            config=monitor.config.to_dict(),
            role=monitor.role,
            window=format_duration(monitor.window_seconds),
            every=format_duration(monitor.interval_seconds) if monitor.interval_seconds else None,
            on_drift=monitor.on_drift,
            next_run_at=monitor.next_run_at,
            last_run_at=monitor.last_run_at,
            last_status=monitor.last_status,
            created_by=monitor.created_by,
            created_at=monitor.created_at,
        )


class ResultPublic(BaseModel):
    id: str
    monitor: str
    at: datetime
    trigger: str
    status: str = Field(description="drift | no_drift | insufficient_data | error")
    share: float | None
    drifted_columns: int
    tested_columns: int
    reference_rows: int
    current_rows: int
    report: dict[str, Any] | None = Field(description="Per column: method, score, threshold, status, effect size")
    error: str | None
    action: str | None = Field(description="What the run did about a drift, e.g. rolled back canary version 2")

    @classmethod
    def of(cls, result: MonitorResult) -> ResultPublic:
        return cls(**vars(result))


class MonitorDetail(MonitorPublic):
    latest: ResultPublic | None

    @classmethod
    def with_latest(cls, monitor: Monitor, latest: MonitorResult | None) -> MonitorDetail:
        return cls(**MonitorPublic.of(monitor).model_dump(), latest=ResultPublic.of(latest) if latest else None)
