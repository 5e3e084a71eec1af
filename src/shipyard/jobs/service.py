"""Job use cases on the store: enqueue, read, and the claim/lease protocol workers use.

Claims take one row with `SELECT … FOR UPDATE SKIP LOCKED` on PostgreSQL, so many workers never
double-run a job; on SQLite the write transaction (BEGIN IMMEDIATE) serialises claims instead.
Claims are fair across projects: the next job comes from the project with the fewest jobs
running, then the one served longest ago, so one tenant's queue of slow jobs (a long URL list,
a big re-ingest) delays another tenant's job by at most the jobs already running.
Every write a worker makes to a running job is fenced by the claim's token: after a lease
expires and another worker claims the job, the first worker's late writes change nothing.
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput, NotFound
from shipyard.ids import JobId, ProjectId, new_id
from shipyard.jobs.models import Claim, Job, JobStatus
from shipyard.paging import Page, check_limit, id_cursors, page_of
from shipyard.store import Database, JobRow
from shipyard.store.types import utcnow

# Retries back off exponentially but never wait longer than this.
MAX_RETRY_DELAY_SECONDS = 3600.0
MAX_ATTEMPTS = 100
MAX_DEDUPE_KEY_CHARS = 200  # the column's width
_ERROR_CHARS = 4000
_CURSORS = id_cursors("job")


class JobService:
    def __init__(self, database: Database, *, max_attempts: int = 3, retry_base_seconds: float = 2.0) -> None:
        self._db = database
        self._max_attempts = max_attempts
        self._retry_base = retry_base_seconds
        self._listeners: list[Callable[[], None]] = []

    def on_enqueue(self, listener: Callable[[], None]) -> None:
        """Call `listener` after each enqueue in this process (wakes an idle in-process worker)."""
        self._listeners.append(listener)

    # -- what users and domain services call ----------------------------------------------

    def enqueue(
        self,
        project_id: ProjectId,
        kind: str,
        payload: dict[str, Any] | None = None,
        *,
        dedupe_key: str | None = None,
        max_attempts: int | None = None,
        delay_seconds: float = 0.0,
        stage: Callable[[Session, str], None] | None = None,
    ) -> Job:
        """Add a job; with `dedupe_key`, enqueueing the same key twice returns the first job.

        `stage(session, job_id)` runs in the enqueue transaction: rows the job needs (uploaded
        files, say) commit together with it, so no worker can claim the job before they exist.
        """
        attempts = max_attempts if max_attempts is not None else self._max_attempts
        if not 1 <= attempts <= MAX_ATTEMPTS:
            raise InvalidInput(f"max_attempts must be between 1 and {MAX_ATTEMPTS}, got {attempts}")
        if dedupe_key is not None and len(dedupe_key) > MAX_DEDUPE_KEY_CHARS:
            raise InvalidInput(f"dedupe_key is at most {MAX_DEDUPE_KEY_CHARS} characters, got {len(dedupe_key)}")
        now = utcnow()
        row = JobRow(
            id=new_id("job"),
            project_id=project_id,
            kind=kind,
            payload=payload or {},
            status=JobStatus.QUEUED.value,
            dedupe_key=dedupe_key,
            attempts=0,
            max_attempts=attempts,
            run_at=now + timedelta(seconds=delay_seconds),
            progress_done=0,
            created_at=now,
            updated_at=now,
        )
        try:
            with self._db.write() as session:
                session.add(row)
                if stage is not None:
                    session.flush()
                    stage(session, row.id)
        except IntegrityError:
            if dedupe_key is None:
                raise
            with self._db.read() as session:
                existing = session.scalars(
                    select(JobRow).where(JobRow.project_id == project_id, JobRow.dedupe_key == dedupe_key)
                ).one()
                return _job(existing)
        for listener in self._listeners:
            listener()
        return _job(row)

    def get(self, project_id: ProjectId, job_id: str) -> Job:
        with self._db.read() as session:
            row = session.get(JobRow, job_id)
            if row is None or row.project_id != project_id:
                raise NotFound(f"no job with id {job_id!r} in this project")
            return _job(row)

    def list(
        self,
        project_id: ProjectId | None,
        *,
        status: JobStatus | None = None,
        kind: str | None = None,
        limit: int = 50,
        cursor: str | None = None,
    ) -> Page[Job]:
        """Newest first. `project_id=None` lists every project (operators' CLI only)."""
        query = select(JobRow).order_by(JobRow.id.desc()).limit(check_limit(limit) + 1)
        if project_id is not None:
            query = query.where(JobRow.project_id == project_id)
        if status is not None:
            query = query.where(JobRow.status == status.value)
        if kind is not None:
            query = query.where(JobRow.kind == kind)
        if cursor is not None:
            query = query.where(JobRow.id < _CURSORS.check(cursor))
        with self._db.read() as session:
            rows = list(session.scalars(query))
        return page_of(rows, limit, _job, lambda job: job.id)

    def delete_finished_older_than(self, days: int) -> int:
        """Delete jobs that succeeded or failed more than `days` ago (retention); queued and
        running ones are never touched. Their staged inputs go with them (ON DELETE CASCADE)."""
        cutoff = utcnow() - timedelta(days=days)
        finished = (JobStatus.SUCCEEDED.value, JobStatus.FAILED.value)
        query = delete(JobRow).where(JobRow.status.in_(finished), JobRow.finished_at < cutoff)
        with self._db.write() as session:
            result = session.execute(query)
        return int(getattr(result, "rowcount", 0) or 0)

    def count_by_status(self) -> dict[str, int]:
        """Jobs per status across projects (for metrics)."""
        counts = {status.value: 0 for status in JobStatus}
        with self._db.read() as session:
            for status, count in session.execute(select(JobRow.status, func.count()).group_by(JobRow.status)):
                counts[status] = count
        return counts

    # -- the worker protocol --------------------------------------------------------------

    def claim(self, worker_id: str, kinds: Sequence[str], lease_seconds: float) -> Claim | None:
        """Take the next due job of one of `kinds`, or None when there is none."""
        if not kinds:
            return None
        now = utcnow()
        with self._db.write() as session:
            job_id = None
            for project_id in _projects_by_turn(session, kinds, now):
                job_id = session.scalar(
                    select(JobRow.id)
                    .where(JobRow.project_id == project_id, JobRow.status == JobStatus.QUEUED.value,
                           JobRow.run_at <= now, JobRow.kind.in_(kinds))
                    .order_by(JobRow.run_at, JobRow.id)
                    .limit(1)
                    .with_for_update(skip_locked=True)
                )  # fmt: skip
                if job_id is not None:
                    break
            if job_id is None:
                return None
            row = session.get_one(JobRow, job_id)
            token = uuid.uuid4().hex
            row.status = JobStatus.RUNNING.value
            row.attempts += 1
            row.worker_id = worker_id
            row.lease_token = token
            row.lease_expires_at = now + timedelta(seconds=lease_seconds)
            row.started_at = row.started_at or now
            row.updated_at = now
        return Claim(job=_job(row), token=token)

    def renew(
        self,
        claim: Claim,
        lease_seconds: float,
        *,
        done: int | None = None,
        total: int | None = None,
        message: str | None = None,
    ) -> bool:
        """Extend the lease (and record progress); False when the lease was lost."""
        now = utcnow()
        values: dict[str, Any] = {
            "lease_expires_at": now + timedelta(seconds=lease_seconds),
            "updated_at": now,
        }
        if done is not None:
            values.update(progress_done=done, progress_total=total, progress_message=message)
        return self._fenced_update(claim, values)

    def complete(self, claim: Claim, result: dict[str, Any] | None) -> bool:
        now = utcnow()
        return self._fenced_update(
            claim,
            {
                "status": JobStatus.SUCCEEDED.value,
                "result": result,
                "error": None,
                "finished_at": now,
                "updated_at": now,
                "lease_token": None,
                "lease_expires_at": None,
            },
        )

    def fail(self, claim: Claim, error: str, *, permanent: bool = False) -> JobStatus | None:
        """Record a failed attempt: retry later with backoff, or fail for good. None if lease lost."""
        now = utcnow()
        attempts = claim.job.attempts
        final = permanent or attempts >= claim.job.max_attempts
        values: dict[str, Any] = {
            "error": error[:_ERROR_CHARS],
            "updated_at": now,
            "lease_token": None,
            "lease_expires_at": None,
        }
        if final:
            values.update(status=JobStatus.FAILED.value, finished_at=now)
        else:
            values.update(status=JobStatus.QUEUED.value, run_at=now + self.retry_delay(attempts))
        if not self._fenced_update(claim, values):
            return None
        return JobStatus.FAILED if final else JobStatus.QUEUED

    def release(self, claim: Claim) -> bool:
        """Give a job back untouched (graceful shutdown): the attempt does not count."""
        return self._fenced_update(
            claim,
            {
                "status": JobStatus.QUEUED.value,
                "attempts": max(0, claim.job.attempts - 1),
                "worker_id": None,
                "lease_token": None,
                "lease_expires_at": None,
                "run_at": utcnow(),
                "updated_at": utcnow(),
            },
        )

    def reap_expired(self) -> int:
        """Requeue (or fail, when out of attempts) jobs whose worker died holding them."""
        now = utcnow()
        with self._db.write() as session:
            rows = session.scalars(
                select(JobRow)
                .where(JobRow.status == JobStatus.RUNNING.value, JobRow.lease_expires_at < now)
                .with_for_update(skip_locked=True)
            ).all()
            for row in rows:
                row.error = f"worker {row.worker_id} stopped responding during attempt {row.attempts}"
                row.lease_token = None
                row.lease_expires_at = None
                row.updated_at = now
                if row.attempts >= row.max_attempts:
                    row.status, row.finished_at = JobStatus.FAILED.value, now
                else:
                    row.status, row.run_at = JobStatus.QUEUED.value, now
            return len(rows)

    def retry_delay(self, attempts: int) -> timedelta:
        """Exponential backoff with jitter: base·2^(n-1), scaled by a random 50-100 %."""
        delay = min(MAX_RETRY_DELAY_SECONDS, self._retry_base * 2 ** max(0, attempts - 1))
        return timedelta(seconds=delay * random.uniform(0.5, 1.0))

    def _fenced_update(self, claim: Claim, values: dict[str, Any]) -> bool:
        with self._db.write() as session:
            result = session.execute(
                update(JobRow)
                .where(
                    JobRow.id == claim.job.id,
                    JobRow.lease_token == claim.token,
                    JobRow.status == JobStatus.RUNNING.value,
                )
                .values(**values)
                .execution_options(synchronize_session=False)
            )
            return bool(getattr(result, "rowcount", 0) == 1)


def _projects_by_turn(session: Session, kinds: Sequence[str], now: datetime) -> list[str]:
    """Projects with a due job of `kinds`, whose turn comes first: fewest jobs running, then
    served longest ago (by their latest job's start), then the oldest due job."""
    due = dict(
        session.execute(
            select(JobRow.project_id, func.min(JobRow.run_at))
            .where(JobRow.status == JobStatus.QUEUED.value, JobRow.run_at <= now, JobRow.kind.in_(kinds))
            .group_by(JobRow.project_id)
        ).all()
    )
    if len(due) <= 1:
        return list(due)
    running = dict(
        session.execute(
            select(JobRow.project_id, func.count())
            .where(JobRow.status == JobStatus.RUNNING.value, JobRow.project_id.in_(due))
            .group_by(JobRow.project_id)
        ).all()
    )
    served = dict(
        session.execute(
            select(JobRow.project_id, func.max(JobRow.started_at))
            .where(JobRow.project_id.in_(due), JobRow.started_at.is_not(None))
            .group_by(JobRow.project_id)
        ).all()
    )
    never = datetime.min.replace(tzinfo=UTC)
    return sorted(due, key=lambda p: (running.get(p, 0), _aware(served.get(p)) or never, _aware(due[p]) or never))


def _aware(moment: datetime | None) -> datetime | None:
    """SQLite hands aggregates back as naive (or text) values; compare everything in UTC."""
    if moment is None or isinstance(moment, datetime) and moment.tzinfo is not None:
        return moment
    if isinstance(moment, str):
        moment = datetime.fromisoformat(moment)
    return moment.replace(tzinfo=UTC)


def _job(row: JobRow) -> Job:
    return Job(
        id=JobId(row.id),
        project_id=ProjectId(row.project_id),
        kind=row.kind,
        payload=dict(row.payload or {}),
        status=JobStatus(row.status),
        attempts=row.attempts,
        max_attempts=row.max_attempts,
        progress_done=row.progress_done,
        progress_total=row.progress_total,
        progress_message=row.progress_message,
        result=row.result,
        error=row.error,
        worker_id=row.worker_id,
        run_at=row.run_at,
        created_at=row.created_at,
        started_at=row.started_at,
        finished_at=row.finished_at,
        updated_at=row.updated_at,
    )
