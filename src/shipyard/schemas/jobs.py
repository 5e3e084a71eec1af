"""A job, as the API answers and `shipyard jobs … --json` prints it."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from shipyard.schemas.base import Public


class JobPublic(Public):
    id: str
    kind: str
    status: str
    payload: dict[str, Any]
    attempts: int
    max_attempts: int
    progress_done: int
    progress_total: int | None
    progress_message: str | None
    result: dict[str, Any] | None
    error: str | None
    run_at: datetime
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    updated_at: datetime
