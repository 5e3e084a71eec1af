"""The claim/lease protocol on both dialects: claims, retries, leases, fencing, dedupe."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest

from shipyard.builtin_jobs import CLEANUP_KIND
from shipyard.errors import InvalidInput
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.jobs import JobStatus, Worker
from shipyard.platform import Platform
from shipyard.store import JobRow
from shipyard.store.types import utcnow
from tests.conftest import wait_until


def test_enqueue_claim_complete(services: Platform) -> None:
    jobs = services.jobs
    job = jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo", {"n": 1})
    assert job.status is JobStatus.QUEUED
    claim = jobs.claim("w1", ["demo.echo"], lease_seconds=30)
    assert claim is not None and claim.job.id == job.id and claim.job.attempts == 1
    assert jobs.claim("w2", ["demo.echo"], lease_seconds=30) is None  # nothing else is due
    assert jobs.renew(claim, 30, done=3, total=10, message="three")
    assert jobs.get(DEFAULT_PROJECT_ID, job.id).progress_done == 3
    assert jobs.complete(claim, {"ok": True})
    done = jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert done.status is JobStatus.SUCCEEDED and done.result == {"ok": True} and done.finished_at is not None


def test_claims_only_kinds_the_worker_knows(services: Platform) -> None:
    services.jobs.enqueue(DEFAULT_PROJECT_ID, "other.kind")
    assert services.jobs.claim("w1", ["demo.echo"], 30) is None
    assert services.jobs.claim("w1", ["other.kind"], 30) is not None


def test_failed_attempt_retries_with_backoff_then_fails_for_good(services: Platform) -> None:
    jobs = services.jobs
    job = jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo", max_attempts=2)
    first = jobs.claim("w1", ["demo.echo"], 30)
    assert first is not None
    assert jobs.fail(first, "boom") is JobStatus.QUEUED
    queued = jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert queued.error == "boom" and queued.run_at > first.job.run_at
    time.sleep(0.06)  # retry_base_seconds=0.05 → the first retry waits 25-50 ms
    second = jobs.claim("w1", ["demo.echo"], 30)
    assert second is not None and second.job.attempts == 2
    assert jobs.fail(second, "boom again") is JobStatus.FAILED
    assert jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.FAILED


def test_backoff_grows_exponentially_with_jitter(services: Platform) -> None:
    delays = [services.jobs.retry_delay(n).total_seconds() for n in (1, 2, 3, 4)]
    base = services.settings.jobs.retry_base_seconds
    for attempt, delay in enumerate(delays, start=1):
        assert base * 2 ** (attempt - 1) * 0.5 <= delay <= base * 2 ** (attempt - 1)


def test_permanent_errors_do_not_retry(services: Platform) -> None:
    job = services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo", max_attempts=5)
    claim = services.jobs.claim("w1", ["demo.echo"], 30)
    assert claim is not None
    assert services.jobs.fail(claim, "bad payload", permanent=True) is JobStatus.FAILED
    assert services.jobs.get(DEFAULT_PROJECT_ID, job.id).attempts == 1


def test_expired_lease_is_reclaimed_and_the_old_worker_is_fenced_off(services: Platform) -> None:
    jobs = services.jobs
    job = jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo")
    stale = jobs.claim("dead-worker", ["demo.echo"], lease_seconds=0.01)
    assert stale is not None
    time.sleep(0.05)
    assert jobs.reap_expired() == 1
    requeued = jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert requeued.status is JobStatus.QUEUED and "stopped responding" in (requeued.error or "")
    fresh = jobs.claim("live-worker", ["demo.echo"], 30)
    assert fresh is not None and fresh.job.attempts == 2
    # The dead worker wakes up: none of its writes land.
    assert not jobs.renew(stale, 30, done=1, total=1)
    assert not jobs.complete(stale, {"from": "stale"})
    assert jobs.fail(stale, "stale") is None
    assert jobs.complete(fresh, {"from": "fresh"})
    assert jobs.get(DEFAULT_PROJECT_ID, job.id).result == {"from": "fresh"}


def test_lease_expiry_counts_as_an_attempt(services: Platform) -> None:
    job = services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo", max_attempts=1)
    assert services.jobs.claim("dead", ["demo.echo"], lease_seconds=0.01) is not None
    time.sleep(0.05)
    services.jobs.reap_expired()
    assert services.jobs.get(DEFAULT_PROJECT_ID, job.id).status is JobStatus.FAILED


def test_release_gives_the_job_back_without_using_an_attempt(services: Platform) -> None:
    job = services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo")
    claim = services.jobs.claim("w1", ["demo.echo"], 30)
    assert claim is not None and services.jobs.release(claim)
    released = services.jobs.get(DEFAULT_PROJECT_ID, job.id)
    assert released.status is JobStatus.QUEUED and released.attempts == 0


def test_dedupe_key_makes_enqueue_idempotent(services: Platform) -> None:
    first = services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo", dedupe_key="nightly:2026-11-24")
    second = services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo", dedupe_key="nightly:2026-11-24")
    assert first.id == second.id
    assert len(services.jobs.list(DEFAULT_PROJECT_ID).items) == 1


def test_list_pages_newest_first(services: Platform) -> None:
    ids = [services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo").id for _ in range(5)]
    first = services.jobs.list(DEFAULT_PROJECT_ID, limit=2)
    assert [j.id for j in first.items] == ids[::-1][:2] and first.next_cursor is not None
    rest = services.jobs.list(DEFAULT_PROJECT_ID, limit=10, cursor=first.next_cursor)
    assert [j.id for j in rest.items] == ids[::-1][2:] and rest.next_cursor is None


def finished_job(services: Platform, status: str, days_ago: float) -> str:
    """A job that ended `days_ago` days ago."""
    job = services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo")
    with services.database.write() as session:
        row = session.get(JobRow, job.id)
        assert row is not None
        row.status, row.finished_at = status, utcnow() - timedelta(days=days_ago)
    return job.id


def test_retention_deletes_only_jobs_that_finished_long_ago(services: Platform) -> None:
    jobs = services.jobs
    old_ok, old_failed = finished_job(services, "succeeded", 31), finished_job(services, "failed", 40)
    recent = finished_job(services, "succeeded", 29)
    queued = jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo")
    with services.database.write() as session:  # queued for ages (no worker for its kind): kept
        row = session.get(JobRow, queued.id)
        assert row is not None
        row.created_at = row.run_at = utcnow() - timedelta(days=90)
    running = jobs.enqueue(DEFAULT_PROJECT_ID, "other.kind")
    assert jobs.claim("w1", ["other.kind"], 30) is not None
    assert jobs.delete_finished_older_than(30) == 2
    left = {job.id for job in jobs.list(DEFAULT_PROJECT_ID).items}
    assert left == {recent, queued.id, running.id} and not left & {old_ok, old_failed}
    assert jobs.delete_finished_older_than(30) == 0


def test_the_cleanup_job_applies_job_retention(services: Platform) -> None:
    old = finished_job(services, "failed", services.settings.jobs.retention_days + 1)
    cleanup = services.jobs.enqueue(DEFAULT_PROJECT_ID, CLEANUP_KIND)
    worker = Worker(services.jobs, services.handlers, poll_seconds=0.02, lease_seconds=2.0)
    worker.start()
    try:
        wait_until(lambda: services.jobs.get(DEFAULT_PROJECT_ID, cleanup.id).status is JobStatus.SUCCEEDED, 60)
    finally:
        worker.stop()
    result = services.jobs.get(DEFAULT_PROJECT_ID, cleanup.id).result
    assert result is not None and result["jobs_deleted"] == 1
    assert old not in {job.id for job in services.jobs.list(DEFAULT_PROJECT_ID).items}


def test_claims_are_fair_across_projects(services: Platform) -> None:
    """F6: one tenant's queue of slow jobs made every other tenant's job wait behind all of it."""
    jobs = services.jobs
    busy = services.access.create_project("busy").id
    quiet = services.access.create_project("quiet").id
    queued = [jobs.enqueue(busy, "demo.slow", {"n": n}).id for n in range(5)]
    mine = jobs.enqueue(quiet, "demo.slow").id
    first = jobs.claim("w1", ["demo.slow"], 30)
    assert first is not None and first.job.id == queued[0]  # the oldest due job goes first
    # While busy's job runs, quiet's (enqueued last) is next; then busy's again, in order.
    second = jobs.claim("w2", ["demo.slow"], 30)
    assert second is not None and second.job.id == mine
    assert jobs.complete(first, None) and jobs.complete(second, None)
    # One worker, nothing running: the project served longest ago goes first — with only busy's
    # jobs left, they run in order.
    order = []
    while (claim := jobs.claim("w1", ["demo.slow"], 30)) is not None:
        order.append(claim.job.id)
        assert jobs.complete(claim, None)
    assert order == queued[1:]


def test_a_project_served_longest_ago_goes_first_with_one_worker(services: Platform) -> None:
    jobs = services.jobs
    busy = services.access.create_project("busy").id
    quiet = services.access.create_project("quiet").id
    for n in range(3):
        jobs.enqueue(busy, "demo.slow", {"n": n})
    claim = jobs.claim("w1", ["demo.slow"], 30)
    assert claim is not None and claim.job.project_id == busy
    mine = jobs.enqueue(quiet, "demo.slow").id  # arrives while busy's first job runs
    assert jobs.complete(claim, None)
    following = jobs.claim("w1", ["demo.slow"], 30)
    assert following is not None and following.job.id == mine  # not after busy's two others


def test_every_caller_meets_the_same_enqueue_bounds(services: Platform) -> None:
    """The bounds were only in the API's body: a library caller's 201-character dedupe key reached
    a 200-character column (PostgreSQL refuses it with a database error)."""
    for options, message in [
        ({"dedupe_key": "k" * 201}, "dedupe_key is at most 200 characters, got 201"),
        ({"max_attempts": 101}, "max_attempts must be between 1 and 100, got 101"),
        ({"max_attempts": 0}, "max_attempts must be between 1 and 100, got 0"),
    ]:
        with pytest.raises(InvalidInput, match=message):
            services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo", **options)  # type: ignore[arg-type]
    assert services.jobs.enqueue(DEFAULT_PROJECT_ID, "demo.echo", dedupe_key="k" * 200, max_attempts=100).attempts == 0
