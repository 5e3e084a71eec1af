"""Hybrid search latency at scale: shipyard (embedded and pgvector) vs LlamaIndex's retrievers.

Synthetic chunks at SciFact size, 100k and 1M (texts drawn from SciFact's word distribution,
vectors clustered around SciFact-like topics, L2-normalised) are written straight into the store
(the embedder is not what is measured here), then 200 real SciFact queries are searched one at a
time: p50/p99 of hybrid search excluding the query embedding (vectors precomputed) and
including it. LlamaIndex runs the same data with precomputed embeddings: VectorStoreIndex
(its default in-memory store) + BM25Retriever fused by QueryFusionRetriever (RRF).

    .venv/bin/python bench/search_latency.py [--sizes 11000,100000,1000000] [--backends embedded,pgvector]
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import sqlalchemy as sa

from shipyard.ids import DEFAULT_PROJECT_ID, new_id
from shipyard.knowledge.index import IndexCache
from shipyard.knowledge.index_files import IndexFiles
from shipyard.knowledge.registry import IN_MEMORY_VECTORS
from shipyard.knowledge.search import fuse
from shipyard.knowledge.types import Collection
from shipyard.platform import Platform, build_platform
from shipyard.settings import Settings
from shipyard.store import ChunkRow, CollectionRow, DocumentRow, upgrade
from shipyard.store.types import utcnow

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT.parent / "shared" / "data" / "scifact"
RESULTS = ROOT / "bench" / "results"
LLAMA = ROOT / ".peers" / "v-llama" / "bin" / "python"
PGVECTOR_URL = "postgresql+psycopg://postgres@127.0.0.1:55432/postgres"
QUERIES = 200
DIMENSION = 384


def synthetic(count: int, seed: int = 3) -> tuple[list[str], np.ndarray, np.ndarray]:
    """`count` texts of 40-120 words with SciFact's word frequencies, clustered unit vectors, and
    200 query vectors drawn from the same mixture (for recall: a query unrelated to the data's
    distribution says nothing about an ANN index, FEASIBILITY.md)."""
    rng = np.random.default_rng(seed)
    words: Counter[str] = Counter()
    with gzip.open(DATA / "corpus.jsonl.gz", "rt") as lines:
        for line in lines:
            words.update(re.findall(r"[a-z]{2,}", json.loads(line)["text"].lower()))
    vocabulary = np.array(list(words))
    probabilities = np.array(list(words.values()), dtype=np.float64)
    probabilities /= probabilities.sum()
    lengths = rng.integers(40, 120, size=count)
    drawn = rng.choice(len(vocabulary), size=int(lengths.sum()), p=probabilities)
    texts, offset = [], 0
    for length in lengths:
        texts.append(" ".join(vocabulary[drawn[offset : offset + length]]))
        offset += length
    centers = rng.normal(size=(512, DIMENSION)).astype(np.float32)

    def sample(n: int) -> np.ndarray:
        points = centers[rng.integers(0, 512, size=n)] + 0.6 * rng.normal(size=(n, DIMENSION)).astype(np.float32)
        return points / np.linalg.norm(points, axis=1, keepdims=True)

    return texts, sample(count), sample(QUERIES)


def load(services: Platform, texts: list[str], vectors: np.ndarray) -> Collection:
    """Write one document per chunk straight into the store (and the vector store)."""
    collection = services.collections.create(DEFAULT_PROJECT_ID, "bench")
    now = utcnow()
    batch = 5000
    for start in range(0, len(texts), batch):
        docs, chunks = [], []
        for i in range(start, min(start + batch, len(texts))):
            doc_id, chunk_id = new_id("doc"), new_id("chk")
            docs.append({"id": doc_id, "project_id": DEFAULT_PROJECT_ID, "collection_id": collection.id,
                         "external_id": f"d{i}", "title": None, "source": None, "content_hash": "-",
                         "metadata_": {"group": i % 10}, "chars": len(texts[i]), "chunk_count": 1,
                         "created_at": now, "updated_at": now})  # fmt: skip
            chunks.append({"id": chunk_id, "project_id": DEFAULT_PROJECT_ID, "collection_id": collection.id,
                           "document_id": doc_id, "position": 0, "text": texts[i], "span_start": 0,
                           "span_end": len(texts[i]), "heading_path": [], "token_count": 0, "content_hash": "-",
                           "embedding": vectors[i].astype("<f4").tobytes()})  # fmt: skip
        with services.database.write() as session:
            session.execute(sa.insert(DocumentRow), docs)
            session.execute(sa.insert(ChunkRow), chunks)
            session.execute(
                sa.update(CollectionRow)
                .where(CollectionRow.id == collection.id)
                .values(revision=CollectionRow.revision + 1)
            )
        # After the commit, as the ingester does.
        services.vectors.add(collection, [(str(c["id"]), vectors[start + n]) for n, c in enumerate(chunks)])
        print(f"  loaded {min(start + batch, len(texts))}/{len(texts)}", file=sys.stderr, end="\r")
    print(file=sys.stderr)
    return services.collections.get(DEFAULT_PROJECT_ID, "bench")


@contextmanager
def _store(backend: str, home: Path) -> Iterator[Settings]:
    """Settings for a fresh store: SQLite under `home`, or a schema on the pgvector server that is
    dropped afterwards (also when the run fails)."""
    if backend != "pgvector":
        yield Settings(home=home, log_level="warning")  # type: ignore[call-arg]
        return
    schema = f"bench_{new_id('s')[-10:].lower()}"
    admin = sa.create_engine(PGVECTOR_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(sa.text("CREATE EXTENSION IF NOT EXISTS vector"))
        connection.execute(sa.text(f"CREATE SCHEMA {schema}"))
    try:
        url = f"{PGVECTOR_URL}?options=-csearch_path%3D{schema},public"
        yield Settings(home=home, database_url=url, vector_url="pgvector", log_level="warning")  # type: ignore[call-arg]
    finally:
        with admin.connect() as connection:
            connection.execute(sa.text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def percentiles(samples: list[float]) -> dict[str, float]:
    return {"p50_ms": round(float(np.percentile(samples, 50)) * 1000, 3),
            "p99_ms": round(float(np.percentile(samples, 99)) * 1000, 3)}  # fmt: skip


def wait_for_background_work() -> None:
    """Wait until the index's background threads (HNSW build, saving the index under SHIPYARD_HOME)
    are done: searches timed while 2 GB are written to disk describe the minute after a cold start,
    not a serving process (at 1M: 23–29 ms p99 for the whole call that way, 14 ms without)."""
    while any(thread.name in ("ann-build", "index-save") for thread in threading.enumerate()):
        time.sleep(0.1)


def measure_shipyard(
    services: Platform, collection: Collection, queries: list[str], probes: np.ndarray
) -> dict[str, Any]:
    started = time.perf_counter()
    indexes = services.search.indexes
    assert indexes is not None
    index = indexes.get(collection)
    build = time.perf_counter() - started
    extra: dict[str, Any] = {}
    in_memory = services.settings.knowledge.vector_url in IN_MEMORY_VECTORS
    vectors, lexical = services.knowledge.retrievers.vectors, services.knowledge.retrievers.lexical
    if in_memory and len(index) >= services.settings.knowledge.ann_min_chunks:
        # The HNSW graph is built in the background after a cold start: measure it, then wait.
        while index.ann.graph is None:
            time.sleep(0.1)
        extra["hnsw_build_s"] = round(time.perf_counter() - started - build, 1)
    wait_for_background_work()
    embedder = services.embedders.get(collection.embedder)
    query_vectors = embedder.embed(queries)
    if in_memory:
        overlaps = []
        for vector in probes:
            found = {chunk_id for chunk_id, _ in vectors.search(collection, vector, 10, [])}
            exact = {index.chunk_ids[p] for p in index.exact(vector, 10)[0].tolist()}
            overlaps.append(len(found & exact) / 10)
        extra["dense_recall@10_vs_exact"] = round(float(np.mean(overlaps)), 4)
    for query, vector in zip(queries[:50], query_vectors[:50], strict=True):  # warm-up
        fuse([vectors.search(collection, vector, 100, []), lexical.search(collection, query, 100, [])], 10, "rrf")
    retrieve, end_to_end = [], []
    for query, vector in zip(queries, query_vectors, strict=True):
        begin = time.perf_counter()
        fuse([vectors.search(collection, vector, 100, []), lexical.search(collection, query, 100, [])], 10, "rrf")
        retrieve.append(time.perf_counter() - begin)
        begin = time.perf_counter()
        services.search.search(collection, query, top_k=10)
        end_to_end.append(time.perf_counter() - begin)
    if in_memory:
        # A restart: a new process finds the revision saved under SHIPYARD_HOME/indexes/.
        files = IndexFiles(services.settings.home / "indexes")
        files.save(index)
        files.save_graph(index)
        started = time.perf_counter()
        restarted = IndexCache(
            services.database, ann_min_vectors=services.settings.knowledge.ann_min_chunks, files=files
        ).get(collection)
        extra["restart_load_s"] = round(time.perf_counter() - started, 2)
        assert len(restarted) == len(index) and (restarted.ann.graph is not None) == (index.ann.graph is not None)
    return {"index_build_s": round(build, 2), **extra, "hybrid_excl_embedding": percentiles(retrieve),
            "search_incl_embedding_and_hydration": percentiles(end_to_end)}  # fmt: skip


def measure_llama(workdir: Path, texts: list[str], vectors: np.ndarray, queries: list[str]) -> dict[str, Any] | None:
    if not LLAMA.exists():
        print("  LlamaIndex venv missing (bench/peers.sh): skipped", file=sys.stderr)
        return None
    np.save(workdir / "vectors.npy", vectors)
    (workdir / "texts.json").write_text(json.dumps(texts))
    (workdir / "queries.json").write_text(json.dumps(queries))
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LLAMA_INDEX_CACHE_DIR": str(workdir / "llama-cache"),
           "OMP_NUM_THREADS": "2"}  # fmt: skip
    output = subprocess.run(
        [str(LLAMA), str(ROOT / "bench" / "peers" / "llama_search.py"), str(workdir)],
        env=env, capture_output=True, text=True, check=False, timeout=3600,
    )  # fmt: skip
    if output.returncode != 0:
        print(output.stderr[-2000:], file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(output.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", default="11000,100000,1000000")
    parser.add_argument("--backends", default="embedded,pgvector")
    parser.add_argument(
        "--llama-max",
        type=int,
        default=11_000,
        help="Largest size LlamaIndex is run at (its vector store is brute force).",
    )
    parser.add_argument("--pgvector-max", type=int, default=100_000, help="Largest size pgvector is run at.")
    args = parser.parse_args()
    queries = [json.loads(line)["text"] for line in (DATA / "queries.jsonl").read_text().splitlines()][:QUERIES]
    report: dict[str, Any] = {"queries": len(queries), "top_k": 10, "hybrid_candidates": 100, "sizes": {}}
    for size in (int(s) for s in args.sizes.split(",")):
        print(f"{size} chunks", file=sys.stderr)
        texts, vectors, probes = synthetic(size)
        entry: dict[str, Any] = {}
        for backend in args.backends.split(","):
            if backend == "pgvector" and size > args.pgvector_max:
                continue
            with tempfile.TemporaryDirectory() as home, _store(backend, Path(home)) as settings:
                services = build_platform(settings)
                upgrade(services.database)
                started = time.perf_counter()
                collection = load(services, texts, vectors)
                loaded = time.perf_counter() - started
                result = measure_shipyard(services, collection, queries, probes)
                result["load_s"] = round(loaded, 1)
                entry[f"shipyard-{backend}"] = result
                print(f"  shipyard {backend}: {json.dumps(result)}", file=sys.stderr)
                services.close()
        if size <= args.llama_max:
            with tempfile.TemporaryDirectory() as workdir:
                llama = measure_llama(Path(workdir), texts, vectors, queries)
            if llama is not None:
                entry["llamaindex"] = llama
                print(f"  llamaindex: {json.dumps(llama)}", file=sys.stderr)
                ours = entry.get("shipyard-embedded", {}).get("hybrid_excl_embedding", {}).get("p50_ms")
                theirs = llama["hybrid_excl_embedding"]["p50_ms"]
                if ours:
                    entry["speedup_p50_vs_llamaindex"] = round(theirs / ours, 1)
                    print(f"  p50 hybrid (excl. embedding): shipyard {ours} ms vs LlamaIndex {theirs} ms "
                          f"= {theirs / ours:.1f}x", file=sys.stderr)  # fmt: skip
        report["sizes"][str(size)] = entry
    RESULTS.mkdir(exist_ok=True)
    path = RESULTS / "search_latency.json"
    if path.exists():  # a run of some sizes updates those and keeps the others
        previous = json.loads(path.read_text())
        sizes = previous.get("sizes", {})
        for size, entry in report["sizes"].items():
            sizes[size] = {**sizes.get(size, {}), **entry}
        report["sizes"] = sizes
    path.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
