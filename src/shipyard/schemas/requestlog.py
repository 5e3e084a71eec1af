"""A request-log row, as `GET /v1/requests` answers and `shipyard requests list --json` prints it."""

from __future__ import annotations

from datetime import datetime

from shipyard.schemas.base import Public


class RequestPublic(Public):
    id: int
    ts: datetime
    method: str
    route: str
    path: str
    status: int
    latency_ms: float
    key_id: str | None
    trace_id: str
    error_code: str | None
    error: str | None
