"""Drift monitors over HTTP: define, list, run now, and read each run's report."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from anyio import to_thread
from fastapi import APIRouter, Query, Request, status
from pydantic import BaseModel, ConfigDict, Field

from shipyard.api.deps import authorize, monitors_of
from shipyard.api.routing import PrefixedRoute
from shipyard.api.schemas import ERROR_RESPONSES, PageOf
from shipyard.auth import Role
from shipyard.limits import StoreInt
from shipyard.monitoring import DriftConfig, Reference, format_duration, parse_duration
from shipyard.monitoring.monitors import DEFAULT_WINDOW_SECONDS, MAX_WINDOW_ROWS
from shipyard.names import Named
from shipyard.schemas.monitors import MonitorDetail, MonitorPublic, ResultPublic

router = APIRouter(route_class=PrefixedRoute, prefix="/v1/monitors", tags=["monitors"], responses=ERROR_RESPONSES)


class ReferenceSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    source: Literal["training", "window", "previous"] = Field(
        default="training", description="training (deployments), window (start/end), previous (the window before)"
    )
    version: StoreInt | None = Field(default=None, description="training: this version's data (default: served)")
    start: datetime | None = Field(default=None, description="window: from (ISO 8601 with a time zone)")
    end: datetime | None = Field(default=None, description="window: until (exclusive)")


class ColumnSpec(BaseModel):
    model_config = ConfigDict(extra="forbid")
    kind: Literal["numeric", "categorical"] | None = None
    method: Literal["ks", "chisquare", "z", "wasserstein", "jensenshannon", "psi", "model", "mmd"] | None = Field(
        default=None, description="model or mmd: only for a collection monitor's query_embedding"
    )
    threshold: float | None = Field(default=None, json_schema_extra={"exclusiveMinimum": 0})


class MonitorCreate(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: Annotated[str, Named("monitor")]
    deployment: str | None = Field(default=None, description="Watch this deployment's inputs and predictions")
    collection: str | None = Field(
        default=None, description="Or watch this RAG collection's questions, top similarities and no-answer share"
    )
    reference: ReferenceSpec | None = Field(
        default=None, description="Default: training for a deployment, previous for a collection"
    )
    columns: list[str] | None = Field(default=None, description="Columns to compare (default: all the reference's)")
    window: str | int = Field(
        default=format_duration(DEFAULT_WINDOW_SECONDS), description="The current window: seconds or e.g. 15m, 1h, 7d"
    )
    every: str | int | None = Field(default=None, description="Run on this schedule (e.g. 15m); null: only on demand")
    role: Literal["champion", "canary", "pinned", "shadow"] | None = Field(
        default=None, description="Only this role's predictions (default: all served traffic, no shadow calls)"
    )
    on_drift: Literal["rollback_canary"] | None = Field(
        default=None, description="rollback_canary: remove the deployment's canary when this monitor finds drift"
    )
    # Bounds shown here, checked by DriftConfig and MonitorService (400, their words, for every caller).
    drift_share: float = Field(default=DriftConfig.drift_share, json_schema_extra={"exclusiveMinimum": 0, "maximum": 1})
    min_rows: StoreInt = Field(default=DriftConfig.min_rows, json_schema_extra={"maximum": MAX_WINDOW_ROWS})
    tests: dict[str, ColumnSpec] = Field(default_factory=dict, description="Per-column kind, method, threshold")


@router.post("", operation_id="create_monitor", status_code=status.HTTP_201_CREATED)
async def create_monitor(request: Request, body: MonitorCreate) -> MonitorPublic:
    """Watch a deployment's logged traffic (or a collection's questions) for drift against a
    reference; columns are checked now."""
    principal = authorize(request, Role.EDITOR)
    reference = Reference.from_dict(body.reference.model_dump(exclude_none=True)) if body.reference else None
    config = DriftConfig.from_dict(
        {
            "drift_share": body.drift_share,
            "min_rows": body.min_rows,
            "columns": {name: spec.model_dump(exclude_none=True) for name, spec in body.tests.items()},
        }
    )
    monitor = await to_thread.run_sync(
        lambda: monitors_of(request).create(
            principal.project_id,
            body.name,
            body.deployment,
            collection=body.collection,
            reference=reference,
            columns=body.columns,
            config=config,
            role=body.role,
            window_seconds=parse_duration(body.window),
            interval_seconds=parse_duration(body.every) if body.every is not None else None,
            on_drift=body.on_drift,
            by=principal.key_name,
        )
    )
    return MonitorPublic.of(monitor)


@router.get("", operation_id="list_monitors")
def list_monitors(request: Request) -> list[MonitorPublic]:
    principal = authorize(request, Role.VIEWER)
    return [MonitorPublic.of(m) for m in monitors_of(request).list(principal.project_id)]


@router.get("/{name}", operation_id="get_monitor")
def get_monitor(request: Request, name: str) -> MonitorDetail:
    """The monitor and its latest result."""
    principal = authorize(request, Role.VIEWER)
    monitors = monitors_of(request)
    monitor = monitors.get(principal.project_id, name)
    latest = monitors.results(principal.project_id, name, limit=1).items
    return MonitorDetail.with_latest(monitor, latest[0] if latest else None)


@router.delete("/{name}", operation_id="delete_monitor", status_code=status.HTTP_204_NO_CONTENT)
def delete_monitor(request: Request, name: str) -> None:
    principal = authorize(request, Role.EDITOR)
    monitors_of(request).delete(principal.project_id, name, by=principal.key_name)


@router.post("/{name}/run", operation_id="run_monitor")
async def run_monitor(request: Request, name: str) -> ResultPublic:
    """Run now and store the result; 422 when the window has no traffic to compare."""
    principal = authorize(request, Role.EDITOR)
    monitors = monitors_of(request)
    result = await to_thread.run_sync(lambda: monitors.run(principal.project_id, name))
    return ResultPublic.of(result)


@router.get("/{name}/results", operation_id="list_monitor_results")
def list_results(
    request: Request,
    name: str,
    limit: Annotated[int, Query(ge=1, le=500)] = 20,
    cursor: str | None = None,
) -> PageOf[ResultPublic]:
    """Every run, newest first."""
    principal = authorize(request, Role.VIEWER)
    page = monitors_of(request).results(principal.project_id, name, limit=limit, cursor=cursor)
    return PageOf(data=[ResultPublic.of(r) for r in page.items], next_cursor=page.next_cursor)
