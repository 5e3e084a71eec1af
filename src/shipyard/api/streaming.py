"""Server-sent events without a task group per response.

Starlette's `StreamingResponse` watches for the client leaving with an anyio task group on
servers that speak ASGI 2.3 (uvicorn does): measured at ~280 µs of CPU per streamed call on the
gateway path, a fifth of its cost (bench/gateway_overhead.py, docs/benchmarks.md). `EventStream`
watches with one plain asyncio task instead, and still stops the stream, and with it the
upstream call, as soon as the client is gone: uvicorn drops what is sent to a closed connection
without an error, so without a watcher an abandoned stream would run (and be paid for) to its end.
"""

from __future__ import annotations

import asyncio

from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send


class EventStream(StreamingResponse):
    """A `text/event-stream` response that ends when the client disconnects."""

    def __init__(self, content: object) -> None:
        super().__init__(content, media_type="text/event-stream", headers={"Cache-Control": "no-cache"})  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        streaming = asyncio.current_task()
        assert streaming is not None
        state = {"done": False, "left": False}

        async def watch() -> None:
            while (await receive())["type"] != "http.disconnect":
                pass  # the rest of a request body nobody reads
            if not state["done"]:
                state["left"] = True
                streaming.cancel()

        watcher = asyncio.create_task(watch())
        try:
            await self.stream_response(send)
        except asyncio.CancelledError:
            if not state["left"]:
                raise  # cancelled from outside: not ours to swallow
            streaming.uncancel()  # the client left: the stream (its generators' finally) is closed
        finally:
            state["done"] = True
            watcher.cancel()
