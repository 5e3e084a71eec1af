"""The OpenAI-protocol adapter's own parts: server-sent events as chat servers send them, and the
proxy the environment names (decided once per provider, NO_PROXY respected)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from shipyard.llm.adapters.openai import OpenAIChatProvider, _server_sent_events
from shipyard.llm.config import Upstream


async def _lines(*lines: bytes) -> AsyncIterator[bytes]:
    for line in lines:
        yield line


def _events(*lines: bytes) -> list[tuple[str | None, str]]:
    async def collect() -> list[tuple[str | None, str]]:
        return [event async for event in _server_sent_events(_lines(*lines))]

    return asyncio.run(collect())


def test_events_join_data_lines_skip_comments_and_accept_crlf() -> None:
    assert _events(
        b": keep-alive\n",
        b'data: {"a":\r\n',
        b"data: 1}\r\n",
        b"\r\n",
        b"event: error\n",
        b'data:{"error": {"message": "boom"}}\n',
        b"\n",
        b"data: [DONE]",  # no blank line before the body ends: still an event
    ) == [(None, '{"a":\n1}'), ("error", '{"error": {"message": "boom"}}'), (None, "[DONE]")]


def test_a_line_that_is_not_utf8_is_a_protocol_error() -> None:
    with pytest.raises(ValueError):
        _events(b"data: \xff\xfe\n", b"\n")


def _provider(base_url: str) -> OpenAIChatProvider:
    return OpenAIChatProvider(Upstream(name="p", base_url=base_url, api_key=None))


def test_the_environment_proxy_applies_unless_no_proxy_covers_the_host(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.internal:3128")
    monkeypatch.setenv("NO_PROXY", "localhost,127.0.0.1")
    assert _provider("https://api.example.com/v1")._proxy == "http://proxy.internal:3128"
    assert _provider("https://127.0.0.1:8000/v1")._proxy is None
    assert _provider("http://api.example.com/v1")._proxy is None  # no HTTP_PROXY set
