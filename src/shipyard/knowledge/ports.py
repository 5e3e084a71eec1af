"""Ports of the knowledge domain."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol

import numpy as np
from numpy.typing import NDArray

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from shipyard.knowledge.collections import Collection
    from shipyard.knowledge.index import CollectionIndex, Hits


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
    """Nearest-neighbour search over a collection's chunk vectors.

    The metadata store always keeps every chunk's embedding (the authority, and the embedding
    cache); a vector store only answers "which chunks are closest". Writes happen inside the
    ingestion transaction (`session`), so a store in the same database is exactly in step.
    """

    name: str

    @property
    def loads_vectors(self) -> bool:
        """Whether search indexes should hold the vectors in memory (the embedded store does)."""
        ...

    def add(self, session: Session, collection: Collection, chunks: Sequence[tuple[str, bytes]]) -> None:
        """Index (chunk id, float32 bytes) pairs; runs in the caller's transaction."""
        ...

    def search(
        self,
        collection: Collection,
        index: CollectionIndex,
        query: NDArray[np.float32],
        k: int,
        mask: NDArray[np.bool_] | None,
    ) -> Hits:
        """Positions in `index` and cosine similarities of the `k` best chunks `mask` allows."""
        ...

    def drop(self, collection: Collection) -> None:
        """Forget a deleted collection (its rows are gone with it; indexes may remain)."""
        ...
