"""Durable background jobs: a job table, leased claims, retries with backoff, progress."""

from shipyard.jobs.handlers import HandlerRegistry, JobContext, JobHandler, JobInterrupted, PermanentJobError
from shipyard.jobs.models import Job, JobStatus
from shipyard.jobs.service import JobService
from shipyard.jobs.worker import Worker

__all__ = [
    "HandlerRegistry",
    "Job",
    "JobContext",
    "JobHandler",
    "JobInterrupted",
    "JobService",
    "JobStatus",
    "PermanentJobError",
    "Worker",
]
