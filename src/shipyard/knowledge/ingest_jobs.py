"""Ingestion as a job: what to index is staged in the store with the job, any worker runs it.

Items (JSON documents, uploaded files, URLs) are written in the job's enqueue transaction, so
a worker on any machine finds them. The job reads them in order, loads and fetches what needs
it, and hands documents to the `Ingester`. A file that cannot be read fails alone and is
reported in the job result; the rest still ingest. A job killed midway is claimed again after
its lease expires and starts over: what the killed attempt committed is unchanged now and is
skipped, so every document ends up indexed exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from shipyard.errors import ShipyardError
from shipyard.ids import ProjectId
from shipyard.jobs import Job, JobContext, JobService, JobStatus, PermanentJobError
from shipyard.knowledge.collections import Collection, CollectionNotFound, CollectionService
from shipyard.knowledge.documents import DocumentInput
from shipyard.knowledge.fetch import FetchPolicy, fetch
from shipyard.knowledge.ingest import DocumentOutcome, Ingester
from shipyard.knowledge.loaders import load
from shipyard.store import Database, IngestItemRow, JobRow

INGEST_KIND = "knowledge.ingest"
# Errors listed in a job result, at most; the counts always cover everything.
MAX_REPORTED_ERRORS = 100

ItemKind = Literal["document", "file", "url"]


@dataclass(frozen=True)
class IngestItem:
    kind: ItemKind
    name: str | None = None
    document: DocumentInput | None = None
    content: bytes | None = None

    @classmethod
    def of_document(cls, document: DocumentInput) -> IngestItem:
        return cls("document", document.external_id, document=document)

    @classmethod
    def of_file(cls, name: str, content: bytes) -> IngestItem:
        return cls("file", name, content=content)

    @classmethod
    def of_url(cls, url: str) -> IngestItem:
        return cls("url", url)


@dataclass
class IngestReport:
    """Counts by outcome, chunks written, and per-item errors: the job's result."""

    counts: Counter[str] = field(default_factory=Counter)
    chunks: int = 0
    errors: list[dict[str, str]] = field(default_factory=list)

    def add(self, outcome: DocumentOutcome, item: str) -> None:
        self.counts[outcome.status] += 1
        self.chunks += outcome.chunks
        if outcome.error is not None:
            self.error(item, outcome.error, document_id=outcome.document_id)

    def error(self, item: str, message: str, *, document_id: str | None = None) -> None:
        if document_id is None:
            self.counts["failed"] += 1
        if len(self.errors) < MAX_REPORTED_ERRORS:
            entry = {"item": item, "error": message}
            if document_id is not None and document_id != item:
                entry["document_id"] = document_id
            self.errors.append(entry)

    def as_dict(self) -> dict[str, Any]:
        statuses = ("created", "updated", "unchanged", "failed")
        return {
            "documents": {status: self.counts[status] for status in statuses},
            "chunks": self.chunks,
            "errors": self.errors,
        }


def enqueue_ingest(
    jobs: JobService, collection: Collection, items: Sequence[IngestItem], *, text_field: str | None = None
) -> Job:
    """Stage `items` and enqueue the job that indexes them (one transaction). Returns the Job."""

    def stage(session: Session, job_id: str) -> None:
        rows = [_item_row(job_id, position, item) for position, item in enumerate(items)]
        for start in range(0, len(rows), 200):
            session.execute(insert(IngestItemRow), rows[start : start + 200])

    payload = {"collection": collection.name, "collection_id": collection.id, "items": len(items)}
    if text_field:
        payload["text_field"] = text_field
    return jobs.enqueue(collection.project_id, INGEST_KIND, payload, stage=stage)


def documents_of(item: IngestItem, *, fetch_policy: FetchPolicy, text_field: str | None = None) -> list[DocumentInput]:
    """The documents an item holds: itself, a file's records, a URL's page. Raises ShipyardError."""
    if item.kind == "document":
        assert item.document is not None
        return [item.document]
    if item.kind == "url":
        assert item.name is not None
        fetched = fetch(item.name, fetch_policy)
        return _from_file(item.name, fetched.filename, fetched.data, text_field)
    assert item.name is not None and item.content is not None
    return _from_file(item.name, item.name, item.content, text_field)


def run_ingest_job(
    ctx: JobContext,
    *,
    database: Database,
    collections: CollectionService,
    ingester: Ingester,
    fetch_policy: FetchPolicy,
) -> dict[str, Any]:
    payload = ctx.payload
    project_id = ProjectId(ctx.job.project_id)
    try:
        collection = collections.get_by_id(project_id, str(payload["collection_id"]))
    except (KeyError, CollectionNotFound) as exc:
        raise PermanentJobError(f"collection {payload.get('collection')!r} no longer exists") from exc
    total = int(payload.get("items", 0))
    report = IngestReport()
    ctx.progress(0, total, f"ingesting into {collection.name}")
    for position, item in enumerate(_staged_items(database, ctx.job.id)):
        label = item.name or f"item {position + 1}"
        try:
            documents = documents_of(item, fetch_policy=fetch_policy, text_field=payload.get("text_field"))
        except ShipyardError as exc:
            report.error(label, exc.message)
        else:
            try:
                outcomes = ingester.ingest(collection, documents)
            except CollectionNotFound as exc:
                raise PermanentJobError(exc.message) from exc
            for outcome in outcomes:
                report.add(outcome, label)
        ctx.progress(position + 1, total, f"{position + 1} of {total} items; {report.chunks} chunks written")
    with database.write() as session:
        session.execute(delete(IngestItemRow).where(IngestItemRow.job_id == ctx.job.id))
    return report.as_dict()


def delete_finished_items(database: Database) -> int:
    """Drop the staged items of ingest jobs that succeeded or failed for good."""
    finished = select(JobRow.id).where(JobRow.status.in_([JobStatus.SUCCEEDED.value, JobStatus.FAILED.value]))
    with database.write() as session:
        result = session.execute(delete(IngestItemRow).where(IngestItemRow.job_id.in_(finished)))
    return int(getattr(result, "rowcount", 0) or 0)


def _staged_items(database: Database, job_id: str) -> Iterator[IngestItem]:
    """Items one at a time: a job of many large files never holds them all in memory."""
    with database.read() as session:
        ids = session.scalars(
            select(IngestItemRow.id).where(IngestItemRow.job_id == job_id).order_by(IngestItemRow.position)
        ).all()
    for item_id in ids:
        with database.read() as session:
            row = session.get(IngestItemRow, item_id)
            if row is not None:
                yield _item(row)


def _item_row(job_id: str, position: int, item: IngestItem) -> dict[str, Any]:
    document = None
    if item.document is not None:
        d = item.document
        document = {
            "id": d.external_id,
            "text": d.text,
            "title": d.title,
            "source": d.source,
            "metadata": d.metadata,
            "markdown": d.markdown,
        }
    return {
        "job_id": job_id,
        "position": position,
        "kind": item.kind,
        "name": item.name,
        "document": document,
        "content": item.content,
    }


def _item(row: IngestItemRow) -> IngestItem:
    document = None
    if row.document is not None:
        d = row.document
        document = DocumentInput(
            external_id=d["id"],
            text=d["text"],
            title=d.get("title"),
            source=d.get("source"),
            metadata=d.get("metadata") or {},
            markdown=d.get("markdown", True),
        )
    return IngestItem(row.kind, row.name, document=document, content=row.content)  # type: ignore[arg-type]


def _from_file(source: str, filename: str, content: bytes, text_field: str | None) -> list[DocumentInput]:
    loaded = load(content, filename, text_field=text_field)
    title_default = PurePosixPath(filename).stem if len(loaded) == 1 else None
    documents = []
    for number, doc in enumerate(loaded, start=1):
        if len(loaded) == 1:
            external_id = doc.external_id or source
        else:
            external_id = doc.external_id or f"{source}#{number}"
        documents.append(
            DocumentInput(
                external_id=external_id,
                text=doc.text,
                title=doc.title or title_default,
                source=source,
                metadata=doc.metadata,
                markdown=doc.markdown,
            )
        )
    return documents
