"""Ports of the knowledge domain: what an embedder, a vector store and a lexical index must do.

They speak the domain's vocabulary only (`types.py`): collections, chunk ids, vectors, the
store-agnostic filter (a list of `Condition`s) and hits by chunk id. Every adapter passes the
shared contract suite in `tests/contracts/` against its real backend.

The chunk rows in the metadata store are the authority. A store outside that database is written
after the chunks' transaction commits and must stay in step by itself (for example by checking,
when it sees a newer `collection.revision`, for chunks it has no vector for). Search results are
read back from the metadata store by chunk id, so a hit on a chunk that is gone is dropped.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

import numpy as np
from numpy.typing import NDArray

from shipyard.knowledge.types import Collection, Condition, Hits, Vector


class Embedder(Protocol):
    """Turns texts into vectors: the packaged ONNX model by default, any OpenAI-compatible endpoint later."""

    name: str

    @property
    def dimension(self) -> int:
        """Length of every vector this embedder returns (a remote model may be asked once)."""
        ...

    @property
    def declared_dimension(self) -> int | None:
        """The dimension if known without asking the model (configuration, manifest)."""
        ...

    def embed(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """One L2-normalised row per text, in input order. Raises `EmbedderError`."""
        ...


class VectorStore(Protocol):
    """Nearest-neighbour search over a collection's chunk vectors (cosine; vectors are unit length)."""

    name: str

    def add(self, collection: Collection, chunks: Sequence[tuple[str, Vector]]) -> None:
        """Index (chunk id, vector) pairs of chunks already committed to the metadata store.

        Idempotent: a chunk id already indexed is left as it is. A store that reads the chunk
        rows itself may do nothing. Raises `ConfigError` when the backend cannot be used.
        """
        ...

    def search(self, collection: Collection, query: Vector, k: int, conditions: Sequence[Condition]) -> Hits:
        """The `k` chunks closest to `query` among those whose document passes every condition,
        best first, with their cosine similarity.

        Sees at least every chunk committed at `collection.revision`. Returns min(k, allowed)
        hits: a selective filter never shrinks the list. Raises `InvalidInput` for a condition
        on a field no document of the collection has (a typo is an error, not "no match").
        """
        ...

    def drop(self, collection: Collection) -> None:
        """Forget a deleted collection (its chunk rows are already gone). Never raises for an
        unknown collection."""
        ...


class LexicalIndex(Protocol):
    """Keyword (BM25-style) search over a collection's chunk texts, title and headings included."""

    name: str

    def search(self, collection: Collection, query: str, k: int, conditions: Sequence[Condition]) -> Hits:
        """Up to `k` chunks sharing a term with `query` among those whose document passes every
        condition, best first, with their relevance scores (higher is better; not comparable
        across queries).

        Sees every chunk committed at `collection.revision` (a large collection may answer from
        its previous revision while the new one is built). Raises `InvalidInput` for a condition
        on a field no document of the collection has.
        """
        ...

    def drop(self, collection: Collection) -> None:
        """Forget a deleted collection. Never raises for an unknown collection."""
        ...
