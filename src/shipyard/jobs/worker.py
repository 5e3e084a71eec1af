"""The job worker: runner threads that claim and run jobs, plus a housekeeping thread.

Housekeeping renews the lease of every running job (so a long job stays owned while its process
lives), requeues jobs whose worker died (expired leases), and schedules periodic jobs.
`stop()` interrupts handlers at their next progress/check call and gives unfinished jobs back.
"""

from __future__ import annotations

import os
import socket
import threading
import time
import uuid
from collections.abc import Callable
from typing import Any

import structlog

from shipyard.jobs.handlers import HandlerRegistry, JobContext, JobInterrupted, PermanentJobError
from shipyard.jobs.models import Claim, JobStatus
from shipyard.jobs.service import JobService
from shipyard.runtime.failures import RepeatedFailure

log = structlog.get_logger(__name__)

JobObserver = Callable[[str, str, float], None]  # (kind, outcome, seconds)


class Worker:
    def __init__(
        self,
        service: JobService,
        handlers: HandlerRegistry,
        *,
        concurrency: int = 1,
        poll_seconds: float = 1.0,
        lease_seconds: float = 30.0,
        observer: JobObserver | None = None,
    ) -> None:
        self.worker_id = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self._store_failure = RepeatedFailure("worker_store_call_failed", worker_id=self.worker_id)
        self._service = service
        self._handlers = handlers
        self._concurrency = concurrency
        self._poll = poll_seconds
        self._lease = lease_seconds
        self._observer = observer
        self._stopping = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self._active: dict[str, Claim] = {}
        self._lock = threading.Lock()
        service.on_enqueue(self._wake.set)

    # -- lifecycle ------------------------------------------------------------------------

    def start(self) -> None:
        if self._threads:
            return
        self._stopping.clear()
        for index in range(self._concurrency):
            self._spawn(self._run_jobs, f"shipyard-worker-{index}")
        self._spawn(self._housekeeping, "shipyard-worker-housekeeping")
        log.info("worker_started", worker_id=self.worker_id, kinds=self._handlers.kinds)

    def flush(self) -> None:
        """Nothing buffered: a job's result is written when it finishes."""

    def close(self, timeout: float = 10.0) -> None:
        self.stop(timeout)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop claiming, interrupt running handlers, and give back jobs not finished in time."""
        if not self._threads:
            return
        self._stopping.set()
        self._wake.set()
        deadline = time.monotonic() + timeout
        for thread in self._threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        with self._lock:
            leftovers = list(self._active.values())
        for claim in leftovers:
            self._release(claim)
            log.warning("job_released", job_id=claim.job.id, reason="worker stopped before it finished")
        self._threads = []
        log.info("worker_stopped", worker_id=self.worker_id)

    @property
    def running_jobs(self) -> int:
        return len(self._active)

    # -- threads --------------------------------------------------------------------------

    def _spawn(self, target: Callable[[], None], name: str) -> None:
        thread = threading.Thread(target=target, name=name, daemon=True)
        thread.start()
        self._threads.append(thread)

    def _run_jobs(self) -> None:
        while not self._stopping.is_set():
            claim = self._safely(lambda: self._service.claim(self.worker_id, self._handlers.kinds, self._lease))
            if claim is None:
                self._wake.wait(self._poll)
                self._wake.clear()
                continue
            self._execute(claim)

    def _execute(self, claim: Claim) -> None:
        job = claim.job
        with self._lock:
            self._active[job.id] = claim
        started = time.monotonic()
        bound = log.bind(job_id=job.id, kind=job.kind, attempt=job.attempts)
        outcome = "succeeded"
        try:
            ctx = JobContext(claim, _LeaseRenewer(self._service, self._lease), self._stopping)
            result = self._handlers.get(job.kind)(ctx)
            self._service.complete(claim, result)
            bound.info("job_succeeded", seconds=round(time.monotonic() - started, 3))
        except JobInterrupted as exc:
            outcome = "interrupted"
            self._safely(lambda: self._service.release(claim))
            bound.info("job_interrupted", reason=str(exc))
        except Exception as exc:  # noqa: BLE001 - any handler failure is recorded on the job
            status = self._record_failure(claim, exc)
            outcome = "failed" if status is JobStatus.FAILED else "retrying"
            bound.warning("job_attempt_failed", error=_describe(exc), outcome=outcome)
        finally:
            with self._lock:
                self._active.pop(job.id, None)
            if self._observer is not None:
                self._observer(job.kind, outcome, time.monotonic() - started)

    def _record_failure(self, claim: Claim, exc: Exception) -> JobStatus | None:
        permanent = isinstance(exc, PermanentJobError)
        result: JobStatus | None = self._safely(lambda: self._service.fail(claim, _describe(exc), permanent=permanent))
        return result

    def _housekeeping(self) -> None:
        interval = max(0.05, min(self._lease / 3, self._poll))
        while not self._stopping.wait(interval):
            with self._lock:
                active = list(self._active.values())
            for claim in active:
                self._renew(claim)
            self._safely(self._service.reap_expired)

    def _release(self, claim: Claim) -> None:
        self._safely(lambda: self._service.release(claim))

    def _renew(self, claim: Claim) -> None:
        self._safely(lambda: self._service.renew(claim, self._lease))

    def _safely(self, call: Callable[[], Any]) -> Any:
        """Run a store call; a store outage is logged and retried by the loop, never fatal."""
        try:
            result = call()
        except Exception as exc:  # noqa: BLE001
            self._store_failure.failed(exc)
            return None
        self._store_failure.succeeded()
        return result


class _LeaseRenewer:
    def __init__(self, service: JobService, lease_seconds: float) -> None:
        self._service = service
        self._lease = lease_seconds

    def renew(self, claim: Claim, done: int, total: int | None, message: str | None) -> bool:
        return self._service.renew(claim, self._lease, done=done, total=total, message=message)


def _describe(exc: BaseException) -> str:
    text = str(exc).strip()
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__
