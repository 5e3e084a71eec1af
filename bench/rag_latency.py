"""RAG answer latency: `POST /v1/ask` end to end on SciFact with the extractive answerer, with a
per-span breakdown from the traces, next to LlamaIndex and Haystack doing retrieve → synthesize on
the same chunks and vectors with the same MiniLM, each with its own default in-memory store.

shipyard: SciFact (5,183 abstracts) ingested through the product's own ingestion, then
`shipyard serve` (embedded default) asked the 300 test questions one at a time over HTTP — so its
numbers include HTTP, auth, the request log and writing the trace. The peers get shipyard's chunk
texts and vectors (so nobody re-embeds the corpus) and run in-process, no HTTP: LlamaIndex
`RetrieverQueryEngine` over vector + BM25 (RRF) with its `compact` synthesizer and no LLM
(MockLLM); Haystack 2.x text embedder → embedding + BM25 retrievers → RRF joiner → PromptBuilder.
All embed the question with MiniLM (shipyard: its ONNX export; peers: sentence-transformers).

    PYTHONPATH=. .venv/bin/python bench/rag_latency.py        # needs bench/peers.sh (make bench)
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np
from sqlalchemy import select

from bench.api_overhead import _create_key, _env, _free_port
from bench.retrieval_beir import load_corpus, load_queries
from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.knowledge.ingest import indexed_text
from shipyard.platform import build_platform
from shipyard.settings import Settings
from shipyard.store import ChunkRow, DocumentRow, upgrade

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results" / "rag_latency.json"
PEERS = {
    "llamaindex": (ROOT / ".peers" / "v-llama" / "bin" / "python", ROOT / "bench" / "peers" / "llama_rag.py"),
    "haystack": (ROOT / ".peers" / "v-haystack" / "bin" / "python", ROOT / "bench" / "peers" / "haystack_rag.py"),
}
TOP_K = 6


def percentiles(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(float(np.percentile(samples, 50)), 3),
        "p99_ms": round(float(np.percentile(samples, 99)), 3),
    }


def ingest(home: Path) -> tuple[list[dict[str, str]], np.ndarray]:
    """SciFact through shipyard's ingestion; returns its chunks (as indexed) and their vectors."""
    services = build_platform(Settings(home=home, log_level="warning"))  # type: ignore[call-arg]
    try:
        upgrade(services.database)
        collection = services.collections.create(DEFAULT_PROJECT_ID, "scifact")
        started = time.perf_counter()
        services.ingester.ingest(collection, load_corpus())
        print(f"ingested SciFact in {time.perf_counter() - started:.0f} s", file=sys.stderr)
        with services.database.read() as session:
            rows = session.execute(
                select(ChunkRow.id, ChunkRow.text, ChunkRow.heading_path, ChunkRow.embedding, DocumentRow.title)
                .join(DocumentRow, DocumentRow.id == ChunkRow.document_id)
                .order_by(ChunkRow.id)
            ).all()
        chunks = [{"id": r.id, "text": indexed_text(r.title, r.heading_path, r.text)} for r in rows]
        vectors = np.stack([np.frombuffer(r.embedding, dtype="<f4") for r in rows])
        return chunks, vectors
    finally:
        services.close()


def measure_shipyard(home: Path, questions: list[str]) -> dict[str, Any]:
    key = _create_key(str(home))
    port = _free_port()
    env = _env(str(home))
    server = subprocess.Popen([sys.executable, "-m", "shipyard.cli.main", "serve", "--port", str(port)], env=env,
                              cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    headers = {"Authorization": f"Bearer {key}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
            deadline = time.monotonic() + 60
            while True:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.HTTPError:
                    time.sleep(0.2)
                if time.monotonic() > deadline:
                    raise SystemExit("shipyard serve did not start")

            def ask(question: str) -> dict[str, Any]:
                response = client.post("/v1/ask", json={"collection": "scifact", "question": question, "top_k": TOP_K})
                if response.status_code != 200:
                    raise SystemExit(f"/v1/ask: HTTP {response.status_code}: {response.text}")
                return response.json()  # type: ignore[no-any-return]

            for question in questions[:10]:
                ask(question)
            samples, trace_ids, found = [], [], 0
            for question in questions:
                begin = time.perf_counter()
                answer = ask(question)
                samples.append((time.perf_counter() - begin) * 1000)
                trace_ids.append(answer["trace_id"])
                found += answer["found"]
            spans: dict[str, list[float]] = {}
            server_ms = []
            for trace_id in trace_ids:
                trace = client.get(f"/v1/traces/{trace_id}").json()
                server_ms.append(trace["duration_ms"])
                for span in trace["details"]["spans"]:
                    spans.setdefault(span["name"], []).append(span["duration_ms"])
    finally:
        server.terminate()
        server.wait(30)
    return {"end_to_end_http": percentiles(samples), "pipeline_in_server": percentiles(server_ms),
            "spans": {name: percentiles(values) for name, values in spans.items()},
            "answered": found, "queries": len(samples)}  # fmt: skip


def measure_peer(name: str, workdir: Path) -> dict[str, Any] | None:
    python, script = PEERS[name]
    if not python.exists():
        print(f"  {name}: venv missing (bench/peers.sh): skipped", file=sys.stderr)
        return None
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "LLAMA_INDEX_CACHE_DIR": str(workdir / "llama-cache"),
           "HAYSTACK_TELEMETRY_ENABLED": "False", "OMP_NUM_THREADS": "2"}  # fmt: skip
    out = subprocess.run([str(python), str(script), str(workdir), str(TOP_K)], env=env, capture_output=True,
                         text=True, check=False, timeout=3600)  # fmt: skip
    if out.returncode != 0:
        print(out.stderr[-3000:], file=sys.stderr)
        return None
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def main() -> None:
    texts, _ = load_queries("test")
    questions = [texts[k] for k in sorted(texts)]
    report: dict[str, Any] = {"benchmark": "rag_latency", "dataset": "BEIR SciFact test", "top_k": TOP_K}
    with tempfile.TemporaryDirectory() as tmp:
        home, workdir = Path(tmp) / "home", Path(tmp) / "peers"
        workdir.mkdir()
        chunks, vectors = ingest(home)
        np.save(workdir / "vectors.npy", vectors)
        (workdir / "chunks.json").write_text(json.dumps(chunks))
        (workdir / "queries.json").write_text(json.dumps(questions))
        report["chunks"] = len(chunks)
        report["shipyard"] = measure_shipyard(home, questions)
        print("shipyard", json.dumps(report["shipyard"]), file=sys.stderr)
        for name in PEERS:
            result = measure_peer(name, workdir)
            if result is not None:
                report[name] = result
                ratio = result["p50_ms"] / report["shipyard"]["end_to_end_http"]["p50_ms"]
                report[f"speedup_p50_vs_{name}"] = round(ratio, 1)
                print(f"{name} {json.dumps(result)}  (shipyard p50 is {ratio:.1f}x faster)", file=sys.stderr)
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
