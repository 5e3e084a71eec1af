"""Choose the hybrid fusion on SciFact's *train* queries (the test queries are never looked at).

Ingests the corpus once (the default chunking), takes the dense and BM25 top-100 of every train
query once, and scores fusion variants offline with shipyard's own `rrf`/`relative`/`dbsf`.
bench/retrieval_beir.py then reports every shipped fusion on the test queries.

    .venv/bin/python -m bench.tune_retrieval
"""

from __future__ import annotations

import json
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

import numpy as np
from sqlalchemy import select

from bench.retrieval_beir import load_corpus, load_queries, ndcg_at
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.knowledge.search import dbsf, relative, rrf
from shipyard.knowledge.types import Hits
from shipyard.platform import build_platform
from shipyard.settings import Settings
from shipyard.store import ChunkRow, DocumentRow, upgrade

RESULTS = Path(__file__).resolve().parent / "results"
Fuse = Callable[[list[Hits]], dict[str, float]]
VARIANTS: dict[str, Fuse] = {
    "dense only": lambda lists: rrf(lists[:1]),
    "lexical only": lambda lists: rrf(lists[1:]),
    "rrf k=60": lambda lists: rrf(lists, 60),
    "rrf k=10": lambda lists: rrf(lists, 10),
    "relative": relative,
    "dbsf": dbsf,
    "rrf k=60, lexical weight 0.6": lambda lists: rrf(lists, 60, (0.4, 0.6)),
    "relative, lexical weight 0.4": lambda lists: relative(lists, (0.6, 0.4)),
    "relative, lexical weight 0.6": lambda lists: relative(lists, (0.4, 0.6)),
    "dbsf, lexical weight 0.6": lambda lists: dbsf(lists, (0.4, 0.6)),
}


def main() -> None:
    texts, qrels = load_queries("train")
    query_ids = sorted(texts)
    with tempfile.TemporaryDirectory() as home:
        services = build_platform(Settings(home=Path(home), log_level="warning"))  # type: ignore[call-arg]
        upgrade(services.database)
        collection = services.collections.create(DEFAULT_PROJECT_ID, "scifact")
        services.ingester.ingest(collection, load_corpus())
        collection = services.collections.get(DEFAULT_PROJECT_ID, "scifact")
        vector_store, lexical = services.knowledge.retrievers.vectors, services.knowledge.retrievers.lexical
        with services.database.read() as session:
            pairs = session.execute(
                select(ChunkRow.id, DocumentRow.external_id).join(DocumentRow, DocumentRow.id == ChunkRow.document_id)
            )
            external = {chunk_id: external_id for chunk_id, external_id in pairs}
        vectors = services.embedders.get(collection.embedder).embed([texts[q] for q in query_ids])
        runs = [
            (q, [vector_store.search(collection, v, 100, []), lexical.search(collection, texts[q], 100, [])])
            for q, v in zip(query_ids, vectors, strict=True)
        ]
        services.close()
    table = {}
    for name, fuse in VARIANTS.items():
        values = []
        for query_id, lists in runs:
            ranked = sorted(fuse(lists).items(), key=lambda item: -item[1])
            values.append(ndcg_at(list(dict.fromkeys(external[c] for c, _ in ranked)), qrels[query_id]))
        table[name] = round(float(np.mean(values)), 4)
        print(f"{name:32} train nDCG@10 {table[name]:.4f}", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "tune_retrieval_train.json").write_text(
        json.dumps({"split": "train", "queries": len(runs), "ndcg@10": table}, indent=2) + "\n"
    )


if __name__ == "__main__":
    main()
