"""A small real HTTP server speaking the OpenAI chat-completions protocol, for gateway tests.

Each model answers by a script of steps, one step per request (the last one repeats):

    ok                    a complete answer (stream or not, as asked), with usage
    say:TEXT              a complete answer that is exactly TEXT
    ok-no-usage           the same without usage (the gateway must count tokens itself)
    slow:S                wait S seconds, then answer
    status:N[:R]          HTTP N with an OpenAI error body (and Retry-After: R)
    cut:K                 stream K chunks, then drop the connection mid-body
    end:K                 stream K chunks, then end the body cleanly with no finish_reason and no [DONE]
    stall:K:S             stream K chunks, then send nothing for S seconds
    malformed:K           stream K chunks, then an event that is not JSON
    error-event:K         stream K chunks, then an SSE error object (as OpenAI does)

The answer is "echo <last user message>" split into words; each request is recorded.
"""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Recorded:
    model: str
    body: dict[str, Any]
    authorization: str
    started: float


@dataclass
class ChatUpstream:
    url: str
    scripts: dict[str, list[str]] = field(default_factory=dict)
    requests: list[Recorded] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def script(self, model: str, *steps: str) -> None:
        with self.lock:
            self.scripts[model] = list(steps)

    def next_step(self, model: str) -> str:
        with self.lock:
            steps = self.scripts.get(model) or ["ok"]
            return steps.pop(0) if len(steps) > 1 else steps[0]

    def calls(self, model: str) -> int:
        return sum(1 for r in self.requests if r.model == model)


def answer_words(body: dict[str, Any]) -> list[str]:
    last_user = next((m["content"] for m in reversed(body["messages"]) if m["role"] == "user"), "")
    return ["echo"] + [f" {word}" for word in str(last_user).split()]


def usage(words: list[str]) -> dict[str, int]:
    return {"prompt_tokens": 11, "completion_tokens": len(words), "total_tokens": 11 + len(words)}


@contextmanager
def chat_upstream() -> Iterator[ChatUpstream]:
    upstream = ChatUpstream(url="")

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self) -> None:  # noqa: N802 - http.server's naming
            models = [{"id": m, "object": "model", "owned_by": "test"} for m in upstream.scripts]
            self._json(200, {"object": "list", "data": models})

        def do_POST(self) -> None:  # noqa: N802
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            model = body.get("model", "")
            upstream.requests.append(Recorded(model, body, self.headers.get("Authorization", ""), time.monotonic()))
            step = upstream.next_step(model)
            kind, _, rest = step.partition(":")
            args = rest.split(":") if rest else []
            if kind == "slow":
                time.sleep(float(args[0]))
                kind = "ok"
            if kind == "status":
                status = int(args[0])
                headers = {"Retry-After": args[1]} if len(args) > 1 else {}
                error = {"message": f"upstream says {status}", "type": "server_error", "code": None}
                return self._json(status, {"error": error}, headers)
            words = answer_words(body)
            if kind == "say":
                words, kind = re.findall(r"\S+\s*", rest), "ok"
            if not body.get("stream"):
                return self._json(200, self._completion(model, words, with_usage=kind != "ok-no-usage"))
            self._stream(model, body, words, kind, args)

        def _completion(self, model: str, words: list[str], *, with_usage: bool) -> dict[str, Any]:
            message = {"role": "assistant", "content": "".join(words)}
            result: dict[str, Any] = {
                "id": "chatcmpl-test",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            }
            if with_usage:
                result["usage"] = {
                    "prompt_tokens": 11,
                    "completion_tokens": len(words),
                    "total_tokens": 11 + len(words),
                }
            return result

        def _stream(self, model: str, body: dict[str, Any], words: list[str], kind: str, args: list[str]) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            limit = int(args[0]) if kind in ("cut", "end", "stall", "malformed", "error-event") else len(words)
            for word in words[:limit]:
                self._event(self._chunk(model, {"content": word}, None))
            if kind == "cut":
                self.connection.shutdown(socket.SHUT_RDWR)  # mid-body: no terminating chunk
                return
            if kind == "stall":
                time.sleep(float(args[1]))
                return self._finish()
            if kind == "malformed":
                self._raw(b"data: {this is not json\n\n")
                return self._finish()
            if kind == "error-event":
                self._event({"error": {"message": "model overloaded", "type": "server_error"}})
                return self._finish()
            if kind == "end":
                return self._finish()
            self._event(self._chunk(model, {}, "stop"))
            include_usage = (body.get("stream_options") or {}).get("include_usage")
            if include_usage and kind != "ok-no-usage":
                self._event({**self._chunk(model, {}, None), "choices": [], "usage": usage(words)})
            self._raw(b"data: [DONE]\n\n")
            self._finish()

        def _chunk(self, model: str, delta: dict[str, Any], finish: str | None) -> dict[str, Any]:
            return {
                "id": "chatcmpl-test",
                "object": "chat.completion.chunk",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "delta": delta, "finish_reason": finish}],
            }

        def _event(self, payload: dict[str, Any]) -> None:
            self._raw(b"data: " + json.dumps(payload).encode() + b"\n\n")

        def _raw(self, data: bytes) -> None:
            try:
                self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
                self.wfile.flush()
            except OSError:
                pass  # the client went away (a timeout on its side): nothing to do

        def _finish(self) -> None:
            try:
                self.wfile.write(b"0\r\n\r\n")
                self.wfile.flush()
            except OSError:
                pass

        def _json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
            raw = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(raw)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            try:
                self.wfile.write(raw)
            except OSError:
                pass

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    upstream.url = f"http://127.0.0.1:{server.server_address[1]}/v1"
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield upstream
    finally:
        server.shutdown()
        server.server_close()
