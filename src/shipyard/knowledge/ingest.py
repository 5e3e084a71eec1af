"""Ingestion: documents → chunks → embeddings → the store, idempotent and atomic per document.

Documents are processed in batches. Per batch: unchanged documents (same content hash) are
skipped, the others are chunked, their chunks' embeddings are taken from the collection's
existing chunks when the embedded text is identical (the embedding cache, keyed by content
hash) or computed in one embedder call, and then one transaction replaces the old chunks of
every changed document and bumps the collection's revision. A search therefore sees a
document entirely old or entirely new, never half of each. The vector store is told about the
new chunks after that commit (a store outside the metadata database catches up by itself if the
process dies in between, see `ports.VectorStore`); a process killed at any point
leaves the store at a batch boundary, and running the same input again finishes the work
(already-stored documents are no-ops) — each document ends up indexed exactly once.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Literal

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import delete, insert, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from shipyard.errors import InvalidInput
from shipyard.ids import new_id
from shipyard.knowledge.chunking import Chunk, Chunker
from shipyard.knowledge.documents import DocumentInput, bump_revision
from shipyard.knowledge.errors import EmbedderError
from shipyard.knowledge.ports import VectorStore
from shipyard.knowledge.registry import Embedders
from shipyard.knowledge.tokens import TokenOffsets, WordPieceTokens
from shipyard.knowledge.types import Collection, indexed_text
from shipyard.store import ChunkRow, CollectionRow, Database, DocumentRow
from shipyard.store.types import utcnow

__all__ = ["DocumentOutcome", "Ingester", "Status", "indexed_text"]

Status = Literal["created", "updated", "unchanged", "failed"]


@dataclass(frozen=True)
class DocumentOutcome:
    document_id: str
    status: Status
    chunks: int = 0
    error: str | None = None


@dataclass
class _Pending:
    document: DocumentInput
    content_hash: str
    chunks: list[Chunk]
    texts: list[str]
    hashes: list[str]


class Ingester:
    def __init__(
        self,
        database: Database,
        embedders: Embedders,
        vectors: VectorStore,
        *,
        tokens: TokenOffsets | None = None,
        batch_chunks: int = 128,
    ) -> None:
        self._db = database
        self._embedders = embedders
        self._vectors = vectors
        self._tokens = tokens
        self._batch_chunks = batch_chunks

    def ingest(
        self,
        collection: Collection,
        documents: Iterable[DocumentInput],
        *,
        on_outcome: Callable[[DocumentOutcome], None] | None = None,
    ) -> list[DocumentOutcome]:
        """Index `documents` into `collection`; one outcome per input, in order.

        A document that cannot be indexed (empty text, duplicate id) fails alone. An embedder
        or store failure raises: the batches committed so far stay, and a rerun skips them.
        """
        chunker = Chunker(collection.chunking, self._token_offsets())
        outcomes: list[DocumentOutcome] = []
        seen: set[str] = set()
        # Documents to index, and failures known up front, kept in input order.
        batch: list[DocumentInput | DocumentOutcome] = []
        batch_size = 0

        def flush() -> None:
            nonlocal batch_size
            done = iter(self._ingest_batch(collection, chunker, [d for d in batch if isinstance(d, DocumentInput)]))
            for entry in batch:
                outcome = next(done) if isinstance(entry, DocumentInput) else entry
                outcomes.append(outcome)
                if on_outcome is not None:
                    on_outcome(outcome)
            batch.clear()
            batch_size = 0

        for document in documents:
            if document.external_id in seen:
                batch.append(
                    DocumentOutcome(document.external_id, "failed", error="duplicate document id in this request")
                )
                continue
            seen.add(document.external_id)
            batch.append(document)
            # A rough size so one batch is one sensible embedder call; ~4 characters per token.
            batch_size += max(1, len(document.text) // (4 * collection.chunking.max_tokens))
            if batch_size >= self._batch_chunks or len(batch) >= self._batch_chunks:
                flush()
        if batch:
            flush()
        return outcomes

    def _token_offsets(self) -> TokenOffsets:
        if self._tokens is None:
            self._tokens = WordPieceTokens()
        return self._tokens

    def _ingest_batch(
        self, collection: Collection, chunker: Chunker, documents: list[DocumentInput]
    ) -> list[DocumentOutcome]:
        if not documents:
            return []
        stored = self._stored_hashes(collection, [d.external_id for d in documents])
        outcomes: dict[str, DocumentOutcome] = {}
        pending: list[_Pending] = []
        for document in documents:
            content_hash = document.content_hash
            if stored.get(document.external_id) == content_hash:
                outcomes[document.external_id] = DocumentOutcome(document.external_id, "unchanged")
                continue
            try:
                chunks = _chunks(chunker, document)
            except InvalidInput as exc:
                outcomes[document.external_id] = DocumentOutcome(document.external_id, "failed", error=exc.message)
                continue
            texts = [indexed_text(document.title, c.heading_path, c.text) for c in chunks]
            hashes = [hashlib.sha256(t.encode()).hexdigest() for t in texts]
            pending.append(_Pending(document, content_hash, chunks, texts, hashes))
        if pending:
            vectors = self._embeddings(collection, pending)
            for attempt in range(3):
                try:
                    written = self._write(collection, pending, vectors)
                    break
                except IntegrityError:
                    # Another writer inserted one of these documents first (PostgreSQL, between
                    # our read and our insert): read again and replace it instead.
                    if attempt == 2:
                        raise
            outcomes.update(written)
        return [outcomes[d.external_id] for d in documents]

    def _stored_hashes(self, collection: Collection, external_ids: list[str]) -> dict[str, str]:
        with self._db.read() as session:
            rows = session.execute(
                select(DocumentRow.external_id, DocumentRow.content_hash).where(
                    DocumentRow.project_id == collection.project_id,
                    DocumentRow.collection_id == collection.id,
                    DocumentRow.external_id.in_(external_ids),
                )
            )
            return {external_id: content_hash for external_id, content_hash in rows}

    def _embeddings(self, collection: Collection, pending: list[_Pending]) -> dict[str, bytes]:
        """Embedding bytes by chunk content hash: reused from the collection, the rest computed."""
        wanted = {h: t for p in pending for h, t in zip(p.hashes, p.texts, strict=True)}
        vectors: dict[str, bytes] = {}
        hashes = list(wanted)
        with self._db.read() as session:
            for start in range(0, len(hashes), 500):
                keys = hashes[start : start + 500]
                rows = session.execute(
                    select(ChunkRow.content_hash, ChunkRow.embedding).where(
                        ChunkRow.collection_id == collection.id, ChunkRow.content_hash.in_(keys)
                    )
                )
                vectors.update((h, e) for h, e in rows)
        missing = [h for h in wanted if h not in vectors]
        if missing:
            embedded = self._embedders.get(collection.embedder).embed([wanted[h] for h in missing])
            _check_dimension(collection, embedded)
            for content_hash, vector in zip(missing, embedded, strict=True):
                vectors[content_hash] = vector.astype("<f4").tobytes()
        return vectors

    def _write(
        self, collection: Collection, pending: list[_Pending], vectors: dict[str, bytes]
    ) -> dict[str, DocumentOutcome]:
        outcomes: dict[str, DocumentOutcome] = {}
        now = utcnow()
        with self._db.write() as session:
            bump_revision(session, collection)
            if collection.dimension is None:
                _record_dimension(session, collection, len(next(iter(vectors.values()))) // 4)
            existing = {
                row.external_id: row
                for row in session.scalars(
                    select(DocumentRow).where(
                        DocumentRow.collection_id == collection.id,
                        DocumentRow.external_id.in_([p.document.external_id for p in pending]),
                    )
                )
            }
            chunk_rows: list[dict[str, object]] = []
            for item in pending:
                document = item.document
                row = existing.get(document.external_id)
                if row is None:
                    row = DocumentRow(
                        id=new_id("doc"),
                        project_id=collection.project_id,
                        collection_id=collection.id,
                        external_id=document.external_id,
                        created_at=now,
                    )
                    session.add(row)
                    status: Status = "created"
                else:
                    session.execute(delete(ChunkRow).where(ChunkRow.document_id == row.id))
                    status = "updated"
                row.title, row.source = document.title, document.source
                row.content_hash, row.metadata_ = item.content_hash, dict(document.metadata)
                row.chars, row.chunk_count, row.updated_at = len(document.text), len(item.chunks), now
                chunk_rows.extend(
                    {
                        "id": new_id("chk"),
                        "project_id": collection.project_id,
                        "collection_id": collection.id,
                        "document_id": row.id,
                        "position": chunk.index,
                        "text": chunk.text,
                        "span_start": chunk.start,
                        "span_end": chunk.end,
                        "heading_path": list(chunk.heading_path),
                        "token_count": chunk.token_count,
                        "content_hash": content_hash,
                        "embedding": vectors[content_hash],
                    }
                    for chunk, content_hash in zip(item.chunks, item.hashes, strict=True)
                )
                outcomes[document.external_id] = DocumentOutcome(document.external_id, status, len(item.chunks))
            session.flush()
            for start in range(0, len(chunk_rows), 500):
                session.execute(insert(ChunkRow), chunk_rows[start : start + 500])
        # After the commit: the chunk rows are the authority, the vector store follows them.
        self._vectors.add(
            collection,
            [(str(r["id"]), np.frombuffer(vectors[str(r["content_hash"])], dtype="<f4")) for r in chunk_rows],
        )
        return outcomes


def _chunks(chunker: Chunker, document: DocumentInput) -> list[Chunk]:
    if not document.text.strip():
        raise InvalidInput("the document has no text")
    chunks = chunker.chunk(document.text, markdown=document.markdown)
    if not chunks:
        raise InvalidInput("the document has no text to index")
    return chunks


def _check_dimension(collection: Collection, vectors: NDArray[np.float32]) -> None:
    if collection.dimension is not None and vectors.shape[1] != collection.dimension:
        raise EmbedderError(
            f"the embedder of collection {collection.name!r} returned {vectors.shape[1]}-dimensional vectors; "
            f"the collection holds {collection.dimension}-dimensional ones"
        )


def _record_dimension(session: Session, collection: Collection, dimension: int) -> None:
    row = session.get(CollectionRow, collection.id)
    if row is not None and row.dimension is None:
        row.dimension = dimension
