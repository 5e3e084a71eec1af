"""Drift monitors: a deployment's logged traffic (inputs and predictions) in a recent window,
compared with a reference — the training data logged with the served version, or a fixed window
of the deployment's own traffic — on a schedule or when asked; every run's report is stored.

A scheduled run never fails on its data: an empty or thin window is recorded as
"insufficient_data" and a reference that cannot be loaded as "error", so the history shows each
run. Asked for by a user, the same conditions are errors with a message (4xx), since there is no
report to show.

A run that finds drift where the previous run did not records `monitor.drift` in the audit log
(so webhooks hear of it once, not every 15 minutes), and `monitor.recovered` when it ends. With
`on_drift="rollback_canary"`, a drift verdict on a deployment that has a canary removes the
canary at once (`deployment.rolled_back`, by `monitor:<name>`, with the drifted columns as the
reason): the champion keeps serving.
"""

from __future__ import annotations

import builtins
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Literal

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from shipyard.errors import Conflict, InvalidInput, NotFound, ShipyardError
from shipyard.events import AuditLog
from shipyard.ids import ProjectId, new_id
from shipyard.knowledge.collections import CollectionService
from shipyard.knowledge.registry import Embedders
from shipyard.models import Deployment, DeploymentService, PredictionLog
from shipyard.models.predictions import SERVED_ROLES
from shipyard.monitoring.drift import DriftConfig, DriftReport, detect_drift
from shipyard.monitoring.rag_drift import ask_window, check_columns, rag_report
from shipyard.monitoring.references import MAX_DURATION_SECONDS, Reference, format_duration
from shipyard.names import check_name
from shipyard.paging import Page, check_limit, id_cursors, page_of
from shipyard.store import Database, MonitorResultRow, MonitorRow
from shipyard.store.types import utcnow

if TYPE_CHECKING:
    import pandas as pd

log = structlog.get_logger(__name__)
_RESULT_CURSORS = id_cursors("mrs")

DEFAULT_WINDOW_SECONDS = 3600  # the current window when none is given: the last hour
MIN_WINDOW_SECONDS = 60
MAX_WINDOW_SECONDS = 90 * 86400
MIN_INTERVAL_SECONDS = 60
# A schedule slower than the longest window leaves traffic that no run ever looks at, and one
# months away is a monitor that looks dead: 90 days is the longest (durations stop at 400 days).
MAX_INTERVAL_SECONDS = MAX_WINDOW_SECONDS
MAX_WINDOW_ROWS = 100_000
ROLES = (*SERVED_ROLES, "shadow")
# What a monitor may do when it finds drift. Only a canary is ever rolled back automatically:
# moving the champion alias is a decision for people.
ACTIONS = ("rollback_canary",)


class MonitorNotFound(NotFound):
    code = "monitor_not_found"


class EmptyWindow(ShipyardError):
    """Nothing to compare: no logged predictions in a window."""

    code, http_status = "empty_window", 422


@dataclass(frozen=True)
class Monitor:
    id: str
    project_id: ProjectId
    name: str
    deployment: str | None  # a deployment's predictions are watched, or
    collection: str | None  # a RAG collection's questions (rag_drift.py)
    reference: Reference
    columns: list[str] | None
    config: DriftConfig
    role: str | None
    window_seconds: int
    interval_seconds: int | None
    on_drift: str | None
    next_run_at: datetime | None
    last_run_at: datetime | None
    last_status: str | None
    created_by: str
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True)
class MonitorResult:
    id: str
    monitor: str
    at: datetime
    trigger: str  # manual | schedule
    status: str  # drift | no_drift | insufficient_data | error
    share: float | None
    drifted_columns: int
    tested_columns: int
    reference_rows: int
    current_rows: int
    report: dict[str, Any] | None
    error: str | None
    action: str | None = None  # what the run did (e.g. "rolled back canary version 2")


ResultListener = Callable[[Monitor, MonitorResult], None]


class MonitorService:
    def __init__(
        self,
        database: Database,
        deployments: DeploymentService,
        predictions: PredictionLog,
        audit: AuditLog,
        *,
        collections: CollectionService | None = None,
        embedders: Embedders | None = None,
        clock: Callable[[], datetime] = utcnow,
        cached_references: int = 8,
    ) -> None:
        self._db = database
        self._deployments = deployments
        self._predictions = predictions
        self._audit = audit
        self._collections = collections
        self._embedders = embedders
        self._clock = clock
        self._listeners: list[ResultListener] = []
        # Training references are immutable per (project, model, version): keep a few in memory.
        self._references: OrderedDict[tuple[str, str, int], pd.DataFrame] = OrderedDict()
        self._cached_references = cached_references
        self._lock = threading.Lock()

    def listen(self, listener: ResultListener) -> None:
        """Call `listener(monitor, result)` after every stored run (alerts and actions hook here)."""
        self._listeners.append(listener)

    # -- defining -----------------------------------------------------------------------------

    def create(
        self,
        project_id: ProjectId,
        name: str,
        deployment: str | None = None,
        *,
        collection: str | None = None,
        reference: Reference | None = None,
        columns: Sequence[str] | None = None,
        config: DriftConfig | None = None,
        role: str | None = None,
        window_seconds: int = DEFAULT_WINDOW_SECONDS,
        interval_seconds: int | None = None,
        on_drift: str | None = None,
        by: str,
    ) -> Monitor:
        """A monitor on `deployment` (or on `collection`'s questions); its columns are checked
        now, so a typo fails here (InvalidInput naming the columns there are), not at 3 a.m."""
        check_name("monitor", name)
        if (deployment is None) == (collection is None):
            raise InvalidInput("a monitor watches either a deployment or a collection")
        if collection is not None and (role is not None or on_drift is not None):
            raise InvalidInput("role and on_drift are for deployment monitors")
        default = Reference("previous") if collection is not None else Reference()
        reference = (reference or default).checked().bounded()
        config = (config or DriftConfig()).checked()
        if not MIN_WINDOW_SECONDS <= window_seconds <= MAX_WINDOW_SECONDS:
            raise InvalidInput(f"window must be between 1m and 90d, got {_shown(window_seconds)}")
        if interval_seconds is not None and not MIN_INTERVAL_SECONDS <= interval_seconds <= MAX_INTERVAL_SECONDS:
            raise InvalidInput(f"every (the schedule) must be between 1m and 90d, got {_shown(interval_seconds)}")
        if config.min_rows > MAX_WINDOW_ROWS:  # a window holds at most this many: never a verdict
            raise InvalidInput(f"min_rows must be at most {MAX_WINDOW_ROWS:,} (the rows a window reads)")
        if on_drift is not None and on_drift not in ACTIONS:
            raise InvalidInput(f"on_drift must be one of {', '.join(ACTIONS)}, got {on_drift!r}")
        if role is not None and role not in ROLES:
            raise InvalidInput(f"role must be one of {', '.join(ROLES)}, got {role!r}")
        if columns is not None and not columns:
            raise InvalidInput("columns, when given, must name at least one column")
        if collection is not None:
            target = self._check_collection(project_id, collection, reference, columns, config)
        else:
            assert deployment is not None
            target = self._check_deployment(project_id, deployment, role, reference, columns, config)
        now = self._clock()
        row = MonitorRow(
            id=new_id("mon"),
            project_id=project_id,
            name=name,
            deployment=target if deployment is not None else None,
            collection=target if collection is not None else None,
            reference=reference.to_dict(),
            columns=list(columns) if columns is not None else None,
            config=config.to_dict(),
            role=role,
            window_seconds=window_seconds,
            interval_seconds=interval_seconds,
            on_drift=on_drift,
            next_run_at=now if interval_seconds else None,
            created_by=by,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._db.write() as session:
                session.add(row)
                session.flush()
                created = _monitor(row)
        except IntegrityError:
            raise Conflict(f"a monitor named {name!r} already exists in this project") from None
        self._audit.record(project_id, by, "monitor.created", f"monitor:{name}",
                           {**_target(created), "reference": str(reference)})  # fmt: skip
        return created

    def _check_deployment(
        self, project_id: ProjectId, name: str, role: str | None, reference: Reference, columns: Sequence[str] | None,
        config: DriftConfig,
    ) -> str:  # fmt: skip
        target = self._deployments.get(project_id, name)  # DeploymentNotFound (404)
        available = list(self._reference_frame(project_id, target, role, reference))
        chosen = list(columns) if columns is not None else available
        if unknown := [c for c in chosen if c not in available]:
            raise InvalidInput(
                f"column(s) not in the reference: {', '.join(unknown)}; it has: {', '.join(map(str, available))}"
            )
        if unconfigured := sorted(set(config.columns) - set(chosen)):
            raise InvalidInput(f"drift options for column(s) the monitor does not compare: {', '.join(unconfigured)}")
        return target.name

    def _check_collection(
        self, project_id: ProjectId, name: str, reference: Reference, columns: Sequence[str] | None,
        config: DriftConfig,
    ) -> str:  # fmt: skip
        if self._collections is None or self._embedders is None:
            raise InvalidInput("collection monitors need the knowledge services")
        if reference.source == "training":
            raise InvalidInput("a collection has no training data: use reference previous or window:START/END")
        found = self._collections.get(project_id, name)  # CollectionNotFound (404)
        chosen = check_columns(columns, config)
        if unconfigured := sorted(set(config.columns) - set(chosen)):
            raise InvalidInput(f"drift options for column(s) the monitor does not compare: {', '.join(unconfigured)}")
        return found.name

    def get(self, project_id: ProjectId, name: str) -> Monitor:
        with self._db.read() as session:
            return _monitor(self._row(session, project_id, name))

    def list(self, project_id: ProjectId) -> list[Monitor]:
        with self._db.read() as session:
            rows = session.scalars(
                select(MonitorRow).where(MonitorRow.project_id == project_id).order_by(MonitorRow.name)
            ).all()
            return [_monitor(r) for r in rows]

    def delete(self, project_id: ProjectId, name: str, *, by: str) -> None:
        with self._db.write() as session:
            row = self._row(session, project_id, name)
            session.query(MonitorResultRow).filter(MonitorResultRow.monitor_id == row.id).delete()
            session.delete(row)
        self._audit.record(project_id, by, "monitor.deleted", f"monitor:{name}", {})

    # -- running ------------------------------------------------------------------------------

    def run(
        self, project_id: ProjectId, name: str, *, trigger: Literal["manual", "schedule"] = "manual"
    ) -> MonitorResult:
        """Compare the last window with the reference and store the result.

        Manual runs raise EmptyWindow (no traffic in the window), InvalidInput or NotFound
        (reference), RegistryUnavailable (MLflow down); scheduled runs store those as
        "insufficient_data" or "error" instead, so the schedule goes on.
        """
        monitor = self.get(project_id, name)
        now = self._clock()
        try:
            report, reference_rows, current_rows = self._evaluate(monitor, now)
        except EmptyWindow as exc:
            if trigger == "manual":
                raise
            return self._store(monitor, now, trigger, "insufficient_data", None, 0, 0, str(exc))
        except Exception as exc:  # noqa: BLE001 - a scheduled run records any failure and stays scheduled
            if trigger == "manual":
                raise
            message = str(exc) if isinstance(exc, ShipyardError) else f"{type(exc).__name__}: {exc}"
            log.warning("monitor_run_failed", monitor=monitor.name, error=message)
            return self._store(monitor, now, trigger, "error", None, 0, 0, message)
        return self._store(monitor, now, trigger, report.status, report, reference_rows, current_rows, None)

    def drifting(self) -> builtins.list[tuple[str, str, str, bool]]:
        """Every monitor of every project as (project id, name, deployment, last run found drift)."""
        with self._db.read() as session:
            rows = session.execute(select(MonitorRow.project_id, MonitorRow.name, MonitorRow.deployment,
                                          MonitorRow.last_status)).all()  # fmt: skip
        return [(p, n, d or "", status == "drift") for p, n, d, status in rows]

    def due(self, now: datetime | None = None) -> builtins.list[Monitor]:
        """Scheduled monitors whose next run is due (every project)."""
        now = now or self._clock()
        with self._db.read() as session:
            rows = session.scalars(
                select(MonitorRow).where(MonitorRow.next_run_at.is_not(None), MonitorRow.next_run_at <= now)
            ).all()
            return [_monitor(r) for r in rows]

    def results(
        self, project_id: ProjectId, name: str, *, limit: int = 20, cursor: str | None = None
    ) -> Page[MonitorResult]:
        """Newest first."""
        limit = check_limit(limit)
        with self._db.read() as session:
            row = self._row(session, project_id, name)
            query = select(MonitorResultRow).where(MonitorResultRow.monitor_id == row.id)
            if cursor is not None:
                query = query.where(MonitorResultRow.id < _RESULT_CURSORS.check(cursor))
            found = session.scalars(query.order_by(MonitorResultRow.id.desc()).limit(limit + 1)).all()
            return page_of(found, limit, lambda r: _result(r, name), lambda r: r.id)

    def _evaluate(self, monitor: Monitor, now: datetime) -> tuple[DriftReport, int, int]:
        if monitor.collection is not None:
            return self._evaluate_collection(monitor, monitor.collection, now)
        assert monitor.deployment is not None
        deployment = self._deployments.get(monitor.project_id, monitor.deployment)
        reference = self._reference_frame(
            monitor.project_id, deployment, monitor.role, monitor.reference, now=now, window=monitor.window_seconds
        )
        since = now - timedelta(seconds=monitor.window_seconds)
        current = self._predictions.window(
            monitor.project_id, monitor.deployment, since=since, until=now, role=monitor.role, max_rows=MAX_WINDOW_ROWS
        )
        if current.empty:
            raise EmptyWindow(
                f"no predictions of deployment {monitor.deployment!r} logged in the last "
                f"{format_duration(monitor.window_seconds)}: nothing to compare"
            )
        if monitor.columns is not None:
            columns = monitor.columns
            if missing := [c for c in columns if c not in current.columns]:
                raise InvalidInput(f"column(s) not in the logged traffic: {', '.join(missing)}")
        else:  # every reference column the traffic has (a model whose output is not one value has no `prediction`)
            columns = [c for c in reference.columns if c in current.columns]
            if not columns:
                raise InvalidInput("the logged traffic shares no column with the reference")
        report = detect_drift(reference, current, monitor.config, columns=columns)
        return report, len(reference), len(current)

    def _evaluate_collection(self, monitor: Monitor, name: str, now: datetime) -> tuple[DriftReport, int, int]:
        assert self._collections is not None and self._embedders is not None
        collection = self._collections.get(monitor.project_id, name)
        window = timedelta(seconds=monitor.window_seconds)
        current = ask_window(self._db, monitor.project_id, name, now - window, now)
        if not len(current):
            raise EmptyWindow(
                f"no questions asked of collection {name!r} in the last {format_duration(monitor.window_seconds)}: "
                "nothing to compare"
            )
        start, end = self._reference_bounds(monitor.reference, now, window)
        reference = ask_window(self._db, monitor.project_id, name, start, end)
        if not len(reference):
            raise EmptyWindow(
                f"no questions asked of collection {name!r} in the reference window {start.isoformat()} … "
                f"{end.isoformat()}: nothing to compare with"
            )
        embed = self._embedders.get(collection.embedder).embed
        columns = check_columns(monitor.columns, monitor.config)
        report = rag_report(reference, current, embed, monitor.config, columns)
        return report, len(reference), len(current)

    @staticmethod
    def _reference_bounds(reference: Reference, now: datetime, window: timedelta) -> tuple[datetime, datetime]:
        """[start, end) of a window or `previous` reference (the window just before the current one)."""
        if reference.source == "previous":
            return now - 2 * window, now - window
        assert reference.start is not None and reference.end is not None
        return reference.start, reference.end

    def _reference_frame(
        self, project_id: ProjectId, deployment: Deployment, role: str | None, reference: Reference, *,
        now: datetime | None = None, window: int | None = None,
    ) -> pd.DataFrame:  # fmt: skip
        """The reference rows; a `previous` reference before any run (now=None) is checked
        against the served version's training data, the columns the model takes."""
        if reference.source == "window" or (reference.source == "previous" and now is not None and window):
            start, end = self._reference_bounds(reference, now or self._clock(), timedelta(seconds=window or 0))
            frame = self._predictions.window(
                project_id, deployment.name, since=start, until=end, role=role, max_rows=MAX_WINDOW_ROWS
            )
            if frame.empty:
                raise (EmptyWindow if reference.source == "previous" else InvalidInput)(
                    f"the reference window {start.isoformat()} … {end.isoformat()} has no "
                    f"logged predictions of deployment {deployment.name!r}"
                )
            return frame
        # Default: the served version's data; a canary's traffic, the canary version's own.
        served = deployment.canary_version if role == "canary" and deployment.canary_version else deployment.version
        version = reference.version or served
        model = deployment.model
        key = (project_id, model, version)
        with self._lock:
            if key in self._references:
                self._references.move_to_end(key)
                return self._references[key]
        frame = self._deployments.registry.reference_data(project_id, model, version)
        with self._lock:
            self._references[key] = frame
            while len(self._references) > self._cached_references:
                self._references.popitem(last=False)
        return frame

    def _store(
        self,
        monitor: Monitor,
        now: datetime,
        trigger: str,
        status: str,
        report: DriftReport | None,
        reference_rows: int,
        current_rows: int,
        error: str | None,
    ) -> MonitorResult:
        action = self._act(monitor, report) if status == "drift" else None
        row = MonitorResultRow(
            id=new_id("mrs"),
            project_id=monitor.project_id,
            monitor_id=monitor.id,
            at=now,
            trigger=trigger,
            status=status,
            share=report.share if report else None,
            drifted_columns=report.drifted_columns if report else 0,
            tested_columns=report.tested_columns if report else 0,
            reference_rows=reference_rows,
            current_rows=current_rows,
            report=report.to_dict() if report else None,
            error=error,
            action=action,
        )
        with self._db.write() as session:
            session.add(row)
            stored = session.get(MonitorRow, monitor.id)
            if stored is not None:
                stored.last_run_at, stored.last_status = now, status
                if stored.interval_seconds:  # clamped: a row stored before the bound may hold any number
                    interval = min(stored.interval_seconds, MAX_INTERVAL_SECONDS)
                    stored.next_run_at = now + timedelta(seconds=interval)
            session.flush()
            result = _result(row, monitor.name)
        self._record_transition(monitor, result, report)
        updated = replace(monitor, last_run_at=now, last_status=status)
        for listener in self._listeners:
            listener(updated, result)
        return result

    def _act(self, monitor: Monitor, report: DriftReport | None) -> str | None:
        """Carry out the monitor's `on_drift` action; what was done, for the result."""
        if monitor.on_drift != "rollback_canary" or monitor.deployment is None:
            return None
        deployment = self._deployments.get(monitor.project_id, monitor.deployment)
        if deployment.canary_version is None:
            return "no canary to roll back"
        reason = f"monitor {monitor.name}: drift in {_drifted(report)}"
        try:
            self._deployments.rollback(
                monitor.project_id, monitor.deployment, by=f"monitor:{monitor.name}", reason=reason
            )
        except ShipyardError as exc:
            log.error("monitor_rollback_failed", monitor=monitor.name, error=str(exc))
            return f"rollback of canary version {deployment.canary_version} failed: {exc}"
        return f"rolled back canary version {deployment.canary_version}"

    def _record_transition(self, monitor: Monitor, result: MonitorResult, report: DriftReport | None) -> None:
        """Audit (and so webhook) the start and the end of a drift, not every run in between."""
        before, after = monitor.last_status, result.status
        detail: dict[str, Any] = {**_target(monitor), "result": result.id, "share": result.share}
        if after == "drift" and before != "drift":
            detail.update(columns=_drifted(report), action=result.action)
            self._audit.record(monitor.project_id, f"monitor:{monitor.name}", "monitor.drift",
                               f"monitor:{monitor.name}", detail)  # fmt: skip
        elif before == "drift" and after == "no_drift":
            self._audit.record(monitor.project_id, f"monitor:{monitor.name}", "monitor.recovered",
                               f"monitor:{monitor.name}", detail)  # fmt: skip

    def _row(self, session: Any, project_id: ProjectId, name: str) -> MonitorRow:
        row = session.scalars(
            select(MonitorRow).where(MonitorRow.project_id == project_id, MonitorRow.name == name)
        ).first()
        if row is None:
            raise MonitorNotFound(f"no monitor named {name!r} in this project")
        return row  # type: ignore[no-any-return]


def _shown(seconds: int) -> str:
    """A duration for an error message (a caller may pass any int: no 5,000-digit echo)."""
    return format_duration(seconds) if abs(seconds) <= MAX_DURATION_SECONDS else "more than 400 days"


def _target(monitor: Monitor) -> dict[str, str]:
    return {"deployment": monitor.deployment} if monitor.deployment else {"collection": monitor.collection or ""}


def _drifted(report: DriftReport | None) -> str:
    if report is None:
        return "no columns"
    names = [c.column for c in report.columns if c.drifted]
    return f"{len(names)} of {report.tested_columns} columns ({', '.join(names)})"


def _monitor(row: MonitorRow) -> Monitor:
    return Monitor(
        id=row.id,
        project_id=ProjectId(row.project_id),
        name=row.name,
        deployment=row.deployment,
        collection=row.collection,
        reference=Reference.from_dict(row.reference),
        columns=row.columns,
        config=DriftConfig.from_dict(row.config),
        role=row.role,
        window_seconds=row.window_seconds,
        interval_seconds=row.interval_seconds,
        on_drift=row.on_drift,
        next_run_at=row.next_run_at,
        last_run_at=row.last_run_at,
        last_status=row.last_status,
        created_by=row.created_by,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def _result(row: MonitorResultRow, monitor: str) -> MonitorResult:
    return MonitorResult(
        id=row.id,
        monitor=monitor,
        at=row.at,
        trigger=row.trigger,
        status=row.status,
        share=row.share,
        drifted_columns=row.drifted_columns,
        tested_columns=row.tested_columns,
        reference_rows=row.reference_rows,
        current_rows=row.current_rows,
        report=row.report,
        error=row.error,
        action=row.action,
    )
