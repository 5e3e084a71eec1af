"""Documents in a collection: what was ingested, under the caller's id, and how to remove it."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput, NotFound
from shipyard.ids import ProjectId
from shipyard.knowledge.types import Collection, CollectionNotFound
from shipyard.limits import check_length
from shipyard.paging import CursorFormat, Page, check_limit, page_of
from shipyard.store import CollectionRow, Database, DocumentRow
from shipyard.store.types import utcnow

MAX_EXTERNAL_ID = 512
# A title or source is a line a person reads beside a search hit.
MAX_TITLE_CHARS = 2000
# Metadata values a filter can compare; nested objects would make filters ambiguous.
METADATA_TYPES = (str, int, float, bool)
# Documents page by the caller's own ids, so any id check_external_id accepts is a position.
_CURSORS = CursorFormat(
    re.compile(rf"(?s)(?=.*\S).{{1,{MAX_EXTERNAL_ID}}}"), f"document ids (1 to {MAX_EXTERNAL_ID} characters, not blank)"
)


class DocumentNotFound(NotFound):
    code = "document_not_found"


@dataclass(frozen=True)
class DocumentInput:
    """One document to index: text plus the caller's id, title, source and flat metadata."""

    external_id: str
    text: str
    title: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    # Markdown headings split sections (and become the chunks' heading paths).
    markdown: bool = True

    def __post_init__(self) -> None:
        check_external_id(self.external_id)
        check_length("title", self.title, MAX_TITLE_CHARS)
        check_length("source", self.source, MAX_TITLE_CHARS)
        check_metadata(self.metadata)

    @property
    def content_hash(self) -> str:
        """Changes whenever anything that shapes the stored chunks changes."""
        material = json.dumps(
            [self.text, self.title, self.source, self.metadata, self.markdown], sort_keys=True, ensure_ascii=False
        )
        return hashlib.sha256(material.encode()).hexdigest()


@dataclass(frozen=True)
class Document:
    id: str
    collection: str
    external_id: str
    title: str | None
    source: str | None
    content_hash: str
    metadata: dict[str, Any]
    chars: int
    chunk_count: int
    created_at: datetime
    updated_at: datetime


def check_external_id(external_id: str) -> None:
    if not external_id or not external_id.strip():
        raise InvalidInput("a document id must not be empty")
    if len(external_id) > MAX_EXTERNAL_ID:
        raise InvalidInput(f"a document id is at most {MAX_EXTERNAL_ID} characters, got {len(external_id)}")


def check_metadata(metadata: dict[str, Any]) -> None:
    for key, value in metadata.items():
        if not isinstance(key, str) or not key:
            raise InvalidInput("metadata keys must be non-empty strings")
        if value is not None and not isinstance(value, METADATA_TYPES):
            raise InvalidInput(
                f"metadata field {key!r} is a {type(value).__name__}; values must be strings, numbers or booleans"
            )


class DocumentService:
    def __init__(self, database: Database) -> None:
        self._db = database

    def list(self, collection: Collection, *, limit: int = 50, after: str | None = None) -> Page[Document]:
        """Documents by external id, a page at a time (`after` = the last external id seen)."""
        check_limit(limit)
        with self._db.read() as session:
            query = select(DocumentRow).where(
                DocumentRow.project_id == collection.project_id, DocumentRow.collection_id == collection.id
            )
            if after is not None:
                query = query.where(DocumentRow.external_id > _CURSORS.check(after))
            rows = session.scalars(query.order_by(DocumentRow.external_id).limit(limit + 1)).all()
        return page_of(rows, limit, lambda row: _document(row, collection.name), lambda d: d.external_id)

    def count(self, collection: Collection) -> tuple[int, int]:
        """(documents, chunks) in the collection."""
        with self._db.read() as session:
            docs, chunks = session.execute(
                select(func.count(), func.coalesce(func.sum(DocumentRow.chunk_count), 0)).where(
                    DocumentRow.project_id == collection.project_id, DocumentRow.collection_id == collection.id
                )
            ).one()
        return int(docs), int(chunks)

    def get(self, collection: Collection, external_id: str) -> Document:
        with self._db.read() as session:
            return _document(_row(session, collection, external_id), collection.name)

    def delete(self, collection: Collection, external_id: str) -> Document:
        """Remove the document and its chunks (vectors included) in one transaction."""
        with self._db.write() as session:
            bump_revision(session, collection)
            row = _row(session, collection, external_id)
            session.delete(row)
        return _document(row, collection.name)


def bump_revision(session: Session, collection: Collection) -> None:
    """Mark the collection changed. Run first in a write: on PostgreSQL it also takes the
    collection's row lock, so writers of one collection commit one after another."""
    result = session.execute(
        update(CollectionRow)
        .where(CollectionRow.id == collection.id, CollectionRow.project_id == collection.project_id)
        .values(revision=CollectionRow.revision + 1, updated_at=utcnow())
    )
    if getattr(result, "rowcount", 1) == 0:
        raise CollectionNotFound(f"collection {collection.name!r} was deleted")


def _row(session: Session, collection: Collection, external_id: str) -> DocumentRow:
    row = session.scalars(
        select(DocumentRow).where(
            DocumentRow.project_id == ProjectId(collection.project_id),
            DocumentRow.collection_id == collection.id,
            DocumentRow.external_id == external_id,
        )
    ).first()
    if row is None:
        raise DocumentNotFound(f"no document {external_id!r} in collection {collection.name!r}")
    return row


def _document(row: DocumentRow, collection: str) -> Document:
    return Document(
        id=row.id,
        collection=collection,
        external_id=row.external_id,
        title=row.title,
        source=row.source,
        content_hash=row.content_hash,
        metadata=dict(row.metadata_),
        chars=row.chars,
        chunk_count=row.chunk_count,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )
