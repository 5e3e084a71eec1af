"""Deployments and logged predictions, as the API answers and `shipyard deploy … --json` prints them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import BaseModel

from shipyard.models import Deployment, PredictionRecord, Runtime


class DeploymentPublic(BaseModel):
    name: str
    model: str
    alias: str
    version: int
    previous_version: int | None
    canary_version: int | None
    canary_percent: float
    shadow_version: int | None
    max_batch_size: int
    max_wait_ms: float
    log_sample_rate: float
    revision: int
    created_at: datetime
    updated_at: datetime
    # What this API process serves right now (null until its first refresh loaded it). The CLI
    # serves nothing: it prints null, false, [] and null, and `/v1/deployments/{name}` tells.
    serving_version: int | None
    ready: bool
    loaded_versions: list[int]
    problem: str | None

    @classmethod
    def of(cls, deployment: Deployment, runtime: Runtime | None = None) -> DeploymentPublic:
        values = {k: v for k, v in vars(deployment).items() if k not in ("id", "project_id")}
        champion = runtime.champion if runtime is not None else None
        return cls(
            **values,
            serving_version=champion.version if champion is not None else None,
            ready=runtime is not None and runtime.ready,
            loaded_versions=sorted(runtime.models) if runtime is not None else [],
            problem=runtime.problem if runtime is not None else None,
        )


class PredictionPublic(BaseModel):
    id: str
    model: str
    version: int
    role: str
    at: datetime
    latency_ms: float
    status: str
    inputs: dict[str, list[Any]]
    outputs: list[Any] | None
    error: str | None
    label: Any
    labelled_at: datetime | None

    @classmethod
    def of(cls, record: PredictionRecord) -> PredictionPublic:
        values = {k: v for k, v in vars(record).items() if k not in ("project_id", "deployment")}
        return cls(**values)
