"""A DirectRoute (api/direct.py) parses its own body: it must refuse a bad one exactly as an
ordinary FastAPI body parameter does, so the chat route's errors did not change when it became one."""

from __future__ import annotations

import pytest

from tests.conftest import LiveServer

BAD_BODIES = {
    "malformed": (b'{"model":', "application/json"),
    "empty": (b"", "application/json"),
    "a list": (b"[1]", "application/json"),
    "text/plain": (b'{"model": "m", "messages": []}', "text/plain"),
    "no content type": (b'{"model": "m", "messages": []}', None),
    "not UTF-8": (b'{"model": "\xff", "messages": []}', "application/json"),
    "a 5,000-digit number": (b'{"model": "m", "max_tokens": ' + b"9" * 5000 + b"}", "application/json"),
}


@pytest.mark.parametrize("case", BAD_BODIES)
def test_the_chat_route_refuses_a_bad_body_as_fastapi_does(live: LiveServer, case: str) -> None:
    content, content_type = BAD_BODIES[case]
    headers = {**live.key(), **({"Content-Type": content_type} if content_type else {})}
    direct = live.client.post("/v1/chat/completions", content=content, headers=headers)
    ordinary = live.client.post("/v1/embeddings", content=content, headers=headers)  # a FastAPI body parameter
    assert direct.status_code == ordinary.status_code and direct.status_code in (400, 422), direct.text
    assert direct.json()["error"]["code"] == ordinary.json()["error"]["code"]
    assert direct.json()["error"]["message"] == ordinary.json()["error"]["message"]
