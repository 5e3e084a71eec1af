"""Search a collection: dense, lexical (BM25) or hybrid, with metadata filters and citable results.

Hybrid search takes the top 100 candidates of both retrievers and fuses them: by reciprocal
rank (RRF, k=60: robust, needs no score calibration; the default), or by score — `relative`
(each list min-max scaled to [0, 1], then summed; Weaviate's "relative score fusion") or `dbsf`
(distribution-based: scaled by mean ± 3 standard deviations, Qdrant's). Score fusion keeps how
much better the best hit is, which ranks alone forget. All weigh both retrievers equally;
SciFact numbers for each are in docs/benchmarks.md. Retrievers are ports (a `VectorStore`, a
`LexicalIndex`) answering with chunk ids; fusion works on those ids (ties go to the older chunk:
ids sort by creation). Results are read back from the store by chunk id, so a chunk deleted after
an index was built is never returned.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray
from pydantic import Field, ValidationInfo, field_validator
from sqlalchemy import select

from shipyard.knowledge.filters import parse_filter
from shipyard.knowledge.index import IndexCache
from shipyard.knowledge.ports import LexicalIndex, VectorStore
from shipyard.knowledge.registry import Embedders
from shipyard.knowledge.types import Collection, Hits
from shipyard.specs import Spec
from shipyard.store import ChunkRow, Database, DocumentRow

Mode = Literal["hybrid", "dense", "lexical"]
Fusion = Literal["rrf", "relative", "dbsf"]
MODES: tuple[Mode, ...] = ("hybrid", "dense", "lexical")
FUSIONS: tuple[Fusion, ...] = ("rrf", "relative", "dbsf")
MAX_TOP_K = 100
MAX_QUERY_CHARS = 10_000
RRF_K = 60
# How many candidates each retriever contributes to a hybrid fusion, at least.
HYBRID_CANDIDATES = 100


class SearchRequest(Spec):
    """One search: the API's body, the CLI's options, RAG's retrieval."""

    query: str = Field(
        examples=["how many vacation days do I get?"], json_schema_extra={"minLength": 1, "maxLength": MAX_QUERY_CHARS}
    )
    top_k: int = Field(default=10, json_schema_extra={"minimum": 1, "maximum": MAX_TOP_K})
    mode: Mode = "hybrid"
    fusion: Fusion = Field(
        default="rrf", description="How hybrid mode fuses the two rankings: reciprocal rank, or by scores."
    )
    filter: dict[str, Any] | None = Field(
        default=None,
        description='Metadata conditions, ANDed: {"field": value | {"$in": [..]} | {"$gte": x, "$lte": y} | ...}.',
        examples=[{"team": "sre", "year": {"$gte": 2024}}],
    )

    @field_validator("query")
    @classmethod
    def _query_fits(cls, query: str) -> str:
        return query_text(query, "query")

    @field_validator("top_k")
    @classmethod
    def _top_k_fits(cls, top_k: int) -> int:
        return top_k_within(top_k)

    @field_validator("mode", "fusion", mode="before")
    @classmethod
    def _known(cls, value: object, info: ValidationInfo) -> object:
        allowed = MODES if info.field_name == "mode" else FUSIONS
        if value not in allowed:
            raise ValueError(f"{info.field_name} must be one of {', '.join(allowed)}, got {value!r}")
        return value


def query_text(text: str, name: str) -> str:
    """`text` if it can be searched for; a `ValueError` naming the field (`name`) otherwise."""
    if not text.strip():
        raise ValueError(f"{name} must not be empty")
    if len(text) > MAX_QUERY_CHARS:
        raise ValueError(f"{name} is at most {MAX_QUERY_CHARS} characters, got {len(text)}")
    return text


def top_k_within(top_k: int) -> int:
    if not 1 <= top_k <= MAX_TOP_K:
        raise ValueError(f"top_k must be between 1 and {MAX_TOP_K}, got {top_k}")
    return top_k


@dataclass(frozen=True)
class SearchResult:
    document_id: str
    chunk_id: str
    score: float
    text: str
    title: str | None
    source: str | None
    heading_path: list[str]
    span: tuple[int, int]
    metadata: dict[str, Any]
    # Cosine similarity of the query and this chunk (dense and hybrid modes): unlike the fused
    # score it means the same across queries, so "nothing relevant found" can be decided on it.
    similarity: float | None = None


class SearchService:
    def __init__(
        self,
        database: Database,
        embedders: Embedders,
        vectors: VectorStore,
        lexical: LexicalIndex,
        *,
        indexes: IndexCache | None = None,
        observe: Callable[[str, float, int], None] | None = None,
    ) -> None:
        self._db = database
        # Told (mode, seconds, hits) after every search: metrics.
        self._observe = observe
        self._embedders = embedders
        self._vectors = vectors
        self._lexical = lexical
        # The embedded adapters' in-memory indexes (benchmarks and tests look inside).
        self.indexes = indexes

    def search(
        self,
        collection: Collection,
        query: str,
        *,
        top_k: int = 10,
        mode: Mode = "hybrid",
        fusion: Fusion = "rrf",
        filter: dict[str, Any] | None = None,  # noqa: A002 - the API's own word
    ) -> list[SearchResult]:
        """`run` with the request given as keywords (checked here: `InvalidInput`)."""
        request = SearchRequest.of(query=query, top_k=top_k, mode=mode, fusion=fusion, filter=filter)
        return self.run(collection, request)

    def run(self, collection: Collection, request: SearchRequest) -> list[SearchResult]:
        """Hybrid (default), dense or lexical search with a metadata filter; results cite their spans."""
        query, top_k, mode = request.query, request.top_k, request.mode
        started = time.perf_counter()
        conditions = parse_filter(request.filter)
        vector = None
        if mode == "lexical":
            hits = self._lexical.search(collection, query, top_k, conditions)
        else:
            vector = self._embedders.get(collection.embedder).embed([query])[0]
            if mode == "dense":
                hits = self._vectors.search(collection, vector, top_k, conditions)
            else:
                depth = max(HYBRID_CANDIDATES, top_k)
                dense = self._vectors.search(collection, vector, depth, conditions)
                lexical = self._lexical.search(collection, query, depth, conditions)
                hits = fuse([dense, lexical], top_k, request.fusion)
        results = self._results(collection, hits, vector)
        if self._observe is not None:
            self._observe(mode, time.perf_counter() - started, len(results))
        return results

    def _results(
        self, collection: Collection, hits: Hits, vector: NDArray[np.float32] | None = None
    ) -> list[SearchResult]:
        if not hits:
            return []
        chunk_ids = [chunk_id for chunk_id, _ in hits]
        with self._db.read() as session:
            # By primary key only: with the collection in the WHERE clause SQLite's planner
            # walked the collection's index instead (4 ms at 3k chunks, growing with size).
            rows = session.execute(
                select(
                    ChunkRow.id,
                    ChunkRow.collection_id,
                    ChunkRow.text,
                    ChunkRow.heading_path,
                    ChunkRow.span_start,
                    ChunkRow.span_end,
                    DocumentRow.external_id,
                    DocumentRow.title,
                    DocumentRow.source,
                    DocumentRow.metadata_,
                    ChunkRow.embedding,
                )
                .join(DocumentRow, DocumentRow.id == ChunkRow.document_id)
                .where(ChunkRow.id.in_(chunk_ids))
            ).all()
        found = {row.id: row for row in rows if row.collection_id == collection.id}
        results = []
        for chunk_id, score in hits:
            row = found.get(chunk_id)
            if row is None:
                continue
            results.append(
                SearchResult(
                    document_id=row.external_id,
                    chunk_id=row.id,
                    score=score,
                    text=row.text,
                    title=row.title,
                    source=row.source,
                    heading_path=list(row.heading_path),
                    span=(row.span_start, row.span_end),
                    metadata=dict(row.metadata_ or {}),
                    similarity=_cosine(vector, row.embedding),
                )
            )
        return results


def _cosine(vector: NDArray[np.float32] | None, embedding: bytes) -> float | None:
    """Both sides are unit length (embedders normalise), so the dot product is the cosine."""
    if vector is None or len(embedding) != 4 * len(vector):
        return None
    return round(float(np.dot(np.frombuffer(embedding, dtype="<f4"), vector)), 6)


def fuse(lists: list[Hits], top_k: int, fusion: Fusion) -> Hits:
    """The `top_k` best of the fused lists; fused scores are float32, as the retrievers' are."""
    fused = FUSERS[fusion](lists)
    ranked = sorted(fused.items(), key=lambda item: (-item[1], item[0]))[:top_k]
    return [(chunk_id, float(np.float32(score))) for chunk_id, score in ranked]


def _scores(hits: Hits) -> NDArray[np.float32]:
    return np.asarray([score for _, score in hits], dtype=np.float32)


def rrf(lists: list[Hits], k: int = RRF_K, weights: Sequence[float] | None = None) -> dict[str, float]:
    """Reciprocal rank fusion: sum of weight / (k + rank) over the lists a hit appears in."""
    fused: dict[str, float] = {}
    for hits, weight in zip(lists, weights or [1.0] * len(lists), strict=True):
        for rank, (chunk_id, _) in enumerate(hits, start=1):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight / (k + rank)
    return fused


def relative(lists: list[Hits], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Relative score fusion: each list's scores min-max scaled to [0, 1], weighted, summed."""
    fused: dict[str, float] = {}
    for hits, weight in zip(lists, weights or [1.0] * len(lists), strict=True):
        if not hits:
            continue
        scores = _scores(hits)
        low, high = float(np.min(scores)), float(np.max(scores))
        scaled = (scores - low) / (high - low) if high > low else np.ones_like(scores)
        for (chunk_id, _), value in zip(hits, scaled.tolist(), strict=True):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * value
    return fused


def dbsf(lists: list[Hits], weights: Sequence[float] | None = None) -> dict[str, float]:
    """Distribution-based score fusion: scores scaled to [mean - 3σ, mean + 3σ] → [0, 1], weighted, summed."""
    fused: dict[str, float] = {}
    for hits, weight in zip(lists, weights or [1.0] * len(lists), strict=True):
        if not hits:
            continue
        scores = _scores(hits)
        mean, std = float(np.mean(scores)), float(np.std(scores))
        low, high = mean - 3 * std, mean + 3 * std
        scaled = np.clip((scores - low) / (high - low), 0.0, 1.0) if high > low else np.ones_like(scores)
        for (chunk_id, _), value in zip(hits, scaled.tolist(), strict=True):
            fused[chunk_id] = fused.get(chunk_id, 0.0) + weight * value
    return fused


FUSERS: dict[str, Callable[[list[Hits]], dict[str, float]]] = {"rrf": rrf, "relative": relative, "dbsf": dbsf}
