"""A test plugin (loaded with SHIPYARD_PLUGINS=tests.plugins.slow_jobs): a job that takes a while."""

from __future__ import annotations

import time
from typing import Any

from shipyard.hookspecs import hookimpl
from shipyard.jobs import JobContext
from shipyard.jobs.handlers import Register


@hookimpl
def register_job_handlers(register: Register, services: object) -> None:
    def slow(ctx: JobContext) -> dict[str, Any]:
        steps = int(ctx.payload.get("steps", 50))
        for step in range(steps):
            ctx.progress(step, steps, f"step {step}")
            time.sleep(float(ctx.payload.get("sleep", 0.05)))
        ctx.progress(steps, steps, "done")
        return {"steps": steps, "finished_on_attempt": ctx.job.attempts}

    register("test.slow", slow)
