"""Public job value objects."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any

from shipyard.ids import JobId, ProjectId


class JobStatus(StrEnum):
    QUEUED = "queued"  # waiting for run_at and a free worker (also: waiting to retry)
    RUNNING = "running"  # claimed by a worker holding a live lease
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # attempts exhausted or a permanent error


@dataclass(frozen=True)
class Job:
    id: JobId
    project_id: ProjectId
    kind: str
    payload: dict[str, Any]
    status: JobStatus
    attempts: int
    max_attempts: int
    progress_done: int
    progress_total: int | None
    progress_message: str | None
    result: dict[str, Any] | None
    error: str | None
    worker_id: str | None
    run_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime


@dataclass(frozen=True)
class Claim:
    """A job a worker holds; `token` fences every write it makes while the lease lives."""

    job: Job
    token: str
