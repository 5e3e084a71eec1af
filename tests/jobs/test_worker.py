"""Workers running real handlers: progress, retries, shutdown, and many workers at once."""

from __future__ import annotations

import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.jobs import HandlerRegistry, JobContext, JobService, JobStatus, PermanentJobError, Worker
from shipyard.platform import Platform
from shipyard.store import create_database
from tests.conftest import wait_until


def _worker(jobs: JobService, handlers: HandlerRegistry, **kwargs: Any) -> Worker:
    return Worker(jobs, handlers, poll_seconds=0.02, lease_seconds=kwargs.pop("lease_seconds", 2.0), **kwargs)


def test_progress_result_and_retry(services: Platform) -> None:
    calls: list[int] = []

    def flaky(ctx: JobContext) -> dict[str, Any]:
        calls.append(ctx.job.attempts)
        if ctx.job.attempts == 1:
            raise RuntimeError("transient")
        for i in range(1, 4):
            ctx.progress(i, 3, f"step {i}")
        return {"steps": 3}

    handlers = HandlerRegistry()
    handlers.register("test.flaky", flaky)
    worker = _worker(services.jobs, handlers)
    worker.start()
    try:
        job = services.jobs.enqueue(DEFAULT_PROJECT_ID, "test.flaky")
        wait_until(lambda: services.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.SUCCEEDED)
    finally:
        worker.stop()
    done = services.jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert calls == [1, 2]
    assert (done.progress_done, done.progress_total, done.progress_message) == (3, 3, "step 3")
    assert done.result == {"steps": 3} and done.attempts == 2 and done.error is None


def test_permanent_error_fails_once(services: Platform) -> None:
    def bad(ctx: JobContext) -> None:
        raise PermanentJobError("payload has no 'url'")

    handlers = HandlerRegistry()
    handlers.register("test.bad", bad)
    worker = _worker(services.jobs, handlers)
    worker.start()
    try:
        job = services.jobs.enqueue(DEFAULT_PROJECT_ID, "test.bad", max_attempts=5)
        wait_until(lambda: services.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.FAILED)
    finally:
        worker.stop()
    failed = services.jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert failed.attempts == 1 and failed.error == "PermanentJobError: payload has no 'url'"


def test_stop_interrupts_and_releases_a_running_job(services: Platform) -> None:
    started = threading.Event()

    def long_job(ctx: JobContext) -> None:
        started.set()
        for i in range(1000):
            ctx.progress(i, 1000)
            time.sleep(0.01)

    handlers = HandlerRegistry()
    handlers.register("test.long", long_job)
    worker = _worker(services.jobs, handlers)
    worker.start()
    job = services.jobs.enqueue(DEFAULT_PROJECT_ID, "test.long")
    assert started.wait(5)
    worker.stop(timeout=5)
    released = services.jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert released.status is JobStatus.QUEUED and released.attempts == 0


def test_a_long_job_keeps_its_lease_while_its_worker_lives(services: Platform) -> None:
    def quiet(ctx: JobContext) -> dict[str, bool]:
        time.sleep(1.0)  # no progress calls: only the housekeeping heartbeat keeps the lease
        return {"ok": True}

    handlers = HandlerRegistry()
    handlers.register("test.quiet", quiet)
    worker = _worker(services.jobs, handlers, lease_seconds=0.3)
    worker.start()
    try:
        job = services.jobs.enqueue(DEFAULT_PROJECT_ID, "test.quiet")
        wait_until(lambda: services.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.SUCCEEDED)
    finally:
        worker.stop()
    assert services.jobs.get(DEFAULT_PROJECT_ID, job.id).attempts == 1


def test_many_workers_never_run_a_job_twice(services: Platform, tmp_path: Path) -> None:
    """Four workers, each with its own engine and connections, drain 120 jobs exactly once."""
    runs: Counter[str] = Counter()
    lock = threading.Lock()

    def record(ctx: JobContext) -> None:
        with lock:
            runs[ctx.job.id] += 1
        time.sleep(0.002)

    url = services.settings.resolved_database_url
    workers, databases = [], [create_database(url) for _ in range(4)]
    for database in databases:
        jobs = JobService(database)
        handlers = HandlerRegistry()
        handlers.register("test.count", record)
        workers.append(_worker(jobs, handlers, concurrency=2))
    ids = [services.jobs.enqueue(DEFAULT_PROJECT_ID, "test.count").id for _ in range(120)]
    for worker in workers:
        worker.start()
    try:
        wait_until(lambda: sum(runs.values()) >= 120 and _all_done(services, ids), timeout=60)
    finally:
        for worker in workers:
            worker.stop()
        for database in databases:
            database.dispose()
    assert set(runs) == set(ids)
    assert max(runs.values()) == 1
    claimed_by = {services.jobs.get(DEFAULT_PROJECT_ID, i).worker_id for i in ids}
    assert len(claimed_by) > 1  # the work really was shared


def _all_done(services: Platform, ids: list[str]) -> bool:
    page = services.jobs.list(DEFAULT_PROJECT_ID, status=JobStatus.SUCCEEDED, limit=500)
    return len(page.items) == len(ids)


def test_registering_a_kind_twice_is_an_error() -> None:
    handlers = HandlerRegistry()
    handlers.register("x", lambda ctx: None)
    with pytest.raises(Exception, match="already registered"):
        handlers.register("x", lambda ctx: None)
