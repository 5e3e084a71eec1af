"""Built-in job kinds and the schedules that enqueue them."""

from __future__ import annotations

import time
from typing import Any

from shipyard.hookspecs import RegisterPeriodic, hookimpl
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.jobs import JobContext
from shipyard.jobs.handlers import PermanentJobError, Register
from shipyard.knowledge.ingest_jobs import INGEST_KIND, delete_finished_items
from shipyard.monitoring import MonitorNotFound
from shipyard.platform import Platform
from shipyard.telemetry import series

CLEANUP_KIND = "maintenance.cleanup"
MONITOR_KIND = "monitor.run"


@hookimpl
def register_job_handlers(register: Register, platform: Platform) -> None:
    def cleanup(ctx: JobContext) -> dict[str, Any]:
        """Apply retention: delete request-log rows and traces older than the configured number of days, and
        items staged for ingest jobs that have finished (a job that failed for good keeps them
        until then, for a look at what it was given); fold old per-minute series into hours and
        delete those past their retention; delete finished jobs past theirs (every scheduled
        drift run and cleanup is one)."""
        days = int(ctx.payload.get("retention_days", platform.settings.request_log.retention_days))
        ctx.progress(0, None, f"deleting request-log rows older than {days} days")
        deleted = platform.request_log.delete_older_than(
            days, progress=lambda n: ctx.progress(n, None, f"deleted {n} rows")
        )
        staged = delete_finished_items(platform.database)
        traces = platform.traces.delete_older_than(days)
        ctx.progress(0, None, "folding per-minute series older than 8 hours into hours")
        folded = series.compact(platform.database)
        expired = series.delete_older_than(platform.database, platform.settings.monitoring.series_retention_days)
        jobs = platform.jobs.delete_finished_older_than(platform.settings.jobs.retention_days)
        return {"request_log_deleted": deleted, "retention_days": days, "ingest_items_deleted": staged,
                "traces_deleted": traces, "series_minutes_compacted": folded, "series_deleted": expired,
                "jobs_deleted": jobs}  # fmt: skip

    def ingest(ctx: JobContext) -> dict[str, Any]:
        """Index the documents, files and URLs staged with the job into its collection."""
        return platform.knowledge.run_ingest_job(ctx)

    def run_monitor(ctx: JobContext) -> dict[str, Any]:
        """One scheduled run of a drift monitor; its result is stored with the monitor."""
        name = ctx.payload.get("monitor")
        if not isinstance(name, str):
            raise PermanentJobError("payload needs 'monitor': the monitor's name")
        ctx.progress(0, 1, f"comparing monitor {name}'s window with its reference")
        try:
            result = platform.monitors.run(ctx.job.project_id, name, trigger="schedule")
        except MonitorNotFound as exc:
            raise PermanentJobError(str(exc)) from None
        ctx.progress(1, 1, f"{name}: {result.status}")
        return {"monitor": name, "result": result.id, "status": result.status, "share": result.share}

    register(CLEANUP_KIND, cleanup)
    register(MONITOR_KIND, run_monitor)
    register(INGEST_KIND, ingest)


@hookimpl
def register_periodic_tasks(register: RegisterPeriodic, platform: Platform) -> None:
    settings = platform.settings

    def schedule_maintenance() -> None:
        """Enqueue the retention cleanup once per interval, however many workers run."""
        bucket = int(time.time() // settings.jobs.maintenance_interval_seconds)
        platform.jobs.enqueue(DEFAULT_PROJECT_ID, CLEANUP_KIND, dedupe_key=f"{CLEANUP_KIND}:{bucket}")

    def schedule_monitors() -> None:
        """Enqueue a run of every scheduled monitor that is due; the dedupe key (monitor and due
        time) keeps two workers, or a run still queued, from doubling it."""
        for monitor in platform.monitors.due():
            platform.jobs.enqueue(
                monitor.project_id,
                MONITOR_KIND,
                {"monitor": monitor.name},
                dedupe_key=f"{MONITOR_KIND}:{monitor.id}:{monitor.next_run_at}",
                max_attempts=1,
            )

    def evaluate_alerts() -> None:
        """Evaluate every project's alert rules, unless another process holds the evaluator lease
        (it then does, this interval)."""
        platform.alerts.evaluate(
            holder=platform.series.writer, lease_seconds=3 * settings.monitoring.alert_eval_seconds
        )

    register("maintenance", settings.jobs.maintenance_interval_seconds, schedule_maintenance)
    register("monitor-schedule", settings.monitoring.monitor_poll_seconds, schedule_monitors)
    register("alert-evaluation", settings.monitoring.alert_eval_seconds, evaluate_alerts)
