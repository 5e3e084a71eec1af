"""Built-in job kinds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from shipyard.hookspecs import hookimpl
from shipyard.jobs import JobContext
from shipyard.jobs.handlers import PermanentJobError, Register
from shipyard.knowledge.ingest_jobs import INGEST_KIND, delete_finished_items, run_ingest_job
from shipyard.monitoring import MonitorNotFound
from shipyard.telemetry import series

if TYPE_CHECKING:
    from shipyard.services import Services

CLEANUP_KIND = "maintenance.cleanup"
MONITOR_KIND = "monitor.run"


@hookimpl
def register_job_handlers(register: Register, services: Services) -> None:
    def cleanup(ctx: JobContext) -> dict[str, Any]:
        """Apply retention: delete request-log rows and traces older than the configured number of days, and
        items staged for ingest jobs that have finished (a job that failed for good keeps them
        until then, for a look at what it was given); fold old per-minute series into hours and
        delete those past their retention; delete finished jobs past theirs (every scheduled
        drift run and cleanup is one)."""
        days = int(ctx.payload.get("retention_days", services.settings.request_log_retention_days))
        ctx.progress(0, None, f"deleting request-log rows older than {days} days")
        deleted = services.request_log.delete_older_than(
            days, progress=lambda n: ctx.progress(n, None, f"deleted {n} rows")
        )
        staged = delete_finished_items(services.database)
        traces = services.traces.delete_older_than(days)
        ctx.progress(0, None, "folding per-minute series older than 8 hours into hours")
        folded = series.compact(services.database)
        expired = series.delete_older_than(services.database, services.settings.series_retention_days)
        jobs = services.jobs.delete_finished_older_than(services.settings.job_retention_days)
        return {"request_log_deleted": deleted, "retention_days": days, "ingest_items_deleted": staged,
                "traces_deleted": traces, "series_minutes_compacted": folded, "series_deleted": expired,
                "jobs_deleted": jobs}  # fmt: skip

    def ingest(ctx: JobContext) -> dict[str, Any]:
        """Index the documents, files and URLs staged with the job into its collection."""
        return run_ingest_job(
            ctx,
            database=services.database,
            collections=services.collections,
            ingester=services.ingester,
            fetch_policy=services.fetch_policy,
        )

    def run_monitor(ctx: JobContext) -> dict[str, Any]:
        """One scheduled run of a drift monitor; its result is stored with the monitor."""
        name = ctx.payload.get("monitor")
        if not isinstance(name, str):
            raise PermanentJobError("payload needs 'monitor': the monitor's name")
        ctx.progress(0, 1, f"comparing monitor {name}'s window with its reference")
        try:
            result = services.monitors.run(ctx.job.project_id, name, trigger="schedule")
        except MonitorNotFound as exc:
            raise PermanentJobError(str(exc)) from None
        ctx.progress(1, 1, f"{name}: {result.status}")
        return {"monitor": name, "result": result.id, "status": result.status, "share": result.share}

    register(CLEANUP_KIND, cleanup)
    register(MONITOR_KIND, run_monitor)
    register(INGEST_KIND, ingest)
