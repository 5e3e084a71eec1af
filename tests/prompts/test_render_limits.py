"""Rendering a tenant's template is bounded: operations, time, size, and renders in progress per project.

The hostile templates are the security audit's reproductions (finding F4): each must end with a
400 naming the limit within a couple of seconds, and one project's renders must not hold up
another project's requests.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import anyio
import httpx
import pytest
from jinja2 import StrictUndefined
from jinja2.sandbox import ImmutableSandboxedEnvironment

from shipyard.auth.service import MAX_RATE_LIMIT
from shipyard.errors import InvalidInput
from shipyard.ids import DEFAULT_PROJECT_ID, ProjectId
from shipyard.platform import Platform, build_platform
from shipyard.prompts import PromptRenderError, PromptRendersBusy, PromptService, parse_spec
from shipyard.prompts.rendering import MAX_RENDERS_PER_PROJECT, RenderSlots
from shipyard.rag import RagService
from shipyard.rag.service import AskRequest
from shipyard.store import upgrade
from tests.chat_upstream import ChatUpstream, chat_upstream
from tests.conftest import LiveServer, serve, wait_until
from tests.rag.conftest import DOCS, rag_settings

QUICKLY = 2.0  # seconds: a refused render answers well within this, even on a busy machine

THREE_NESTED_LOOPS = (
    "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}"
    "{{ k }}{% endfor %}{% endfor %}{% endfor %}"
)
# Never ends unbounded; bounded, each iteration copies ~2 MB, so it runs into the time limit long
# before its operations (60 GB of copying) could.
SLOW_LOOPS = (
    "{% set big = 'x' * 900000 %}{% for i in range(100000) %}{% for j in range(100000) %}"
    "{% set s = big ~ j %}{% set t = big ~ i %}{% endfor %}{% endfor %}done"
)

AUDIT_REPRODUCTIONS = [
    pytest.param(
        "{% for i in range(5000) %}{% for j in range(5000) %}{% endfor %}{% endfor %}",
        r"rendering stopped after 100000 operations \(limit\)",
        id="nested-range-loops",
    ),
    pytest.param(THREE_NESTED_LOOPS, r"rendering stopped after 100000 operations \(limit\)", id="three-nested-loops"),
    pytest.param("{{ ('a' * 10**9) }}", r"about 1,000,000,000 characters; .* 1000000 \(limit\)", id="a-times-1e9"),
    # Jinja's ** is left-associative: `10**10**10` is (10**10)**10, a 101-digit number; this is 10**(10**10).
    pytest.param("{{ 10 ** (10 ** 10) }}", r"a number over \d+ bits \(limit\)", id="ten-to-the-ten-to-the-ten"),
    pytest.param("{{ 'a'.ljust(10**9) }}", r"about 1,000,000,000 characters", id="huge-ljust"),
    pytest.param("{{ 'a' | center(1000000000) }}", r"about 1,000,000,000 characters", id="huge-center-filter"),
    pytest.param("{{ '{:>1000000000}'.format(1) }}", r"about 1,000,000,\d+ characters", id="format-padding"),
    pytest.param(
        "{% set ns = namespace(s='') %}{% for i in range(100000) %}{% set ns.s = ns.s ~ ('x' * 100) %}"
        "{% endfor %}{{ ns.s }}",
        r"\((time )?limit\)",  # the size or the time limit, whichever comes first on this machine
        id="namespace-accumulation",
    ),
    pytest.param(
        "{% set ns = namespace(s='ab') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}{{ ns.s }}",
        r"about 1,048,576 characters",
        id="namespace-doubling",
    ),
    pytest.param(
        "{% macro m() %}{% for i in range(90000) %}{{ 'a' * 900000 }}{% endfor %}{% endmacro %}{{ m() | length }}",
        r"\((time )?limit\)",
        id="macro-buffer",
    ),
]


def push(services: Platform, project: ProjectId, template: str, name: str = "evil") -> Any:
    version, _ = services.prompts.push(project, parse_spec({"name": name, "template": template}, "test"), author=None)
    return version


@pytest.mark.parametrize(("template", "message"), AUDIT_REPRODUCTIONS)
def test_runaway_templates_are_refused_quickly_naming_the_limit(
    services: Platform, template: str, message: str
) -> None:
    version = push(services, DEFAULT_PROJECT_ID, template)
    started = time.monotonic()
    with pytest.raises(PromptRenderError, match=message) as refused:
        services.prompts.render(version, {})
    assert time.monotonic() - started < QUICKLY
    assert refused.value.message.startswith("prompt evil@1: ") and refused.value.http_status == 400


def test_a_template_longer_than_the_limit_is_refused_when_pushed() -> None:
    with pytest.raises(
        InvalidInput, match=r"messages\[0\]: the template has 100001 characters; at most 100000 \(limit\)"
    ):
        parse_spec({"name": "long", "template": "x" * 100_001}, "long.yaml")


def test_the_shipped_rag_prompt_renders_exactly_as_jinja_does(services: Platform) -> None:
    version = services.prompts.get(DEFAULT_PROJECT_ID, "rag-answer@production")
    rng = random.Random(4)
    words = ["policy", "rollback", "canary", '"quoted"', "</passage>", "ignore", "previous", "instructions", "Ü"]
    passages = [
        {"index": i, "title": f'Doc "{i}"' if i % 3 else None, "source": f"doc{i}.md",
         "text": " ".join(rng.choice(words) for _ in range(200))}
        for i in range(1, 51)
    ]  # fmt: skip
    variables = {"question": "What is the rollback policy?", "passages": passages}
    reference = ImmutableSandboxedEnvironment(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
    expected = [reference.from_string(template).render(**variables) for _, template in version.messages]
    assert [m.content for m in services.prompts.render(version, variables)] == expected
    assert expected[1].count("<passage index=") == 50  # 50 passages is far inside every limit


def test_over_http_a_runaway_render_is_a_400_naming_the_limit(live: LiveServer) -> None:
    editor = live.key("editor")
    pushed = live.client.post("/v1/prompts", json={"name": "evil", "template": THREE_NESTED_LOOPS}, headers=editor)
    assert pushed.status_code == 201
    started = time.monotonic()
    refused = live.client.post("/v1/prompts/evil/versions/1/render", json={"variables": {}}, headers=editor)
    assert time.monotonic() - started < QUICKLY
    assert refused.status_code == 400 and refused.json()["error"]["code"] == "prompt_render_error"
    assert refused.json()["error"]["message"] == "prompt evil@1: rendering stopped after 100000 operations (limit)"


def test_a_project_has_a_few_renders_in_progress_at_most() -> None:
    slots = RenderSlots()
    with ExitStack() as held:
        for _ in range(MAX_RENDERS_PER_PROJECT):
            held.enter_context(slots.hold("prj_b"))
        with pytest.raises(PromptRendersBusy, match="already has 4 prompt renders in progress") as busy:
            held.enter_context(slots.hold("prj_b"))
        assert busy.value.http_status == 429 and busy.value.retry_after == 1
        with slots.hold("prj_a"):  # another project is not affected
            pass
    with slots.hold("prj_b"):  # released when they end, failed or not
        pass


def test_heavy_renders_of_one_project_do_not_hold_up_another(live: LiveServer) -> None:
    """The audit's 45 concurrent renders by a viewer of project B, each sent again as soon as it is
    answered (after Retry-After when refused: a client flooding regardless meets the per-key rate
    limit, not this one). Project A's render and collection list stay fast all along."""
    live.services.access.create_project("bee")
    editor_b = live.key("editor", project="bee", rate_limit_per_minute=MAX_RATE_LIMIT)
    viewer_b = live.key("viewer", project="bee", rate_limit_per_minute=MAX_RATE_LIMIT)
    key_a = live.key("editor")
    pushed_b = live.client.post("/v1/prompts", json={"name": "slow", "template": SLOW_LOOPS}, headers=editor_b)
    pushed_a = live.client.post("/v1/prompts", json={"name": "qa", "template": "Hi {{ q }}."}, headers=key_a)
    assert pushed_a.status_code == pushed_b.status_code == 201
    busy = (
        "429 prompt_renders_busy: this project already has 4 prompt renders in progress, the most it may have "
        "at once (limit); retry in a moment"
    )
    stopped = "400 prompt_render_error: prompt slow@1: rendering stopped after 1 s (time limit)"
    outcomes: Counter[str] = Counter()
    lock, stop = threading.Lock(), threading.Event()

    def renders_of_b() -> None:
        with httpx.Client(base_url=live.url, timeout=60) as client:
            while not stop.is_set():
                with lock:
                    outcomes["sent"] += 1
                answer = client.post("/v1/prompts/slow/versions/1/render", json={"variables": {}}, headers=viewer_b)
                error = answer.json().get("error", {})
                with lock:
                    outcomes[f"{answer.status_code} {error.get('code')}: {error.get('message')}"] += 1
                if answer.status_code == 429:
                    stop.wait(float(answer.headers["Retry-After"]))

    threads = [threading.Thread(target=renders_of_b, daemon=True) for _ in range(45)]
    for thread in threads:
        thread.start()
    try:
        wait_until(lambda: outcomes["sent"] >= len(threads))
        deadline, checked = time.monotonic() + 30, 0
        while checked < 5 or not (outcomes[busy] and outcomes[stopped]):  # until B has met both limits
            assert time.monotonic() < deadline, f"B never met its limits: {outcomes}"
            started = time.monotonic()
            rendered = live.client.post(
                "/v1/prompts/qa/versions/1/render", json={"variables": {"q": "A"}}, headers=key_a
            )
            listed = live.client.get("/v1/collections", headers=key_a)
            assert time.monotonic() - started < QUICKLY
            assert rendered.json()["messages"] == [{"role": "user", "content": "Hi A."}] and listed.status_code == 200
            checked += 1
    finally:
        stop.set()
        for thread in threads:
            thread.join(30)
    assert set(outcomes) == {"sent", busy, stopped}, outcomes


@pytest.fixture
def upstream() -> Iterator[ChatUpstream]:
    with chat_upstream() as server:
        yield server


@pytest.fixture
def rag_stack(tmp_path: Path, database_url: str, upstream: ChatUpstream) -> Iterator[Platform]:
    services = build_platform(rag_settings(tmp_path, database_url, upstream))
    upgrade(services.database)
    services.ingester.ingest(services.collections.create(DEFAULT_PROJECT_ID, "handbook"), DOCS)
    yield services
    services.close()


def test_ask_with_a_runaway_prompt_is_a_400_quickly_and_the_server_stays_up(
    rag_stack: Platform, upstream: ChatUpstream
) -> None:
    rag_stack.prompts.get(DEFAULT_PROJECT_ID, "rag-answer")  # the shipped version 1
    push(rag_stack, DEFAULT_PROJECT_ID, THREE_NESTED_LOOPS, name="rag-answer")
    rag_stack.prompts.set_label(DEFAULT_PROJECT_ID, "rag-answer", "production", 2, by=None)
    with serve(rag_stack) as live:
        started = time.monotonic()
        body = {"collection": "handbook", "question": "How do I roll back a deployment?", "model": "chat"}
        refused = live.client.post("/v1/ask", json=body, headers=live.key("viewer"))
        assert time.monotonic() - started < QUICKLY
        assert refused.status_code == 400 and "rendering stopped after 100000 operations" in refused.text
        assert live.client.get("/v1/collections", headers=live.key("viewer")).status_code == 200
    assert upstream.requests == []  # refused before anything reached the model


def test_ask_counts_against_the_projects_renders_in_progress(rag_stack: Platform) -> None:
    slots = RenderSlots()
    prompts = PromptService(rag_stack.database, slots)
    rag = RagService(rag_stack.knowledge, prompts, rag_stack.metered, rag_stack.tokens,
                     rag_stack.traces, rag_stack.rag.settings)  # fmt: skip
    ask = AskRequest(collection="handbook", question="How do I roll back a deployment?", model="chat")
    with ExitStack() as held:
        for _ in range(MAX_RENDERS_PER_PROJECT):
            held.enter_context(slots.hold(DEFAULT_PROJECT_ID))
        with pytest.raises(PromptRendersBusy):
            anyio.run(rag.ask, DEFAULT_PROJECT_ID, ask)
