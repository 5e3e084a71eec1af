"""Every extension point of shipyard, in one place. Built-ins use the same hooks.

A hook implementation takes any subset of its spec's arguments, by name. `services` is the
platform under the name plugins written before the runtime redesign use.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

import pluggy

from shipyard.jobs.handlers import Register

if TYPE_CHECKING:  # declarations only: the platform loads the plugins that implement these
    from shipyard.platform import Platform

hookspec = pluggy.HookspecMarker("shipyard")
hookimpl = pluggy.HookimplMarker("shipyard")

# register(name, interval_seconds, task)
RegisterPeriodic = Callable[[str, float, Callable[[], None]], None]


@hookspec
def register_job_handlers(register: Register, platform: Platform, services: Platform) -> None:
    """Register job kinds: call `register(kind, handler)` for each."""


@hookspec
def register_periodic_tasks(register: RegisterPeriodic, platform: Platform) -> None:
    """Register tasks that run every few seconds in each process that runs a job worker (the
    first run at its start): call `register(name, interval_seconds, task)`. Keep a task short
    and idempotent — every worker process runs it; enqueue a job (with a dedupe key) for work."""
