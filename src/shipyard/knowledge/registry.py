"""The knowledge adapters by URL, each built once: embedders (`SHIPYARD_EMBEDDER_URL`), the vector
store (`SHIPYARD_VECTOR_URL`) and the lexical index. One scheme -> factory table per port; drivers
are imported inside the factories; an unknown URL is a `ConfigError` naming the valid ones.
Adding a backend is one adapter module and one line here."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import parse_qs, urlsplit, urlunsplit

from shipyard.errors import ConfigError
from shipyard.knowledge.adapters.embedded import Bm25Lexical, EmbeddedVectors
from shipyard.knowledge.index import IndexCache
from shipyard.knowledge.ports import Embedder, LexicalIndex, VectorStore
from shipyard.store import Database

PACKAGED = "onnx://all-minilm-l6-v2"
SCHEMES = ("onnx://", "openai+http://", "openai+https://")


def build_embedder(url: str, *, api_key: str | None = None) -> Embedder:
    """`onnx://all-minilm-l6-v2` (packaged, default) or `openai+https://host/v1?model=M[&dimension=N]`."""
    if url == PACKAGED:
        from shipyard.knowledge.adapters.onnx import OnnxEmbedder

        return OnnxEmbedder()
    if url.startswith(("openai+http://", "openai+https://")):
        from shipyard.knowledge.adapters.openai import OpenAIEmbedder

        parts = urlsplit(url.removeprefix("openai+"))
        query = parse_qs(parts.query)
        if "model" not in query:
            raise ConfigError(f"SHIPYARD_EMBEDDER_URL needs ?model=<name>: {url}")
        dimension = query.get("dimension", [None])[0]
        base_url = urlunsplit((parts.scheme, parts.netloc, parts.path, "", ""))
        return OpenAIEmbedder(
            base_url=base_url,
            model=query["model"][0],
            api_key=api_key,
            dimension=int(dimension) if dimension else None,
        )
    raise ConfigError(
        f"unknown embedder {url!r}: SHIPYARD_EMBEDDER_URL must be {PACKAGED} or start with openai+http(s)://"
    )


class Embedders:
    """Embedders by URL, each built once per process: the configured default and any other a
    collection names."""

    def __init__(self, default_url: str, *, api_key: str | None = None) -> None:
        self.default_url = default_url
        self._api_key = api_key
        self._built: dict[str, Embedder] = {}
        self._lock = threading.Lock()

    def get(self, url: str | None = None) -> Embedder:
        """Raises ConfigError naming the valid forms for an unknown URL."""
        url = url or self.default_url
        with self._lock:
            embedder = self._built.get(url)
            if embedder is None:
                embedder = self._built[url] = build_embedder(url, api_key=self._api_key)
            return embedder


@dataclass(frozen=True)
class Retrievers:
    """The vector store and lexical index of one process, and the embedded adapters' in-memory
    index cache they may share (its background rebuilds are closed by the lifecycle)."""

    vectors: VectorStore
    lexical: LexicalIndex
    indexes: IndexCache


def _embedded_vectors(database: Database, indexes: IndexCache) -> VectorStore:
    return EmbeddedVectors(indexes)


def _pgvector(database: Database, indexes: IndexCache) -> VectorStore:
    if database.dialect != "postgresql":
        raise ConfigError(
            "SHIPYARD_VECTOR_URL=pgvector keeps vectors in the metadata database, "
            "which must then be PostgreSQL (SHIPYARD_DATABASE_URL=postgresql://...)"
        )
    from shipyard.knowledge.adapters.pgvector import PgVectorStore

    return PgVectorStore(database)


def _bm25s(database: Database, indexes: IndexCache) -> LexicalIndex:
    return Bm25Lexical(indexes)


VECTOR_STORES: dict[str, Callable[[Database, IndexCache], VectorStore]] = {
    "embedded": _embedded_vectors,
    "pgvector": _pgvector,
}
LEXICAL_INDEXES: dict[str, Callable[[Database, IndexCache], LexicalIndex]] = {"bm25s": _bm25s}
# Vector stores whose vectors live in the in-memory index (the others need none loaded).
IN_MEMORY_VECTORS = ("embedded",)


def build_retrievers(
    database: Database, indexes: Callable[[bool], IndexCache], *, vector_url: str, lexical_url: str = "bm25s"
) -> Retrievers:
    """The vector store and lexical index for these URLs. `indexes(load_vectors)` builds the
    in-memory index cache (with vectors only when the vector store answers from it)."""
    vector_url = vector_url or "embedded"
    vector_factory = VECTOR_STORES.get(vector_url)
    if vector_factory is None:
        raise ConfigError(f"unknown SHIPYARD_VECTOR_URL {vector_url!r}: use one of {', '.join(VECTOR_STORES)}")
    lexical_factory = LEXICAL_INDEXES.get(lexical_url)
    if lexical_factory is None:
        raise ConfigError(f"unknown lexical index {lexical_url!r}: use one of {', '.join(LEXICAL_INDEXES)}")
    cache = indexes(vector_url in IN_MEMORY_VECTORS)
    return Retrievers(vector_factory(database, cache), lexical_factory(database, cache), cache)
