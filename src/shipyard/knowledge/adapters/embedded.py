"""The embedded default: vectors and BM25 in each process's in-memory index of a collection.

Both adapters answer from `IndexCache`: one index per collection revision (vector matrix plus an
HNSW graph for large collections, BM25, filter columns), built from the store's chunk rows — so
`add` has nothing to do. Positions and masks stay inside; hits leave as chunk ids.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from shipyard.knowledge.index import IndexCache
from shipyard.knowledge.memory import CollectionIndex
from shipyard.knowledge.types import Collection, Condition, Hits, Vector


class EmbeddedVectors:
    """Exact inner-product search on the index's vector matrix, HNSW (faiss) once the graph of a
    large collection is attached; a selective filter is ranked exactly."""

    name = "embedded"

    def __init__(self, indexes: IndexCache) -> None:
        self._indexes = indexes

    def add(self, collection: Collection, chunks: Sequence[tuple[str, Vector]]) -> None:
        """Nothing to do: the committed chunk rows are what the next index revision loads."""

    def search(self, collection: Collection, query: Vector, k: int, conditions: Sequence[Condition]) -> Hits:
        index = self._indexes.get(collection)
        positions, scores = index.dense(query, k, index.chunk_mask(list(conditions)))
        return _hits(index, positions, scores)

    def drop(self, collection: Collection) -> None:
        self._indexes.forget(collection.id)


class Bm25Lexical:
    """BM25 (bm25s) over the index's chunk texts."""

    name = "bm25s"

    def __init__(self, indexes: IndexCache) -> None:
        self._indexes = indexes

    def search(self, collection: Collection, query: str, k: int, conditions: Sequence[Condition]) -> Hits:
        index = self._indexes.get(collection)
        positions, scores = index.lexical_search(query, k, index.chunk_mask(list(conditions)))
        return _hits(index, positions, scores)

    def drop(self, collection: Collection) -> None:
        self._indexes.forget(collection.id)


def _hits(index: CollectionIndex, positions: NDArray[np.intp], scores: NDArray[np.float32]) -> Hits:
    chunk_ids = index.chunk_ids
    return [(chunk_ids[p], s) for p, s in zip(positions.tolist(), scores.tolist(), strict=True)]
