"""Any OpenAI-compatible server (OpenAI, vLLM, Ollama, llama.cpp server, TGI, Azure) through the
official `openai` client: one pooled client per provider, no retries of its own (the gateway
decides), and every vendor exception translated into an `UpstreamError` here."""

from __future__ import annotations

import email.utils
import time
from collections.abc import AsyncGenerator, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import openai

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


class OpenAIChatProvider:
    def __init__(self, upstream: Upstream) -> None:
        self.name = upstream.name
        self._client = openai.AsyncOpenAI(
            base_url=upstream.base_url,
            # Local servers often need no key; the client insists on a non-empty string.
            api_key=upstream.api_key or "not-needed",
            max_retries=0,
            timeout=openai.Timeout(60.0, connect=CONNECT_TIMEOUT),
            # aiohttp's C HTTP parser instead of h11 (pure Python): measured in bench/gateway_overhead.py.
            http_client=openai.DefaultAioHttpClient(timeout=openai.Timeout(60.0, connect=CONNECT_TIMEOUT)),
        )

    async def complete(self, model: str, request: ChatRequest, *, timeout: float) -> ChatResult:
        with self._translated():
            # The client's untyped `post`: same auth, transport and errors as `chat.completions.create`,
            # without its per-call parameter transform and response models (~70% of its CPU time,
            # bench/gateway_overhead.py); the answer is read from the JSON here.
            body: Any = await self._client.post(
                "/chat/completions",
                body=self._body(model, request),
                cast_to=object,
                options={"timeout": openai.Timeout(timeout, connect=CONNECT_TIMEOUT)},
            )
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
            # The read timeout is the stall limit: httpx applies it to every read, the first included;
            # the gateway bounds the wait for the first token by `timeout` on its side.
            body = {**self._body(model, request), "stream": True, "stream_options": {"include_usage": True}}
            stream: Any = await self._client.post(
                "/chat/completions",
                body=body,
                cast_to=object,
                stream=True,
                stream_cls=openai.AsyncStream[object],
                options={"timeout": openai.Timeout(max(timeout, stall), connect=CONNECT_TIMEOUT, read=stall)},
            )
            try:
                async for chunk in stream:
                    answered_by = chunk.get("model") or answered_by
                    usage = chunk.get("usage") or usage
                    for choice in chunk.get("choices") or []:
                        text = (choice.get("delta") or {}).get("content")
                        if text:
                            yield StreamDelta(text)
                        finish_reason = choice.get("finish_reason") or finish_reason
            finally:
                await stream.close()
        if finish_reason is None:
            # A connection closed cleanly mid-answer looks like a normal end to an SSE reader.
            raise UpstreamMalformed(
                f"provider {self.name!r} ended the stream before the model finished", provider=self.name
            )
        yield StreamEnd(finish_reason=finish_reason, usage=_usage(usage), model=answered_by)

    async def aclose(self) -> None:
        await self._client.close()

    def _body(self, model: str, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {**request.extra}  # passed through; ours below win
        body["model"] = model
        body["messages"] = [{"role": m.role, "content": m.content} for m in request.messages]
        for name in ("temperature", "top_p", "max_tokens", "seed"):
            value = getattr(request, name)
            if value is not None:
                body[name] = value
        if request.stop:
            body["stop"] = list(request.stop)
        return body

    @contextmanager
    def _translated(self) -> Iterator[None]:
        """Vendor exceptions in, `UpstreamError`s out (rule: domain code imports no vendor exception)."""
        try:
            yield
        except UpstreamError:
            raise
        except openai.APITimeoutError:
            raise UpstreamTimeout(f"provider {self.name!r} did not answer in time", provider=self.name) from None
        except openai.APIStatusError as exc:
            raise _status_error(self.name, exc) from None
        except openai.APIConnectionError as exc:
            cause = type(exc.__cause__).__name__ if exc.__cause__ else "connection error"
            raise UpstreamUnavailable(f"cannot reach provider {self.name!r} ({cause})", provider=self.name) from None
        except (openai.APIError, ValueError, KeyError, IndexError, TypeError, AttributeError) as exc:
            # APIError without a status: an error event inside the stream; the others: a body or
            # SSE event that is not the protocol (bad JSON, missing fields).
            kind = "reported an error" if isinstance(exc, openai.APIError) else "sent a malformed response"
            raise UpstreamMalformed(f"provider {self.name!r} {kind}", provider=self.name) from None


def _status_error(provider: str, exc: openai.APIStatusError) -> UpstreamError:
    status = exc.status_code
    message = _upstream_message(exc)
    if status in (401, 403):
        return UpstreamAuthFailed(f"provider {provider!r} refused the API key (HTTP {status})", provider=provider)
    if status == 404:
        return UpstreamMisconfigured(f"provider {provider!r}: {message} (HTTP 404)", provider=provider)
    if status == 429:
        return UpstreamRateLimited(
            f"provider {provider!r} is rate limiting (HTTP 429)",
            provider=provider,
            retry_after=retry_after_seconds(exc.response.headers),
        )
    if status == 408:
        return UpstreamTimeout(f"provider {provider!r} timed out (HTTP 408)", provider=provider)
    if status >= 500:
        return UpstreamUnavailable(f"provider {provider!r} failed (HTTP {status}): {message}", provider=provider)
    return UpstreamRejected(f"provider {provider!r} rejected the request (HTTP {status}): {message}", provider=provider)


def _upstream_message(exc: openai.APIStatusError) -> str:
    body = exc.body
    if isinstance(body, dict):
        error = body.get("error", body)
        text = error.get("message") if isinstance(error, dict) else error
        if isinstance(text, str) and text:
            return text[:MAX_UPSTREAM_MESSAGE]
    return (exc.response.text or exc.response.reason_phrase or "no message")[:MAX_UPSTREAM_MESSAGE]


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
