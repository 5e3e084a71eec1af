"""LlamaIndex side of bench/search_latency.py (runs in .peers/v-llama): same chunks, same
precomputed vectors, VectorStoreIndex + BM25Retriever fused by QueryFusionRetriever (RRF).
Prints one JSON line."""

import json
import sys
import time
from pathlib import Path

import numpy as np
from llama_index.core import Settings, VectorStoreIndex
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.retrievers import QueryFusionRetriever
from llama_index.core.schema import QueryBundle, TextNode
from llama_index.retrievers.bm25 import BM25Retriever

workdir = Path(sys.argv[1])
vectors = np.load(workdir / "vectors.npy")
texts = json.loads((workdir / "texts.json").read_text())
queries = json.loads((workdir / "queries.json").read_text())
Settings.embed_model = MockEmbedding(embed_dim=vectors.shape[1])  # never called: embeddings are given
Settings.llm = None
nodes = [TextNode(text=t, id_=f"d{i}", embedding=vectors[i].tolist()) for i, t in enumerate(texts)]
started = time.perf_counter()
index = VectorStoreIndex(nodes)
vector_retriever = index.as_retriever(similarity_top_k=100)
bm25 = BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=100)
fusion = QueryFusionRetriever(
    [vector_retriever, bm25], similarity_top_k=10, num_queries=1, mode="reciprocal_rerank", use_async=False
)
build = time.perf_counter() - started
rng = np.random.default_rng(5)
query_vectors = rng.normal(size=(len(queries), vectors.shape[1]))
query_vectors /= np.linalg.norm(query_vectors, axis=1, keepdims=True)
bundles = [QueryBundle(q, embedding=v.tolist()) for q, v in zip(queries, query_vectors, strict=True)]
for bundle in bundles[:5]:
    fusion.retrieve(bundle)
samples = []
for bundle in bundles:
    begin = time.perf_counter()
    fusion.retrieve(bundle)
    samples.append(time.perf_counter() - begin)
print(
    json.dumps(
        {
            "index_build_s": round(build, 2),
            "hybrid_excl_embedding": {
                "p50_ms": round(float(np.percentile(samples, 50)) * 1000, 3),
                "p99_ms": round(float(np.percentile(samples, 99)) * 1000, 3),
            },
        }
    )
)
