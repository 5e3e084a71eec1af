"""Approximate nearest neighbours (HNSW, faiss) for large collections in the embedded store.

Below `SHIPYARD_ANN_MIN_CHUNKS` exact search is cheap (a matrix product: ~0.2 ms for 3k vectors) and
exact. Above it, an HNSW graph (M=32, efConstruction=80, efSearch=128) answers in well under a
millisecond at 100k vectors with recall@10 near 0.98 (bench/search_latency.py measures it).
The graph is built in a background thread after the index it belongs to, so no search waits
for it: until it is attached, searches are exact. Filters pass a bitmap of allowed vectors; a
filter that allows few vectors is ranked exactly instead (cheaper, and exact).
"""

from __future__ import annotations

import importlib
import threading
from collections.abc import Callable
from typing import Any

import numpy as np
from numpy.typing import NDArray

HNSW_M = 32
EF_CONSTRUCTION = 80
EF_SEARCH = 128
# A filter allowing at most this many vectors is ranked exactly (20k x 384: ~1 ms).
EXACT_BELOW = 20_000


class AnnSlot:
    """The HNSW graph of one index, once built (None until then, or for small collections)."""

    def __init__(self) -> None:
        self.graph: Any = None

    def search(
        self, query: NDArray[np.float32], k: int, mask: NDArray[np.bool_] | None
    ) -> tuple[NDArray[np.intp], NDArray[np.float32]] | None:
        """Top `k` positions and similarities, or None when exact search should answer."""
        graph = self.graph
        if graph is None:
            return None
        faiss = faiss_module()
        parameters = faiss.SearchParametersHNSW()
        parameters.efSearch = max(EF_SEARCH, k)
        if mask is not None:
            if int(np.count_nonzero(mask)) <= EXACT_BELOW:
                return None
            bitmap = np.packbits(mask, bitorder="little")
            parameters.sel = faiss.IDSelectorBitmap(len(mask), faiss.swig_ptr(bitmap))
        scores, labels = graph.search(query.reshape(1, -1), k, params=parameters)
        found = labels[0] >= 0
        return labels[0][found].astype(np.intp), scores[0][found].astype(np.float32)


def build_graph(vectors: NDArray[np.float32]) -> Any:
    faiss = faiss_module()
    graph = faiss.IndexHNSWFlat(vectors.shape[1], HNSW_M, faiss.METRIC_INNER_PRODUCT)
    graph.hnsw.efConstruction = EF_CONSTRUCTION
    graph.add(vectors)
    return graph


def attach_in_background(
    slot: AnnSlot, vectors: NDArray[np.float32], on_ready: Callable[[], None] | None = None
) -> None:
    """Build the graph for `vectors`, attach it to `slot`, then call `on_ready`."""

    def run() -> None:
        slot.graph = build_graph(vectors)
        if on_ready is not None:
            on_ready()

    threading.Thread(target=run, daemon=True, name="ann-build").start()


def faiss_module() -> Any:
    """faiss, imported on first use (its partial type stubs miss the HNSW search parameters)."""
    return importlib.import_module("faiss")
