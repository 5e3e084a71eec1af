"""Every extension point of shipyard, in one place. Built-ins use the same hooks."""

from __future__ import annotations

import pluggy

from shipyard.jobs.handlers import Register

hookspec = pluggy.HookspecMarker("shipyard")
hookimpl = pluggy.HookimplMarker("shipyard")


@hookspec
def register_job_handlers(register: Register, services: object) -> None:
    """Register job kinds: call `register(kind, handler)` for each; `services` is the Services."""
