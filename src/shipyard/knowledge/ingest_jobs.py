"""Ingestion as a job: what to index is staged in the store with the job, any worker runs it.

Items (JSON documents, uploaded files, URLs) are written in the job's enqueue transaction, so
a worker on any machine finds them. The job reads them in order and hands them to the one ingest
loop, `KnowledgeService.ingest` (the CLI's too), which loads and fetches what needs it. A file
that cannot be read fails alone and is reported in the job result; the rest still ingest. A job
killed midway is claimed again after its lease expires and starts over: what the killed attempt
committed is unchanged now and is skipped, so every document ends up indexed exactly once.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import PurePosixPath
from typing import Any, Literal

from pydantic import Field
from sqlalchemy import delete, insert, select
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput
from shipyard.jobs import Job, JobService, JobStatus
from shipyard.knowledge.documents import MAX_EXTERNAL_ID, MAX_TITLE_CHARS, DocumentInput
from shipyard.knowledge.fetch import FetchPolicy, fetch
from shipyard.knowledge.ingest import DocumentOutcome
from shipyard.knowledge.loaders import load
from shipyard.knowledge.types import Collection
from shipyard.limits import check_length
from shipyard.specs import Spec
from shipyard.store import Database, IngestItemRow, JobRow

INGEST_KIND = "knowledge.ingest"
# Errors listed in a job result, at most; the counts always cover everything.
MAX_REPORTED_ERRORS = 100
# A URL or a file's name is its document's id (docs/knowledge.md), so it is held to the id's bound.
MAX_URL_CHARS = MAX_EXTERNAL_ID
MAX_TEXT_FIELD_CHARS = 200

ItemKind = Literal["document", "file", "url"]


@dataclass(frozen=True)
class IngestItem:
    kind: ItemKind
    name: str | None = None
    document: DocumentInput | None = None
    content: bytes | None = None
    # A file read only when its turn comes (the CLI's local files): raises ShipyardError or OSError.
    read: Callable[[], bytes] | None = field(default=None, compare=False, repr=False)

    @classmethod
    def of_document(cls, document: DocumentInput) -> IngestItem:
        return cls("document", document.external_id, document=document)

    @classmethod
    def of_file(cls, name: str, content: bytes) -> IngestItem:
        return cls("file", check_item_name(name), content=content)

    @classmethod
    def of_lazy_file(cls, name: str, read: Callable[[], bytes]) -> IngestItem:
        """A file whose content `read()` returns when the item is ingested, not before."""
        return cls("file", check_item_name(name), read=read)

    @classmethod
    def of_url(cls, url: str) -> IngestItem:
        """An http(s) URL fetched when its turn comes (through the outbound policy then)."""
        if not url.lower().startswith(("http://", "https://")) or len(url) > MAX_URL_CHARS:
            raise InvalidInput(f"expected an http(s) URL of at most {MAX_URL_CHARS} characters (its document's id)")
        return cls("url", url)

    def file_content(self) -> bytes:
        """The file's bytes; a file that cannot be read is an `InvalidInput` naming it."""
        if self.content is not None:
            return self.content
        assert self.read is not None, "a file item needs content or read"
        try:
            return self.read()
        except OSError as exc:
            raise InvalidInput(f"{self.name}: {exc}") from exc


def check_item_name(name: str) -> str:
    """`name` if it can be a document id (a file's name or path is its document's id); else `InvalidInput`."""
    if not name or len(name) > MAX_EXTERNAL_ID:
        raise InvalidInput(f"a file name has 1 to {MAX_EXTERNAL_ID} characters (its document's id), got {len(name)}")
    return name


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


MetadataValue = str | int | float | bool | None


class DocumentIn(Spec):
    """One document sent as JSON: the API's body; `document()` is what ingestion indexes."""

    id: str = Field(
        description="Your id for the document; re-ingesting it replaces it.",
        json_schema_extra={"minLength": 1, "maxLength": MAX_EXTERNAL_ID},
    )
    text: str = Field(description="The document's text (markdown headings become sections).")
    title: str | None = Field(default=None, json_schema_extra={"maxLength": MAX_TITLE_CHARS})
    source: str | None = Field(
        default=None,
        description="Where it came from (a URL, a path).",
        json_schema_extra={"maxLength": MAX_TITLE_CHARS},
    )
    metadata: dict[str, MetadataValue] = Field(default_factory=dict, description="Flat fields for search filters.")
    markdown: bool = Field(default=True, description="Split sections at markdown headings.")

    def document(self) -> DocumentInput:
        """The document (its own checks: `InvalidInput`)."""
        return DocumentInput(self.id, self.text, self.title, self.source, dict(self.metadata), self.markdown)


class IngestRequest(Spec):
    """What to ingest, sent as JSON: documents and URLs. `items()` refuses it as a whole
    (`InvalidInput`, naming the item) before anything is staged, so a bad item never becomes a
    failed job."""

    documents: list[DocumentIn] = Field(default_factory=list)
    urls: list[str] = Field(default_factory=list, description="http(s) URLs fetched by the job (SSRF-checked).")
    text_field: str | None = Field(
        default=None,
        description="For .csv/.json/.jsonl sources: the field holding the text.",
        json_schema_extra={"maxLength": MAX_TEXT_FIELD_CHARS},
    )

    def items(self) -> list[IngestItem]:
        """The items to stage, in order; `InvalidInput` naming the first that cannot be. (Made
        here, once, by the caller: a validator that built them too would build every document
        twice; `text_field` is the service's to check, for uploads as well.)"""
        seen: set[str] = set()
        items = []
        for number, spec in enumerate(self.documents):
            if spec.id in seen:
                raise InvalidInput(f"documents[{number}]: duplicate document id {spec.id!r} in this request")
            seen.add(spec.id)
            try:
                if not spec.text.strip():
                    raise InvalidInput("text is empty")
                items.append(IngestItem.of_document(spec.document()))
            except InvalidInput as exc:
                raise InvalidInput(f"documents[{number}] ({spec.id[:100]!r}): {exc.message}") from exc
        for number, url in enumerate(self.urls):
            try:
                items.append(IngestItem.of_url(url))
            except InvalidInput as exc:
                raise InvalidInput(f"urls[{number}]: {exc.message}") from exc
        if not items:
            raise InvalidInput("nothing to ingest: send documents, urls or files")
        return items


def enqueue_ingest(
    jobs: JobService, collection: Collection, items: Sequence[IngestItem], *, text_field: str | None = None
) -> Job:
    """Stage `items` and enqueue the job that indexes them (one transaction). Returns the Job."""
    check_length("text_field", text_field, MAX_TEXT_FIELD_CHARS)

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
    assert item.name is not None
    return _from_file(item.name, item.name, item.file_content(), text_field)


def delete_finished_items(database: Database) -> int:
    """Drop the staged items of ingest jobs that succeeded or failed for good."""
    finished = select(JobRow.id).where(JobRow.status.in_([JobStatus.SUCCEEDED.value, JobStatus.FAILED.value]))
    with database.write() as session:
        result = session.execute(delete(IngestItemRow).where(IngestItemRow.job_id.in_(finished)))
    return int(getattr(result, "rowcount", 0) or 0)


def staged_items(database: Database, job_id: str) -> Iterator[IngestItem]:
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
        "content": item.file_content() if item.kind == "file" else None,
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
                title=(doc.title or title_default or "")[:MAX_TITLE_CHARS] or None,  # a heading can be long
                source=source,
                metadata=doc.metadata,
                markdown=doc.markdown,
            )
        )
    return documents
