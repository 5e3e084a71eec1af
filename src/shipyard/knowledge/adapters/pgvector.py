"""pgvector: chunk vectors in the metadata database, next to the chunks, written in the same
transaction and removed with them (ON DELETE CASCADE). One HNSW index per collection — a
partial index over `embedding::vector(<dimension>)`, since collections differ in dimension.

Filters are evaluated on the documents' fields in the search index (one mask per query); the
ANN search oversamples and drops hits the mask refuses, and when too few survive (a selective
filter) it ranks the allowed chunks exactly instead — so a filter never silently shrinks the
result list. HNSW's `ef_search` is 100 (recall 0.975 at 0.86 ms on 100k vectors here, see
FEASIBILITY.md).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from pgvector.sqlalchemy import Vector
from sqlalchemy import bindparam, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session

from shipyard.errors import ConfigError
from shipyard.knowledge.collections import Collection
from shipyard.knowledge.index import CollectionIndex, Hits
from shipyard.store import Database

EF_SEARCH = 100
# Above this many allowed chunks a filtered search stays approximate (oversampled ANN).
EXACT_FILTER_LIMIT = 20_000
_ID = re.compile(r"^col_[0-9A-Za-z]{1,36}$")

_TABLE = """
CREATE TABLE IF NOT EXISTS chunk_vectors (
    chunk_id varchar(40) PRIMARY KEY REFERENCES chunks (id) ON DELETE CASCADE,
    collection_id varchar(40) NOT NULL,
    embedding vector NOT NULL
)
"""


class PgVectorStore:
    name = "pgvector"
    loads_vectors = False

    def __init__(self, database: Database) -> None:
        self._db = database
        self._checked: set[str] = set()
        self._indexed: set[str] = set()
        self._lock = threading.Lock()

    def add(self, session: Session, collection: Collection, chunks: Sequence[tuple[str, bytes]]) -> None:
        if not chunks:
            return
        # In the caller's transaction: a second connection would wait on the locks it holds.
        _create_table(session)
        self._insert(session, collection, chunks)

    def _insert(self, session: Session, collection: Collection, chunks: Sequence[tuple[str, bytes]]) -> None:
        dimension = len(chunks[0][1]) // 4
        self._ensure_index(session, collection, dimension)
        rows = [
            {"chunk_id": chunk_id, "collection_id": collection.id, "embedding": np.frombuffer(data, dtype="<f4")}
            for chunk_id, data in chunks
        ]
        statement = text(
            "INSERT INTO chunk_vectors (chunk_id, collection_id, embedding) "
            "VALUES (:chunk_id, :collection_id, :embedding)"
        ).bindparams(bindparam("embedding", type_=Vector()))
        for start in range(0, len(rows), 1000):
            session.execute(statement, rows[start : start + 1000])

    def search(
        self,
        collection: Collection,
        index: CollectionIndex,
        query: NDArray[np.float32],
        k: int,
        mask: NDArray[np.bool_] | None,
    ) -> Hits:
        if not len(index):
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
        dimension = len(query)
        self._backfill_once(collection, dimension)
        allowed = len(index) if mask is None else int(np.count_nonzero(mask))
        if allowed == 0:
            return np.empty(0, dtype=np.intp), np.empty(0, dtype=np.float32)
        distance = f"embedding::vector({dimension}) <=> CAST(:query AS vector({dimension}))"
        with self._db.read() as session:
            session.execute(text("SELECT set_config('hnsw.ef_search', :ef, true)"), {"ef": str(EF_SEARCH)})
            # The collection id is inlined (it is ours and checked) so the planner matches the
            # collection's partial index even under a generic prepared plan.
            where = f"collection_id = '{_checked(collection.id)}'"
            limit = k if mask is None else min(max(4 * k, 40), EF_SEARCH)
            rows = session.execute(
                text(
                    f"SELECT chunk_id, 1 - ({distance}) FROM chunk_vectors WHERE {where} ORDER BY {distance} LIMIT :n"
                ).bindparams(bindparam("query", type_=Vector(dimension))),
                {"query": query, "n": limit},
            ).all()
            hits = _positions(index, rows, mask)
            if mask is not None and len(hits) < min(k, allowed) and allowed <= EXACT_FILTER_LIMIT:
                ids = [index.chunk_ids[i] for i in np.flatnonzero(mask)]
                rows = session.execute(
                    text(
                        f"SELECT chunk_id, 1 - ({distance}) FROM chunk_vectors "
                        f"WHERE chunk_id = ANY(:ids) ORDER BY {distance} LIMIT :n"
                    ).bindparams(bindparam("query", type_=Vector(dimension))),
                    {"query": query, "ids": ids, "n": k},
                ).all()
                hits = _positions(index, rows, mask)
        hits = hits[:k]
        return (
            np.asarray([p for p, _ in hits], dtype=np.intp),
            np.asarray([s for _, s in hits], dtype=np.float32),
        )

    def drop(self, collection: Collection) -> None:
        with self._db.write() as session:
            session.execute(text(f'DROP INDEX IF EXISTS "{_index_name(collection.id)}"'))
        self._indexed.discard(collection.id)

    def _backfill_once(self, collection: Collection, dimension: int) -> None:
        """Index chunks stored before pgvector was switched on (or whose vectors were lost):
        checked once per collection per process, by comparing counts."""
        if collection.id in self._checked:
            return
        with self._lock:
            if collection.id in self._checked:
                return
            with self._db.write() as session:
                _create_table(session)
                missing = session.execute(
                    text(
                        "SELECT c.id, c.embedding FROM chunks c LEFT JOIN chunk_vectors v ON v.chunk_id = c.id "
                        "WHERE c.collection_id = :id AND v.chunk_id IS NULL"
                    ),
                    {"id": collection.id},
                ).all()
                if missing:
                    self._insert(session, collection, [(chunk_id, bytes(data)) for chunk_id, data in missing])
            self._checked.add(collection.id)

    def _ensure_index(self, session: Session, collection: Collection, dimension: int) -> None:
        if collection.id in self._indexed:
            return
        name = _index_name(collection.id)
        exists = session.execute(
            text("SELECT 1 FROM pg_indexes WHERE schemaname = current_schema() AND indexname = :name"), {"name": name}
        ).first()
        if exists is None:
            session.execute(
                text(
                    f'CREATE INDEX IF NOT EXISTS "{name}" ON chunk_vectors USING hnsw '
                    f"((embedding::vector({dimension})) vector_cosine_ops) "
                    f"WHERE collection_id = '{_checked(collection.id)}'"
                )
            )
        self._indexed.add(collection.id)


def _positions(
    index: CollectionIndex, rows: Sequence[tuple[str, float]], mask: NDArray[np.bool_] | None
) -> list[tuple[int, float]]:
    """Hits as index positions, skipping chunks newer than the index or refused by the mask."""
    hits = []
    for chunk_id, score in rows:
        position = index.positions.get(chunk_id)
        if position is not None and (mask is None or mask[position]):
            hits.append((position, float(score)))
    return hits


def _checked(collection_id: str) -> str:
    if not _ID.match(collection_id):
        raise ValueError(f"unexpected collection id {collection_id!r}")
    return collection_id


def _index_name(collection_id: str) -> str:
    return f"ix_chunk_vectors_hnsw_{_checked(collection_id).lower()}"


def _create_table(session: Session) -> None:
    try:
        with session.begin_nested():
            session.execute(text("CREATE EXTENSION IF NOT EXISTS vector"))
            session.execute(text(_TABLE))
    except DBAPIError as exc:
        raise ConfigError(
            "SHIPYARD_VECTOR_URL=pgvector needs the vector extension: run `CREATE EXTENSION vector` "
            f"as a superuser in this database ({str(exc.orig).strip().splitlines()[0]})"
        ) from exc
