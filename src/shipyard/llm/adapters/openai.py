"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server, TGI, Azure) over aiohttp:
one connection pool per provider and event loop, no retries of its own (the gateway decides), and
every transport or protocol failure translated into an `UpstreamError` here.

Why not the official `openai` client, which this adapter used until 2026-12: with its untyped
`post` and its aiohttp transport it still spent ~25% of the gateway's CPU per call building the
request (URL parsing, header merging, option models, an idempotency key) — the largest single
cost of a proxied call (profile and before/after in docs/benchmarks.md). The protocol used here
is one JSON POST and a server-sent-event stream; aiohttp's C HTTP parser does the HTTP. The real
`openai` client stays what the tests and benchmarks call shipyard with.
"""

from __future__ import annotations

import asyncio
import email.utils
import json
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import aiohttp
from aiohttp.helpers import get_env_proxy_for_url
from yarl import URL

from shipyard.llm.config import Upstream
from shipyard.llm.errors import (
    UpstreamAuthFailed,
    UpstreamError,
    UpstreamMalformed,
    UpstreamMisconfigured,
    UpstreamRateLimited,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shipyard.llm.types import ChatRequest, ChatResult, StreamDelta, StreamEnd, StreamEvent, Usage

CONNECT_TIMEOUT = 5.0  # a healthy server accepts a connection at once; fail over instead of waiting
MAX_UPSTREAM_MESSAGE = 300  # upstream error text is passed on, trimmed
MAX_ERROR_BODY = 64 * 1024  # bytes of an error response read to find its message
MAX_CONNECTIONS = 100  # per provider and event loop, as the openai client's default pool
# Longest SSE line read (aiohttp's default is 64 KiB; a long answer's single chunk may exceed it).
MAX_LINE = 1024 * 1024


class OpenAIChatProvider:
    def __init__(self, upstream: Upstream) -> None:
        self.name = upstream.name
        self._url = upstream.base_url.rstrip("/") + "/chat/completions"
        self._headers = {"Content-Type": "application/json", "Accept": "application/json"}
        if upstream.api_key:
            self._headers["Authorization"] = f"Bearer {upstream.api_key}"
        # HTTPS_PROXY / NO_PROXY apply as they did with the openai client, decided once: aiohttp's
        # trust_env would re-read the environment and ~/.netrc in a thread on every request.
        self._proxy, self._proxy_auth = _env_proxy(self._url)
        self._session: aiohttp.ClientSession | None = None
        self._loop: asyncio.AbstractEventLoop | None = None

    async def complete(self, model: str, request: ChatRequest, *, timeout: float) -> ChatResult:
        with self._translated():
            limits = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=timeout)
            async with self._pool().post(self._url, data=self._body(model, request), timeout=limits) as response:
                if response.status >= 400:
                    raise await _status_error(self.name, response)
                body = json.loads(await response.read())
            choice = body["choices"][0]
            return ChatResult(
                text=choice["message"].get("content") or "",
                finish_reason=choice.get("finish_reason") or "stop",
                usage=_usage(body.get("usage")),
                model=body.get("model") or model,
            )

    async def stream(
        self, model: str, request: ChatRequest, *, timeout: float, stall: float
    ) -> AsyncGenerator[StreamEvent, None]:
        finish_reason: str | None = None
        usage: Any = None
        answered_by = model
        with self._translated():
            # The read timeout is the stall limit, applied to every read, the first included;
            # the gateway bounds the wait for the first token by `timeout` on its side.
            limits = aiohttp.ClientTimeout(sock_connect=CONNECT_TIMEOUT, sock_read=stall)
            data = self._body(model, request, stream=True)
            async with self._pool().post(self._url, data=data, timeout=limits) as response:
                if response.status >= 400:
                    raise await _status_error(self.name, response)
                async for event, payload in _server_sent_events(response.content):
                    if payload.startswith("[DONE]"):
                        break
                    chunk = json.loads(payload)
                    if event == "error" or chunk.get("error"):
                        raise UpstreamMalformed(f"provider {self.name!r} reported an error", provider=self.name)
                    answered_by = chunk.get("model") or answered_by
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield StreamDelta(text)
                        finish_reason = choice.get("finish_reason") or finish_reason
        if finish_reason is None:
            # A connection closed cleanly mid-answer looks like a normal end to an SSE reader.
            raise UpstreamMalformed(
                f"provider {self.name!r} ended the stream before the model finished", provider=self.name
            )
        yield StreamEnd(finish_reason=finish_reason, usage=_usage(usage), model=answered_by)

    async def aclose(self) -> None:
        session, self._session, self._loop = self._session, None, None
        if session is not None:
            await session.close()

    def _pool(self) -> aiohttp.ClientSession:
        """This event loop's connection pool (a CLI command runs its own loop; the server one)."""
        loop = asyncio.get_running_loop()
        if self._session is None or self._session.closed or self._loop is not loop:
            connector = aiohttp.TCPConnector(limit=MAX_CONNECTIONS)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers=self._headers,
                read_bufsize=MAX_LINE,
                proxy=self._proxy,
                proxy_auth=self._proxy_auth,
            )
            self._loop = loop
        return self._session

    def _body(self, model: str, request: ChatRequest, *, stream: bool = False) -> bytes:
        body: dict[str, Any] = {**request.extra}  # passed through; ours below win
        body["model"] = model
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.stop:
            body["stop"] = list(request.stop)
        if stream:
            body["stream"] = True
            body["stream_options"] = {"include_usage": True}
        return json.dumps(body).encode()

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Transport and protocol failures in, `UpstreamError`s out (domain code sees no aiohttp type)."""
        try:
            yield
        except UpstreamError:
            raise
        except (TimeoutError, aiohttp.ServerTimeoutError):
            raise UpstreamTimeout(f"provider {self.name!r} did not answer in time", provider=self.name) from None
        except aiohttp.ClientError as exc:
            # Refused, reset, closed mid-body: the name of the failure, never the address.
            cause = type(exc).__name__
            raise UpstreamUnavailable(f"cannot reach provider {self.name!r} ({cause})", provider=self.name) from None
        except (ValueError, KeyError, IndexError, TypeError, AttributeError):
            # A body or SSE event that is not the protocol (bad JSON or UTF-8, missing fields).
            raise UpstreamMalformed(f"provider {self.name!r} sent a malformed response", provider=self.name) from None


def _env_proxy(url: str) -> tuple[str | None, aiohttp.BasicAuth | None]:
    """The proxy the environment names for `url` (none when NO_PROXY covers its host)."""
    try:
        proxy, auth = get_env_proxy_for_url(URL(url))
    except LookupError:
        return None, None
    return str(proxy), auth


async def _server_sent_events(lines: AsyncIterable[bytes]) -> AsyncIterator[tuple[str | None, str]]:
    """(event name, data) of each event in a text/event-stream (the WHATWG rules a chat stream uses:
    `data:` lines joined by newlines, `event:` names it, `:` starts a comment, a blank line ends it)."""
    event: str | None = None
    data: list[str] = []
    async for raw in lines:
        line = raw.decode("utf-8").rstrip("\r\n")
        if not line:
            if data:
                yield event, "\n".join(data)
            event, data = None, []
            continue
        if line.startswith(":"):
            continue
        field, _, value = line.partition(":")
        value = value.removeprefix(" ")
        if field == "data":
            data.append(value)
        elif field == "event":
            event = value
    if data:
        yield event, "\n".join(data)


async def _status_error(provider: str, response: aiohttp.ClientResponse) -> UpstreamError:
    status = response.status
    message = _upstream_message(await response.content.read(MAX_ERROR_BODY), response.reason)
    if status in (401, 403):
        return UpstreamAuthFailed(f"provider {provider!r} refused the API key (HTTP {status})", provider=provider)
    if status == 404:
        return UpstreamMisconfigured(f"provider {provider!r}: {message} (HTTP 404)", provider=provider)
    if status == 429:
        return UpstreamRateLimited(
            f"provider {provider!r} is rate limiting (HTTP 429)",
            provider=provider,
            retry_after=retry_after_seconds(response.headers),
        )
    if status == 408:
        return UpstreamTimeout(f"provider {provider!r} timed out (HTTP 408)", provider=provider)
    if status >= 500:
        return UpstreamUnavailable(f"provider {provider!r} failed (HTTP {status}): {message}", provider=provider)
    return UpstreamRejected(f"provider {provider!r} rejected the request (HTTP {status}): {message}", provider=provider)


def _upstream_message(content: bytes, reason: str | None) -> str:
    """The error's message from an OpenAI error body (`{"error": {"message": …}}`), else its text."""
    text = content.decode("utf-8", errors="replace")
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        error = body.get("error", body)
        found = error.get("message") if isinstance(error, dict) else error
        if isinstance(found, str) and found:
            return found[:MAX_UPSTREAM_MESSAGE]
    return (text.strip() or reason or "no message")[:MAX_UPSTREAM_MESSAGE]


def retry_after_seconds(headers: Mapping[str, str]) -> float | None:
    """`Retry-After` (seconds or an HTTP date) or OpenAI's `retry-after-ms`, in seconds."""
    if value := headers.get("retry-after-ms"):
        try:
            return max(0.0, float(value) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        try:
            return max(0.0, email.utils.parsedate_to_datetime(value).timestamp() - time.time())
        except (TypeError, ValueError):
            return None


def _usage(usage: Any) -> Usage:
    if not isinstance(usage, dict):
        return Usage(estimated=True)
    return Usage(
        input_tokens=int(usage.get("prompt_tokens") or 0), output_tokens=int(usage.get("completion_tokens") or 0)
    )


__all__ = ["OpenAIChatProvider", "retry_after_seconds"]
