"""Vector stores by `SHIPYARD_VECTOR_URL`: `embedded` (default) or `pgvector` (the metadata database)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray
from sqlalchemy.orm import Session

from shipyard.errors import ConfigError
from shipyard.knowledge.collections import Collection
from shipyard.knowledge.index import CollectionIndex, Hits
from shipyard.knowledge.ports import VectorStore
from shipyard.store import Database

VECTOR_URLS = ("embedded", "pgvector")


class EmbeddedVectors:
    """Vectors in memory, in each process's search index, loaded from the store: nothing to run."""

    name = "embedded"
    loads_vectors = True

    def add(self, session: Session, collection: Collection, chunks: Sequence[tuple[str, bytes]]) -> None:
        """Nothing to do: the chunk rows written in this transaction are what indexes load."""

    def search(
        self,
        collection: Collection,
        index: CollectionIndex,
        query: NDArray[np.float32],
        k: int,
        mask: NDArray[np.bool_] | None,
    ) -> Hits:
        return index.dense(query, k, mask)

    def drop(self, collection: Collection) -> None:
        """Nothing to do: the collection's index is evicted from caches as it goes unused."""


def build_vector_store(url: str, database: Database) -> VectorStore:
    if url in ("", "embedded"):
        return EmbeddedVectors()
    if url == "pgvector":
        if database.dialect != "postgresql":
            raise ConfigError(
                "SHIPYARD_VECTOR_URL=pgvector keeps vectors in the metadata database, "
                "which must then be PostgreSQL (SHIPYARD_DATABASE_URL=postgresql://...)"
            )
        from shipyard.knowledge.adapters.pgvector import PgVectorStore

        return PgVectorStore(database)
    raise ConfigError(f"unknown SHIPYARD_VECTOR_URL {url!r}: use one of {', '.join(VECTOR_URLS)}")
