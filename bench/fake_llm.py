"""A fast OpenAI-compatible upstream for bench/gateway_overhead.py: a raw ASGI app that answers
every chat completion at once with a fixed answer (JSON, or SSE in 8 chunks), so whatever latency
a client sees beyond this server's is the gateway's.

    uvicorn --app-dir bench fake_llm:app --port 9000
"""

from __future__ import annotations

import json
from typing import Any

ANSWER = ["The", " quick", " brown", " fox", " jumps", " over", " the", " dog."]
USAGE = {"prompt_tokens": 12, "completion_tokens": len(ANSWER), "total_tokens": 12 + len(ANSWER)}
COMPLETION = json.dumps({
    "id": "chatcmpl-fake", "object": "chat.completion", "created": 1, "model": "fast",
    "choices": [{"index": 0, "message": {"role": "assistant", "content": "".join(ANSWER)}, "finish_reason": "stop"}],
    "usage": USAGE,
}).encode()  # fmt: skip


def _chunk(delta: dict[str, str], finish: str | None, **extra: Any) -> bytes:
    body = {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": 1, "model": "fast",
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}  # fmt: skip
    return b"data: " + json.dumps(body).encode() + b"\n\n"


STREAM = (
    b"".join(_chunk({"content": word}, None) for word in ANSWER)
    + _chunk({}, "stop")
    + b'data: {"id":"chatcmpl-fake","object":"chat.completion.chunk","created":1,"model":"fast","choices":[],'
    + b'"usage":'
    + json.dumps(USAGE).encode()
    + b"}\n\ndata: [DONE]\n\n"
)


async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
    if scope["type"] != "http":
        return
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    stream = b'"stream":true' in body.replace(b" ", b"")
    payload, kind = (STREAM, b"text/event-stream") if stream else (COMPLETION, b"application/json")
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", kind), (b"content-length", str(len(payload)).encode())]})  # fmt: skip
    await send({"type": "http.response.body", "body": payload})
