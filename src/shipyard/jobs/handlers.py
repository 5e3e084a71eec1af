"""What a job kind runs, and what it can tell the platform while it runs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

from shipyard.errors import InvalidInput
from shipyard.jobs.models import Claim, Job

# Progress is written at most this often (plus always at the end): a handler may report per item.
PROGRESS_WRITE_SECONDS = 0.5


class JobInterrupted(Exception):
    """The worker is stopping (or lost the lease): stop now; the job will run again elsewhere."""


class PermanentJobError(Exception):
    """Raise from a handler when retrying cannot help (bad payload): the job fails at once."""


class JobHandler(Protocol):
    def __call__(self, ctx: JobContext) -> dict[str, Any] | None:
        """Run the job; return a JSON-able result. Raise to retry, PermanentJobError to fail."""
        ...


class ProgressSink(Protocol):
    def renew(self, claim: Claim, done: int, total: int | None, message: str | None) -> bool: ...


class JobContext:
    """Handed to a handler: the job, its payload, progress reporting and a stop check."""

    def __init__(self, claim: Claim, sink: ProgressSink, stopping: threading.Event) -> None:
        self.claim = claim
        self._sink = sink
        self._stopping = stopping
        self._last_write = 0.0

    @property
    def job(self) -> Job:
        return self.claim.job

    @property
    def payload(self) -> dict[str, Any]:
        return self.claim.job.payload

    def progress(self, done: int, total: int | None = None, message: str | None = None) -> None:
        """Report progress (throttled); raises JobInterrupted when the worker is stopping."""
        self.check()
        now = time.monotonic()
        final = total is not None and done >= total
        if final or now - self._last_write >= PROGRESS_WRITE_SECONDS:
            self._last_write = now
            if not self._sink.renew(self.claim, done, total, message):
                raise JobInterrupted("lease lost: another worker owns this job now")

    def check(self) -> None:
        """Raise JobInterrupted if the worker is shutting down; call between units of work."""
        if self._stopping.is_set():
            raise JobInterrupted("worker is stopping")


class HandlerRegistry:
    """Job kind → handler. Built once per process from the plugin hook."""

    def __init__(self) -> None:
        self._handlers: dict[str, JobHandler] = {}

    def register(self, kind: str, handler: JobHandler) -> None:
        if kind in self._handlers:
            raise InvalidInput(f"job kind {kind!r} is already registered")
        self._handlers[kind] = handler

    def get(self, kind: str) -> JobHandler:
        return self._handlers[kind]

    @property
    def kinds(self) -> list[str]:
        return sorted(self._handlers)

    def require(self, kind: str) -> None:
        if kind not in self._handlers:
            raise InvalidInput(f"unknown job kind {kind!r}; kinds are: {', '.join(self.kinds) or 'none'}")


Register = Callable[[str, JobHandler], None]
