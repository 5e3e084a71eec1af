"""How a shipyard process runs: background components started in build order and closed in
reverse, by one lifecycle that every entry point (serve, worker, CLI commands, tests) uses."""

from shipyard.runtime.component import AsyncClosing, AsyncComponent, Closing, Component
from shipyard.runtime.failures import RepeatedFailure
from shipyard.runtime.lifecycle import Lifecycle
from shipyard.runtime.loop import PeriodicLoop, PeriodicTask

__all__ = [
    "AsyncClosing",
    "AsyncComponent",
    "Closing",
    "Component",
    "Lifecycle",
    "PeriodicLoop",
    "PeriodicTask",
    "RepeatedFailure",
]
