"""What the contract suites share: a metadata store to write chunks into, and the adapters.

Adapters follow the chunk rows of the metadata store (the authority), so a test writes documents
(one chunk each) the way the ingester does — rows, revision bump, commit — then tells the vector
store with `add`. To put a new adapter through the suites, add one `Adapter` entry to
`VECTOR_STORES` or `LEXICAL_INDEXES`: the database it needs and how to build it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Generic, Literal, TypeVar

import numpy as np
import sqlalchemy as sa

from shipyard.ids import DEFAULT_PROJECT_ID, ProjectId, new_id
from shipyard.knowledge.adapters.embedded import Bm25Lexical, EmbeddedVectors
from shipyard.knowledge.adapters.pgvector import PgVectorStore
from shipyard.knowledge.chunking import ChunkingConfig
from shipyard.knowledge.index import IndexCache
from shipyard.knowledge.ports import LexicalIndex, VectorStore
from shipyard.knowledge.types import Collection, Hits, Vector
from shipyard.store import ChunkRow, CollectionRow, Database, DocumentRow, create_database, upgrade
from shipyard.store.types import utcnow
from tests.conftest import store_url

T = TypeVar("T")
Backend = Literal["sqlite", "postgresql", "pgvector"]
DIMENSION = 8


@dataclass(frozen=True)
class Adapter(Generic[T]):
    """An adapter under contract: the metadata database it runs beside, and its factory."""

    database: Backend
    build: Callable[[Database], T]


VECTOR_STORES: dict[str, Adapter[VectorStore]] = {
    "embedded": Adapter("sqlite", lambda database: EmbeddedVectors(IndexCache(database))),
    "pgvector": Adapter("pgvector", PgVectorStore),
}
LEXICAL_INDEXES: dict[str, Adapter[LexicalIndex]] = {
    "bm25s": Adapter("sqlite", lambda database: Bm25Lexical(IndexCache(database, load_vectors=False))),
}


def unit(values: Sequence[float]) -> Vector:
    vector = np.zeros(DIMENSION, dtype=np.float32)
    vector[: len(values)] = values
    return np.asarray(vector / np.linalg.norm(vector), dtype=np.float32)


@dataclass(frozen=True)
class Doc:
    """A document of one chunk."""

    id: str
    text: str = "a note"
    vector: Vector = field(default_factory=lambda: unit([1.0]))
    metadata: dict[str, Any] = field(default_factory=dict)
    title: str | None = None
    source: str | None = None


class MetadataStore:
    """Collections, documents and chunks written straight to the store, as ingestion commits them."""

    def __init__(self, database: Database, vectors: VectorStore | None = None) -> None:
        self.database = database
        self._vectors = vectors
        # chunk id -> (collection id, document id as given)
        self.chunks: dict[str, tuple[str, str]] = {}

    def collection(self, name: str = "kb") -> Collection:
        now = utcnow()
        row = CollectionRow(
            id=new_id("col"), project_id=DEFAULT_PROJECT_ID, name=name, description=None,
            chunking={"max_tokens": 256, "overlap_tokens": 32}, embedder="contract", dimension=DIMENSION,
            revision=0, created_at=now, updated_at=now,
        )  # fmt: skip
        with self.database.write() as session:
            session.add(row)
        return self.fresh_by_id(row.id)

    def fresh_by_id(self, collection_id: str) -> Collection:
        with self.database.read() as session:
            row = session.get(CollectionRow, collection_id)
            assert row is not None
            return Collection(
                id=row.id, project_id=ProjectId(row.project_id), name=row.name, description=row.description,
                chunking=ChunkingConfig(**row.chunking), embedder=row.embedder, dimension=row.dimension,
                revision=row.revision, created_at=row.created_at, updated_at=row.updated_at,
            )  # fmt: skip

    def write(self, collection: Collection, docs: Sequence[Doc], *, tell_store: bool = True) -> Collection:
        """Commit the documents' rows and bump the revision, then (unless a crash is simulated)
        tell the vector store, as the ingester does. Returns the collection at its new revision."""
        now = utcnow()
        documents, chunks = [], []
        for doc in docs:
            document_id, chunk_id = new_id("doc"), new_id("chk")
            documents.append({"id": document_id, "project_id": collection.project_id, "collection_id": collection.id,
                              "external_id": doc.id, "title": doc.title, "source": doc.source, "content_hash": "-",
                              "metadata_": doc.metadata, "chars": len(doc.text), "chunk_count": 1,
                              "created_at": now, "updated_at": now})  # fmt: skip
            chunks.append({"id": chunk_id, "project_id": collection.project_id, "collection_id": collection.id,
                           "document_id": document_id, "position": 0, "text": doc.text, "span_start": 0,
                           "span_end": len(doc.text), "heading_path": [], "token_count": 1, "content_hash": "-",
                           "embedding": doc.vector.astype("<f4").tobytes()})  # fmt: skip
            self.chunks[chunk_id] = (collection.id, doc.id)
        with self.database.write() as session:
            self._bump(session, collection)
            if documents:
                session.execute(sa.insert(DocumentRow), documents)
                session.execute(sa.insert(ChunkRow), chunks)
        if tell_store and self._vectors is not None:
            self._vectors.add(collection, [(c["id"], doc.vector) for c, doc in zip(chunks, docs, strict=True)])
        return self.fresh_by_id(collection.id)

    def delete(self, collection: Collection, document_id: str) -> Collection:
        with self.database.write() as session:
            self._bump(session, collection)
            session.execute(
                sa.delete(DocumentRow).where(
                    DocumentRow.collection_id == collection.id, DocumentRow.external_id == document_id
                )
            )
        return self.fresh_by_id(collection.id)

    def delete_collection(self, collection: Collection) -> None:
        with self.database.write() as session:
            session.execute(sa.delete(CollectionRow).where(CollectionRow.id == collection.id))

    def documents(self, hits: Hits) -> list[str]:
        """The hits' document ids, in order."""
        return [self.chunks[chunk_id][1] for chunk_id, _ in hits]

    def _bump(self, session: Any, collection: Collection) -> None:
        session.execute(
            sa.update(CollectionRow)
            .where(CollectionRow.id == collection.id)
            .values(revision=CollectionRow.revision + 1, updated_at=utcnow())
        )


@contextmanager
def database_for(backend: Backend, tmp_path: Path) -> Iterator[Database]:
    """A migrated, empty metadata database of that kind, disposed of afterwards."""
    with store_url(backend, tmp_path / "contract.db") as url:
        database = create_database(url)
        upgrade(database)
        try:
            yield database
        finally:
            database.dispose()


# Documents for the filter cases: every operator, numbers vs strings, booleans vs numbers, the
# built-in fields, a missing field.
FILTER_DOCS = [
    Doc("a", metadata={"team": "sre", "year": 2023, "score": 1.5, "active": True, "date": "2024-01-15",
                       "mixed": 10}, title="Alpha", source="wiki"),
    Doc("b", metadata={"team": "hr", "year": 2024, "active": False, "date": "2024-03-01", "mixed": "10"},
        title="Beta"),
    Doc("c", metadata={"team": "sre", "year": 2025, "flag": 1, "date": "2023-12-31", "mixed": 3}, source="drive"),
    Doc("d", title="Delta", source="wiki"),
    Doc("e", metadata={"team": "SRE", "year": 2024.5, "active": "true", "flag": True}),
]  # fmt: skip
FILTER_CASES: list[tuple[dict[str, Any], set[str]]] = [
    ({"team": "sre"}, {"a", "c"}),
    ({"team": {"$eq": "sre"}}, {"a", "c"}),
    ({"team": {"$ne": "sre"}}, {"b", "d", "e"}),  # documents without the field too
    ({"team": {"$in": ["sre", "SRE"]}}, {"a", "c", "e"}),
    ({"year": {"$in": [2023, 2025]}}, {"a", "c"}),
    ({"year": {"$nin": [2024]}}, {"a", "c", "d", "e"}),
    ({"year": {"$gt": 2024}}, {"c", "e"}),
    ({"year": {"$gte": 2024}}, {"b", "c", "e"}),
    ({"year": {"$lt": 2024}}, {"a"}),
    ({"year": {"$lte": 2024}}, {"a", "b"}),
    ({"year": {"$gte": 2024, "$lt": 2025}}, {"b", "e"}),
    ({"score": {"$gte": 1.5}}, {"a"}),
    ({"date": {"$gte": "2024-01-01", "$lt": "2024-03-01"}}, {"a"}),
    ({"date": {"$lt": "2024"}}, {"c"}),
    ({"team": {"$lt": "a"}}, {"e"}),  # strings compare by code point: "SRE" < "a"
    ({"mixed": {"$gt": 5}}, {"a"}),  # a number compares with numbers only ...
    ({"mixed": {"$gte": "1"}}, {"b"}),  # ... a string with strings only
    ({"mixed": 10}, {"a"}),
    ({"mixed": "10"}, {"b"}),
    ({"active": True}, {"a"}),  # booleans equal booleans only (not the string "true")
    ({"active": False}, {"b"}),
    ({"flag": 1}, {"c"}),  # ... and a number never equals a boolean
    ({"flag": True}, {"e"}),
    ({"flag": {"$ne": True}}, {"a", "b", "c", "d"}),
    ({"document_id": "b"}, {"b"}),
    ({"document_id": {"$in": ["a", "d"]}}, {"a", "d"}),
    ({"document_id": {"$nin": ["a", "d"]}}, {"b", "c", "e"}),
    ({"title": {"$gte": "B"}}, {"b", "d"}),
    ({"title": 1}, set()),
    ({"source": {"$ne": "wiki"}}, {"b", "c", "e"}),
    ({"source": "wiki", "team": "sre"}, {"a"}),
]
