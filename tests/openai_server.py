"""A small real HTTP server speaking the OpenAI embeddings protocol, for tests (no patching)."""

from __future__ import annotations

import hashlib
import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

DIMENSION = 8


def fake_vector(text: str) -> list[float]:
    """Deterministic and deliberately not unit-length (the client must normalise)."""
    digest = hashlib.sha256(text.encode()).digest()
    return [(byte - 128) / 16 for byte in digest[:DIMENSION]]


@dataclass
class Behaviour:
    mode: str = "ok"  # ok | unauthorized | error | slow
    delay: float = 0.0
    batches: list[int] = field(default_factory=list)
    keys: list[str] = field(default_factory=list)


@contextmanager
def openai_embeddings_server() -> Iterator[tuple[str, Behaviour]]:
    behaviour = Behaviour()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            behaviour.keys.append(self.headers.get("Authorization", ""))
            if behaviour.mode == "unauthorized":
                return self._send(
                    401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}}
                )
            if behaviour.mode == "error":
                return self._send(500, {"error": {"message": "boom", "type": "server_error"}})
            if behaviour.mode == "slow":
                time.sleep(behaviour.delay)
            inputs = body["input"] if isinstance(body["input"], list) else [body["input"]]
            behaviour.batches.append(len(inputs))
            data = [{"object": "embedding", "index": i, "embedding": fake_vector(t)} for i, t in enumerate(inputs)]
            data.reverse()  # servers may answer out of order: the client must sort by index
            self._send(
                200,
                {
                    "object": "list",
                    "data": data,
                    "model": body["model"],
                    "usage": {"prompt_tokens": 1, "total_tokens": 1},
                },
            )

        def _send(self, status: int, payload: Any) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            self.end_headers()
            self.wfile.write(raw)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", behaviour
    finally:
        server.shutdown()
        server.server_close()
