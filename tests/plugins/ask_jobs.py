"""A test plugin (SHIPYARD_PLUGINS=tests.plugins.ask_jobs): a job that asks a collection a
question, so a worker process makes an LLM call (the extractive kind: no upstream needed)."""

from __future__ import annotations

import asyncio
from typing import Any

from shipyard.hookspecs import hookimpl
from shipyard.ids import ProjectId
from shipyard.jobs import JobContext
from shipyard.jobs.handlers import Register
from shipyard.rag import AskRequest


@hookimpl
def register_job_handlers(register: Register, services: Any) -> None:  # the pre-redesign argument name
    def ask(ctx: JobContext) -> dict[str, Any]:
        request = AskRequest.of(collection=ctx.payload["collection"], question=ctx.payload["question"])
        answer = asyncio.run(services.rag.ask(ProjectId(ctx.job.project_id), request))
        return {"found": answer.found, "trace_id": answer.trace_id}

    register("test.ask", ask)
