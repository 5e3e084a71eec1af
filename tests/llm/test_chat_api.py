"""The OpenAI-compatible API driven by the official `openai` client, with a real upstream server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import numpy as np
import openai
import pytest
import yaml

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.platform import build_platform
from shipyard.store import upgrade
from tests.chat_upstream import ChatUpstream, chat_upstream
from tests.conftest import LiveServer, make_settings, serve, wait_until


@pytest.fixture
def upstream() -> Iterator[ChatUpstream]:
    with chat_upstream() as server:
        yield server


@pytest.fixture
def live(tmp_path: Path, upstream: ChatUpstream) -> Iterator[LiveServer]:
    models = {"m1": {"input_per_million": 1.0, "output_per_million": 2.0}, "m2": {}}
    config = {
        "providers": {
            "a": {"base_url": upstream.url, "api_key": "sk-upstream-secret", "models": models},
            "b": {"base_url": upstream.url, "models": models},
        },
        "routes": {"chat": ["a/m1", "b/m2"], "solo": ["a/m1"]},
    }
    path = tmp_path / "llm.yaml"
    path.write_text(yaml.safe_dump(config))
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 'shipyard.db'}",
        llm_config=path,
        llm_timeout_seconds=2.0,
        llm_stall_seconds=0.5,
        llm_max_retries=0,
    )
    services = build_platform(settings)
    upgrade(services.database)
    with serve(services) as server:
        yield server


def client(live: LiveServer) -> openai.OpenAI:
    key = live.key("viewer")["Authorization"].removeprefix("Bearer ")
    return openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0, timeout=10)


def user(text: str) -> list[Any]:
    return [{"role": "system", "content": "be brief"}, {"role": "user", "content": text}]


def test_a_completion_through_the_openai_client(live: LiveServer, upstream: ChatUpstream) -> None:
    with client(live) as sdk:
        completion = sdk.chat.completions.create(model="chat", messages=user("hello world"), temperature=0)
    assert completion.choices[0].message.content == "echo hello world"
    assert completion.choices[0].finish_reason == "stop"
    assert completion.usage is not None and completion.usage.prompt_tokens == 11
    assert completion.usage.completion_tokens == 3 and completion.usage.total_tokens == 14
    extra = completion.model_extra["shipyard"]  # type: ignore[index]
    assert extra["provider_model"] == "a/m1" and extra["cost"] == pytest.approx((11 * 1.0 + 3 * 2.0) / 1e6)
    sent = upstream.requests[0]
    assert sent.model == "m1" and sent.body["messages"][0] == {"role": "system", "content": "be brief"}
    assert sent.authorization == "Bearer sk-upstream-secret"


def test_a_stream_through_the_openai_client(live: LiveServer) -> None:
    with client(live) as sdk:
        stream = sdk.chat.completions.create(
            model="chat", messages=user("one two three"), stream=True, stream_options={"include_usage": True}
        )
        chunks = list(stream)
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == "echo one two three"
    finishes = [c.choices[0].finish_reason for c in chunks if c.choices and c.choices[0].finish_reason]
    assert finishes == ["stop"]
    assert chunks[-1].choices == [] and chunks[-1].usage is not None and chunks[-1].usage.completion_tokens == 4


def test_a_stream_falls_back_before_its_first_token(live: LiveServer, upstream: ChatUpstream) -> None:
    upstream.script("m1", "cut:0")
    with client(live) as sdk:
        chunks = list(sdk.chat.completions.create(model="chat", messages=user("still here"), stream=True))
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == "echo still here"
    assert upstream.calls("m2") == 1


@pytest.mark.parametrize("failure", ["cut:2", "stall:2:5", "malformed:2", "end:2"])
def test_a_stream_cut_mid_answer_raises_in_the_client_instead_of_ending(
    live: LiveServer, upstream: ChatUpstream, failure: str
) -> None:
    upstream.script("m1", failure)
    received: list[Any] = []
    with client(live) as sdk:
        stream = sdk.chat.completions.create(model="chat", messages=user("a b c d e f"), stream=True)
        with pytest.raises(openai.APIError, match="cut off"):
            for chunk in stream:
                received.append(chunk)
    assert "".join(c.choices[0].delta.content or "" for c in received) == "echo a"
    assert received[-1].choices[0].finish_reason == "error"
    assert upstream.calls("m2") == 0


def test_a_raw_stream_cut_mid_answer_has_no_done_marker(live: LiveServer, upstream: ChatUpstream) -> None:
    upstream.script("m1", "cut:2")
    body = {"model": "chat", "messages": user("a b c"), "stream": True}
    with live.client.stream("POST", "/v1/chat/completions", json=body, headers=live.key("viewer")) as response:
        assert response.status_code == 200
        raw = "".join(response.iter_text())
    assert '"finish_reason":"error"' in raw and "stream_interrupted" in raw and "[DONE]" not in raw


def test_upstream_failures_become_clear_errors_without_the_key(live: LiveServer, upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:401")
    with client(live) as sdk, pytest.raises(openai.APIStatusError) as caught:
        sdk.chat.completions.create(model="solo", messages=user("hi"))
    assert caught.value.status_code == 502
    assert caught.value.body["code"] == "upstream_auth_failed"  # type: ignore[index]
    assert "provider 'a'" in caught.value.message and "sk-upstream" not in caught.value.response.text


def test_a_rate_limited_upstream_passes_on_retry_after(live: LiveServer, upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:429:30")
    response = live.client.post(
        "/v1/chat/completions", json={"model": "solo", "messages": user("hi")}, headers=live.key("viewer")
    )
    assert response.status_code == 429 and response.json()["error"]["code"] == "upstream_rate_limited"
    assert response.headers["Retry-After"] == "30"


def test_a_stream_that_never_starts_is_an_http_error_not_a_200(live: LiveServer, upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:500")
    with client(live) as sdk, pytest.raises(openai.InternalServerError) as caught:
        list(sdk.chat.completions.create(model="solo", messages=user("hi"), stream=True))
    assert caught.value.status_code == 502


def test_bad_requests(live: LiveServer) -> None:
    with client(live) as sdk:
        with pytest.raises(openai.NotFoundError, match="unknown model 'gpt-9'; models: chat, solo"):
            sdk.chat.completions.create(model="gpt-9", messages=user("hi"))
        with pytest.raises(openai.UnprocessableEntityError):
            sdk.chat.completions.create(model="chat", messages=[{"role": "wizard", "content": "hi"}])  # type: ignore[list-item]
        with pytest.raises(openai.BadRequestError, match="only text content"):
            sdk.chat.completions.create(
                model="chat",
                messages=[{"role": "user", "content": [{"type": "image_url", "image_url": {"url": "http://x"}}]}],
            )
    response = live.client.post("/v1/chat/completions", json={"model": "chat", "messages": user("hi")})
    assert response.status_code == 401


def test_models_and_embeddings(live: LiveServer) -> None:
    with client(live) as sdk:
        models = [m.id for m in sdk.models.list()]
        embedder = live.services.embedder.name
        assert models[:2] == ["chat", "solo"] and embedder in models
        result = sdk.embeddings.create(model=embedder, input=["tides and the moon", "a recipe for bread"])
        floats = sdk.embeddings.create(model=embedder, input="tides", encoding_format="float")
        with pytest.raises(openai.NotFoundError):
            sdk.embeddings.create(model="text-embedding-3-large", input="x")
    vectors = np.asarray([d.embedding for d in result.data], dtype=np.float32)
    expected = live.services.embedder.embed(["tides and the moon", "a recipe for bread"])
    np.testing.assert_allclose(vectors, expected, atol=1e-6)
    assert len(floats.data[0].embedding) == expected.shape[1] and result.usage.prompt_tokens > 0


def test_a_client_that_leaves_mid_stream_ends_the_upstream_call_at_once(
    live: LiveServer, upstream: ChatUpstream
) -> None:
    # One word, then the upstream goes quiet for 3 s: longer than the stall limit (0.5 s), so a
    # stream nobody watched would end as a stall; one that notices the client leave ends first.
    upstream.script("m1", "stall:1:3")
    body = {"model": "solo", "messages": user("hello there"), "stream": True}
    with (
        httpx.Client(base_url=live.url, timeout=10) as http,
        http.stream("POST", "/v1/chat/completions", json=body, headers=live.key("viewer")) as response,
    ):
        assert response.status_code == 200
        assert next(line for line in response.iter_lines() if line).startswith("data: ")
    # Leaving the block closed the connection with the answer unread.

    def ended() -> list[Any]:
        live.services.traces.writer.flush_now()
        return live.services.traces.find(DEFAULT_PROJECT_ID, kind="chat").items

    wait_until(lambda: len(ended()) == 1, timeout=5)
    trace = ended()[0]
    assert (trace.status, trace.error_code) == ("error", "client_disconnected"), trace
