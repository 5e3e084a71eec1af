"""Per-project budgets (429 when spent) and the response cache (in-process and Redis)."""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from shipyard.ids import DEFAULT_PROJECT_ID, ProjectId
from shipyard.llm import ChatRequest, Message
from shipyard.platform import Platform, build_platform
from shipyard.store import upgrade
from tests.chat_upstream import ChatUpstream, chat_upstream
from tests.conftest import LiveServer, make_settings, serve


@pytest.fixture
def upstream() -> Iterator[ChatUpstream]:
    with chat_upstream() as server:
        yield server


def llm_settings(tmp_path: Path, database_url: str, upstream: ChatUpstream, **overrides: Any) -> Any:
    config = {"providers": {"local": {"base_url": upstream.url, "models": {"m1": {"input_per_million": 1000.0}}}},
              "routes": {"chat": ["local/m1"]}}  # fmt: skip
    path = tmp_path / "llm.yaml"
    path.write_text(yaml.safe_dump(config))
    return make_settings(tmp_path, database_url, llm_config=path, llm_max_retries=0, **overrides)


@pytest.fixture
def live(tmp_path: Path, database_url: str, upstream: ChatUpstream) -> Iterator[LiveServer]:
    services = build_platform(llm_settings(tmp_path, database_url, upstream))
    upgrade(services.database)
    with serve(services) as server:
        yield server


def chat(live: LiveServer, headers: dict[str, str], text: str = "hello there", **extra: Any) -> Any:
    body = {"model": "chat", "messages": [{"role": "user", "content": text}], **extra}
    return live.client.post("/v1/chat/completions", json=body, headers=headers)


def test_a_spent_budget_answers_429_until_the_period_resets(live: LiveServer, upstream: ChatUpstream) -> None:
    admin, viewer = live.key("admin"), live.key("viewer")
    assert chat(live, viewer).status_code == 200  # 11 + 3 tokens before any budget exists
    assert (
        live.client.put("/v1/projects/default/budgets/day", json={"max_tokens": 28}, headers=viewer).status_code == 403
    )
    budget = live.client.put("/v1/projects/default/budgets/day", json={"max_tokens": 28}, headers=admin).json()
    assert budget["used_tokens"] == 14  # the day's usage so far, from the traces
    assert chat(live, viewer).status_code == 200  # 28 used
    refused = chat(live, viewer)
    assert refused.status_code == 429 and refused.json()["error"]["code"] == "budget_exceeded"
    assert "28 of 28 tokens used" in refused.json()["error"]["message"]
    assert 0 < int(refused.headers["Retry-After"]) <= 86_400
    asked = live.client.post("/v1/ask", json={"collection": "x", "question": "q"}, headers=viewer)
    assert asked.status_code == 404  # (no such collection: budgets only stop LLM calls)
    assert upstream.calls("m1") == 2
    (listed,) = live.client.get("/v1/budgets", headers=viewer).json()
    assert listed["period"] == "day" and listed["used_tokens"] == 28 and listed["max_tokens"] == 28

    live.services.access.create_project("other")
    assert chat(live, live.key("viewer", project="other")).status_code == 200  # other projects are not affected
    assert live.client.delete("/v1/projects/default/budgets/day", headers=admin).status_code == 204
    assert chat(live, viewer).status_code == 200
    money = live.client.put("/v1/projects/default/budgets/month", json={"max_cost": 0.01}, headers=admin).json()
    assert money["used_cost"] == pytest.approx(3 * 11 * 1000 / 1e6)  # three answered calls at 1000 per 1M
    assert chat(live, viewer).status_code == 429


def test_identical_deterministic_requests_are_answered_from_the_cache(live: LiveServer, upstream: ChatUpstream) -> None:
    viewer = live.key("viewer")
    first = chat(live, viewer, temperature=0).json()
    second = chat(live, viewer, temperature=0).json()
    assert second["choices"][0]["message"]["content"] == first["choices"][0]["message"]["content"]
    assert upstream.calls("m1") == 1 and second["usage"] == first["usage"]
    trace = live.client.get(f"/v1/traces/{second['shipyard']['trace_id']}", headers=viewer).json()
    assert trace["cache_hit"] and trace["cost"] == 0
    assert not live.client.get(f"/v1/traces/{first['shipyard']['trace_id']}", headers=viewer).json()["cache_hit"]

    chat(live, viewer, temperature=0.7)
    chat(live, viewer, text="something else", temperature=0)
    assert upstream.calls("m1") == 3  # not deterministic / not identical: both went upstream
    live.services.access.create_project("other")
    chat(live, live.key("viewer", project="other"), temperature=0)
    assert upstream.calls("m1") == 4  # never shared across projects

    body = {"model": "chat", "messages": [{"role": "user", "content": "hello there"}], "temperature": 0, "stream": True}
    with live.client.stream("POST", "/v1/chat/completions", json=body, headers=viewer) as response:
        raw = "".join(response.iter_text())
    assert '"content":"echo hello there"' in raw and "[DONE]" in raw and upstream.calls("m1") == 4


@pytest.mark.redis
def test_replicas_share_the_cache_through_redis(tmp_path: Path, upstream: ChatUpstream) -> None:
    prefix = f"test-{secrets.token_hex(4)}"
    settings = llm_settings(tmp_path, f"sqlite:///{tmp_path / 's.db'}", upstream, redis_url="redis://127.0.0.1:6379/0",
                            redis_key_prefix=prefix)  # fmt: skip
    replicas = [build_platform(settings), build_platform(settings)]
    upgrade(replicas[0].database)
    request = ChatRequest(model="chat", messages=(Message("user", "shared question"),), temperature=0.0)

    async def ask(services: Platform) -> Any:
        try:
            return await services.metered.complete(ProjectId(DEFAULT_PROJECT_ID), request)
        finally:
            await services.aclose()

    first = asyncio.run(ask(replicas[0]))
    second = asyncio.run(ask(replicas[1]))
    assert not first.cache_hit and second.cache_hit and second.result.text == first.result.text
    assert upstream.calls("m1") == 1
    for services in replicas:
        services.close()
