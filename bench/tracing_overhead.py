"""What tracing costs a request: recording one ask's trace (to the store's trace writer, the
Prometheus metrics and the OTLP exporter) on the request path, and the background work it causes.

A realistic record (an ask with six spans, six retrieved chunks, one gateway attempt) is recorded
N times: the request path pays `answer_trace()` (the record) and `TraceStore.record()` (queue puts
and metric updates); the store insert and the OTLP span building and export run on background
threads and are timed separately (per trace, amortised over batches). The OTLP endpoint is a local
receiver that accepts and discards. Target: ≤ 0.2 ms per request on the request path.

    PYTHONPATH=. .venv/bin/python bench/tracing_overhead.py [--n 20000]
"""

from __future__ import annotations

import argparse
import json
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from shipyard.ids import DEFAULT_PROJECT_ID, new_id
from shipyard.llm import Usage
from shipyard.platform import build_platform
from shipyard.rag.passages import Passage
from shipyard.rag.service import Answer, answer_trace
from shipyard.rag.spans import Span
from shipyard.settings import Settings
from shipyard.store import upgrade

RESULTS = Path(__file__).resolve().parent / "results" / "tracing_overhead.json"


class _Sink(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802
        self.rfile.read(int(self.headers["Content-Length"]))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


def sample_answer() -> Answer:
    passages = [Passage(i, f"chk_{i:026d}", f"doc-{i}", f"Title {i}", f"s/{i}.md", (0, 400), "text " * 60, 0.5, 0.6)
                for i in range(1, 7)]  # fmt: skip
    answer = Answer(new_id("trc"), "handbook", "How do I roll back a deployment?", "chat",
                    answer="Run shipyard rollback NAME [1].", found=True, passages=passages, citations=passages[:1],
                    retrieved=[{"chunk_id": p.chunk_id, "score": 0.03, "similarity": 0.61} for p in passages],
                    prompt="rag-answer@1", provider_model="local/m1", usage=Usage(812, 24), cost=0.0004,
                    attempts=[{"deployment": "local/m1", "started_s": 0.0, "seconds": 0.41, "error": None,
                               "message": None}], finish_reason="stop")  # fmt: skip
    answer.spans = [Span("retrieve", 0.0, 4.1, {"top_k": 6, "results": 6}), Span("pack", 4.1, 0.2, {"budget": 7000}),
                    Span("render", 4.3, 0.1, {"prompt": "rag-answer@1"}), Span("llm", 4.4, 410.0, {"model": "chat"}),
                    Span("cite", 414.4, 0.02, {"citations": 1})]  # fmt: skip
    answer.duration_ms = 414.5
    return answer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--n", type=int, default=20_000)
    args = parser.parse_args()
    sink = ThreadingHTTPServer(("127.0.0.1", 0), _Sink)
    threading.Thread(target=sink.serve_forever, daemon=True).start()
    report: dict[str, Any] = {"benchmark": "tracing_overhead", "records": args.n}
    with tempfile.TemporaryDirectory() as home:
        settings = Settings(home=Path(home), log_level="warning", request_log_queue_size=args.n + 10,  # type: ignore[call-arg]
                            otlp_endpoint=f"http://127.0.0.1:{sink.server_address[1]}")  # fmt: skip
        services = build_platform(settings)
        upgrade(services.database)
        assert services.otlp is not None
        answer = sample_answer()
        for _ in range(200):  # warm-up
            answer.trace_id = new_id("trc")
            services.traces.record(answer_trace(DEFAULT_PROJECT_ID, answer, "4bf92f3577b34da6a3ce929d0e0e4736", None))
        services.traces.writer.flush_now()
        services.otlp.writer.flush_now()
        started = time.perf_counter()
        for _ in range(args.n):
            answer.trace_id = new_id("trc")
            services.traces.record(answer_trace(DEFAULT_PROJECT_ID, answer, "4bf92f3577b34da6a3ce929d0e0e4736", None))
        request_path = (time.perf_counter() - started) / args.n
        started = time.perf_counter()
        if not services.traces.writer.flush_now():
            raise SystemExit("the trace writer failed to insert the traces")
        store = (time.perf_counter() - started) / args.n
        started = time.perf_counter()
        services.otlp.writer.flush_now()
        services.otlp.close()
        otlp = (time.perf_counter() - started) / args.n
        services.close()
    sink.shutdown()
    report["per_request_ms"] = {"request_path": round(request_path * 1000, 4),
                                "background_store_insert": round(store * 1000, 4),
                                "background_otlp_spans_and_export": round(otlp * 1000, 4)}  # fmt: skip
    print(json.dumps(report["per_request_ms"]))
    RESULTS.write_text(json.dumps(report, indent=2) + "\n")


if __name__ == "__main__":
    main()
