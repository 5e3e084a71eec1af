"""Ingestion throughput on the SciFact corpus: shipyard end to end vs its embedder alone vs LlamaIndex.

1. shipyard: `Ingester.ingest` of the corpus into a fresh embedded collection (chunking, content
   hashes, embedding, one transaction per batch, SQLite) — chunks/s.
2. The embedder alone on exactly the chunk texts shipyard embedded — chunks/s. Target: (1) is
   ≥90% of (2): everything but the model must be cheap.
3. LlamaIndex's IngestionPipeline (SentenceSplitter 256 tokens + HuggingFaceEmbedding of the same
   all-MiniLM-L6-v2 weights, sentence-transformers on torch, embed_batch_size 64 as PEERS.md
   advises) on the same documents — nodes/s. Its runtime is torch fp32; ours is the packaged int8
   ONNX export, which is part of what is compared.

    .venv/bin/python bench/ingest_throughput.py [--docs N]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.retrieval_beir import load_corpus
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.knowledge import Chunker, WordPieceTokens
from shipyard.knowledge.ingest import indexed_text
from shipyard.platform import build_platform
from shipyard.settings import Settings
from shipyard.store import upgrade

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"
LLAMA = ROOT / ".peers" / "v-llama" / "bin" / "python"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--docs", type=int, default=0, help="Use the first N documents (0 = all 5,183).")
    args = parser.parse_args()
    documents = load_corpus()
    if args.docs:
        documents = documents[: args.docs]
    report: dict[str, Any] = {"dataset": "BEIR SciFact corpus", "documents": len(documents)}
    with tempfile.TemporaryDirectory() as home:
        services = build_platform(Settings(home=Path(home), log_level="warning"))  # type: ignore[call-arg]
        upgrade(services.database)
        embedder = services.embedder
        embedder.embed(["warm up"])
        collection = services.collections.create(DEFAULT_PROJECT_ID, "scifact")
        # The exact texts ingestion embeds, made the way it makes them.
        chunker = Chunker(collection.chunking, WordPieceTokens())
        texts = [
            indexed_text(d.title, c.heading_path, c.text)
            for d in documents
            for c in chunker.chunk(d.text, markdown=False)
        ]

        def embed_all() -> float:
            started = time.perf_counter()
            for start in range(0, len(texts), 128):  # the ingester's batch size
                embedder.embed(texts[start : start + 128])
            return time.perf_counter() - started

        # Embedder alone before and after ingestion (onnxruntime warms up per input shape: the
        # first pass over new shapes is slower, so neither side gets only the warm runs).
        before = embed_all()
        started = time.perf_counter()
        outcomes = services.ingester.ingest(collection, documents)
        seconds = time.perf_counter() - started
        after = embed_all()
        chunks = sum(o.chunks for o in outcomes)
        assert chunks == len(texts), (chunks, len(texts))
        alone = (before + after) / 2
        report["shipyard"] = {
            "chunks": chunks,
            "seconds": round(seconds, 1),
            "chunks_per_s": round(chunks / seconds, 1),
        }
        report["embedder_only"] = {"chunks": len(texts), "seconds": [round(before, 1), round(after, 1)],
                                   "chunks_per_s": round(len(texts) / alone, 1)}  # fmt: skip
        report["ingest_vs_embedder"] = round(alone / seconds, 3)
        print(
            f"shipyard end to end: {chunks} chunks in {seconds:.1f} s = {chunks / seconds:.1f} chunks/s",
            file=sys.stderr,
        )
        print(f"embedder alone: {len(texts) / alone:.1f} chunks/s (passes {before:.1f} s, {after:.1f} s); "
              f"ingestion reaches {alone / seconds:.1%} of it", file=sys.stderr)  # fmt: skip
        services.close()

    if LLAMA.exists():
        with tempfile.TemporaryDirectory() as workdir:
            corpus = [{"id": d.external_id, "text": f"{d.title}\n{d.text}" if d.title else d.text} for d in documents]
            (Path(workdir) / "corpus.json").write_text(json.dumps(corpus))
            env = {**os.environ, "HF_HUB_OFFLINE": "1", "LLAMA_INDEX_CACHE_DIR": str(Path(workdir) / "cache")}
            output = subprocess.run(
                [str(LLAMA), str(ROOT / "bench" / "peers" / "llama_ingest.py"), workdir],
                env=env, capture_output=True, text=True, check=False, timeout=7200,
            )  # fmt: skip
        if output.returncode == 0:
            llama = json.loads(output.stdout.strip().splitlines()[-1])
            report["llamaindex"] = llama
            report["shipyard_vs_llamaindex"] = round(report["shipyard"]["chunks_per_s"] / llama["nodes_per_s"], 2)
            print(f"LlamaIndex: {llama['nodes']} nodes in {llama['seconds']} s = {llama['nodes_per_s']} nodes/s; "
                  f"shipyard is {report['shipyard_vs_llamaindex']}x", file=sys.stderr)  # fmt: skip
        else:
            print(output.stderr[-3000:], file=sys.stderr)
    else:
        print("LlamaIndex venv missing (bench/peers.sh): skipped", file=sys.stderr)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "ingest_throughput.json").write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
