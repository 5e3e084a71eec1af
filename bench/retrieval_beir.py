"""Retrieval quality on BEIR SciFact through shipyard's own ingestion and search code.

Ingests the 5,183 abstracts (title + text) into a collection of the embedded default (SQLite,
packaged int8 MiniLM, in-process vectors, bm25s), then runs the queries in every mode and
reports nDCG@10 and recall@100 with a bootstrap 95% interval over queries. Chunk hits are
turned into document hits by keeping each document's best-ranked chunk (the BEIR convention
for passage-level retrievers). Anything tuned is tuned on the train queries; the test queries
are reported.

    .venv/bin/python bench/retrieval_beir.py [--split test|train] [--queries N]
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.knowledge.documents import DocumentInput
from shipyard.platform import build_platform
from shipyard.settings import Settings
from shipyard.store import upgrade

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "scifact"
RESULTS = Path(__file__).resolve().parent / "results"
PUBLISHED = {
    "BM25 (BEIR)": 0.665,
    "all-MiniLM-L6-v2 dense": 0.645,
    "MiniLM + BM25, RRF (Qdrant)": 0.7175,
    "MiniLM + BM25, DBSF (Qdrant)": 0.7323,
}
# (label, mode, fusion)
RUNS = [("dense", "dense", "rrf"), ("lexical", "lexical", "rrf"), ("hybrid-rrf", "hybrid", "rrf"),
        ("hybrid-relative", "hybrid", "relative"), ("hybrid-dbsf", "hybrid", "dbsf")]  # fmt: skip


def load_corpus() -> list[DocumentInput]:
    documents = []
    with gzip.open(DATA / "corpus.jsonl.gz", "rt") as lines:
        for line in lines:
            row = json.loads(line)
            documents.append(DocumentInput(row["_id"], row["text"], title=row["title"] or None, markdown=False))
    return documents


def load_queries(split: str) -> tuple[dict[str, str], dict[str, dict[str, int]]]:
    qrels: dict[str, dict[str, int]] = {}
    for line in (DATA / "qrels" / f"{split}.tsv").read_text().splitlines()[1:]:
        query_id, doc_id, score = line.split("\t")
        qrels.setdefault(query_id, {})[doc_id] = int(score)
    texts = {}
    for line in (DATA / "queries.jsonl").read_text().splitlines():
        row = json.loads(line)
        if row["_id"] in qrels:
            texts[row["_id"]] = row["text"]
    return texts, qrels


def ndcg_at(ranked: list[str], relevant: dict[str, int], k: int = 10) -> float:
    dcg = sum(relevant.get(doc, 0) / math.log2(rank + 2) for rank, doc in enumerate(ranked[:k]))
    ideal = sorted(relevant.values(), reverse=True)[:k]
    idcg = sum(gain / math.log2(rank + 2) for rank, gain in enumerate(ideal))
    return dcg / idcg if idcg else 0.0


def recall_at(ranked: list[str], relevant: dict[str, int], k: int = 100) -> float:
    return len(set(ranked[:k]) & set(relevant)) / len(relevant)


def bootstrap(values: list[float], rounds: int = 2000, seed: int = 7) -> tuple[float, float]:
    rng = np.random.default_rng(seed)
    data = np.asarray(values)
    means = data[rng.integers(0, len(data), size=(rounds, len(data)))].mean(axis=1)
    return float(np.percentile(means, 2.5)), float(np.percentile(means, 97.5))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--split", default="test", choices=["test", "train"])
    parser.add_argument("--queries", type=int, default=0, help="Use only the first N queries (0 = all).")
    args = parser.parse_args()

    documents = load_corpus()
    texts, qrels = load_queries(args.split)
    query_ids = sorted(texts)
    if args.queries:
        query_ids = random.Random(1).sample(query_ids, min(args.queries, len(query_ids)))
    with tempfile.TemporaryDirectory() as home:
        services = build_platform(Settings(home=Path(home), log_level="warning"))  # type: ignore[call-arg]
        upgrade(services.database)
        collection = services.collections.create(DEFAULT_PROJECT_ID, "scifact")
        started = time.perf_counter()
        outcomes = services.ingester.ingest(collection, documents)
        ingest_seconds = time.perf_counter() - started
        chunks = sum(o.chunks for o in outcomes)
        print(f"ingested {len(documents)} documents as {chunks} chunks in {ingest_seconds:.1f} s", file=sys.stderr)
        collection = services.collections.get(DEFAULT_PROJECT_ID, "scifact")

        report: dict[str, Any] = {
            "dataset": "BEIR SciFact",
            "split": args.split,
            "queries": len(query_ids),
            "documents": len(documents),
            "chunks": chunks,
            "ingest_seconds": round(ingest_seconds, 1),
            "embedder": collection.embedder,
            "chunking": {"max_tokens": collection.chunking.max_tokens, "overlap": collection.chunking.overlap_tokens},
            "runs": {},
            "published_ndcg@10": PUBLISHED,
        }
        for label, mode, fusion in RUNS:
            ndcgs, recalls, seconds = [], [], []
            for query_id in query_ids:
                begin = time.perf_counter()
                hits = services.search.search(collection, texts[query_id], top_k=100, mode=mode, fusion=fusion)  # type: ignore[arg-type]
                seconds.append(time.perf_counter() - begin)
                ranked = list(dict.fromkeys(hit.document_id for hit in hits))
                ndcgs.append(ndcg_at(ranked, qrels[query_id]))
                recalls.append(recall_at(ranked, qrels[query_id]))
            low, high = bootstrap(ndcgs)
            run = {
                "ndcg@10": round(float(np.mean(ndcgs)), 4),
                "ndcg@10_95ci": [round(low, 4), round(high, 4)],
                "recall@100": round(float(np.mean(recalls)), 4),
                "recall@100_95ci": [round(v, 4) for v in bootstrap(recalls)],
                "query_ms_p50": round(float(np.percentile(seconds, 50)) * 1000, 2),
            }
            report["runs"][label] = run
            print(
                f"{label:12} nDCG@10 {run['ndcg@10']:.4f} [{low:.4f}, {high:.4f}]  "
                f"recall@100 {run['recall@100']:.4f}  p50 {run['query_ms_p50']} ms (incl. query embedding)"
            )
        services.close()
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"retrieval_beir_{args.split}.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
