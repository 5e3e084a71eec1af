"""The gateway against a real HTTP server speaking the OpenAI protocol (tests/chat_upstream.py):
retries, Retry-After, timeouts, deadlines, fallback, circuit breaker, load balancing, and streams
that fail loudly instead of looking finished."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from typing import Any

import pytest

from shipyard.llm import (
    ChatRequest,
    Gateway,
    Message,
    RetryPolicy,
    StreamDelta,
    StreamEnd,
    StreamInterrupted,
    StreamOutcome,
    UpstreamRejected,
    UpstreamTimeout,
    UpstreamUnavailable,
    build_gateway,
)
from shipyard.llm.config import GatewayConfig, ModelSpec, ProviderConfig, ResolvedConfig, resolve
from tests.chat_upstream import ChatUpstream, chat_upstream

FAST = RetryPolicy(attempt_timeout=2.0, stall_seconds=1.0, deadline_seconds=10.0, backoff_base=0.01, max_retries=1)


@pytest.fixture
def upstream() -> Iterator[ChatUpstream]:
    with chat_upstream() as server:
        yield server


def config(
    upstream: ChatUpstream, routes: dict[str, list[str | list[str]]], prices: dict[str, ModelSpec] | None = None
) -> ResolvedConfig:
    """Providers `a` and `b` (both the test server) offering every model the routes name."""
    refs = [ref for steps in routes.values() for step in steps for ref in ([step] if isinstance(step, str) else step)]
    specs = {ref.split("/", 1)[1]: (prices or {}).get(ref.split("/", 1)[1], ModelSpec()) for ref in refs}
    providers = {name: ProviderConfig(base_url=upstream.url, api_key="sk-secret-test", models=specs) for name in "ab"}
    return resolve(GatewayConfig(providers=providers, routes=routes), environ={})


def ask(text: str = "hello there", model: str = "chat", **extra: Any) -> ChatRequest:
    return ChatRequest(model=model, messages=(Message("user", text),), **extra)


def run(gateway: Gateway, coroutine: Any) -> Any:
    async def main() -> Any:
        try:
            return await coroutine
        finally:
            await gateway.aclose()

    return asyncio.run(main())


def collect(gateway: Gateway, request: ChatRequest) -> tuple[list[str], StreamOutcome, BaseException | None]:
    outcome = StreamOutcome()
    texts: list[str] = []

    async def consume() -> BaseException | None:
        try:
            async for event in gateway.stream(request, outcome):
                if isinstance(event, StreamDelta):
                    texts.append(event.text)
                else:
                    assert isinstance(event, StreamEnd)
        except Exception as exc:  # noqa: BLE001 - the test inspects it
            return exc
        return None

    error = run(gateway, consume())
    return texts, outcome, error


def test_answers_with_provider_usage_and_cost(upstream: ChatUpstream) -> None:
    prices = {"m1": ModelSpec(input_per_million=2.0, output_per_million=10.0)}
    gateway = build_gateway(config(upstream, {"chat": ["a/m1"]}, prices), FAST)
    completion = run(gateway, gateway.complete(ask("hello there", temperature=0.0, max_tokens=20)))
    assert completion.result.text == "echo hello there"
    assert completion.usage.input_tokens == 11 and completion.usage.output_tokens == 3
    assert not completion.usage.estimated
    assert completion.cost == pytest.approx((11 * 2.0 + 3 * 10.0) / 1e6)
    assert [a.error for a in completion.attempts] == [None]
    sent = upstream.requests[0]
    assert sent.body["model"] == "m1" and sent.body["temperature"] == 0.0 and sent.body["max_tokens"] == 20
    assert sent.authorization == "Bearer sk-secret-test"


def test_counts_tokens_when_the_provider_reports_none(upstream: ChatUpstream) -> None:
    upstream.script("m1", "ok-no-usage")
    gateway = build_gateway(config(upstream, {"chat": ["a/m1"]}), FAST)
    completion = run(gateway, gateway.complete(ask("how are the tides formed")))
    assert completion.usage.estimated
    assert completion.usage.input_tokens > 5 and completion.usage.output_tokens >= 6


def test_retries_a_429_after_its_retry_after(upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:429:1", "ok")
    gateway = build_gateway(config(upstream, {"chat": ["a/m1"]}), FAST)
    completion = run(gateway, gateway.complete(ask()))
    first, second = upstream.requests
    assert second.started - first.started >= 0.95
    assert [a.error for a in completion.attempts] == ["upstream_rate_limited", None]


def test_a_retry_after_longer_than_the_deadline_moves_to_the_fallback(upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:429:60")
    gateway = build_gateway(config(upstream, {"chat": ["a/m1", "b/m2"]}), FAST)
    started = time.monotonic()
    completion = run(gateway, gateway.complete(ask()))
    assert time.monotonic() - started < 2
    assert completion.deployment.id == "b/m2" and upstream.calls("m1") == 1


def test_server_errors_are_retried_then_fall_back(upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:503")
    gateway = build_gateway(config(upstream, {"chat": ["a/m1", "b/m2"]}), FAST)
    completion = run(gateway, gateway.complete(ask()))
    assert completion.deployment.id == "b/m2"
    assert [(a.deployment, a.error) for a in completion.attempts] == [
        ("a/m1", "upstream_unavailable"),
        ("a/m1", "upstream_unavailable"),
        ("b/m2", None),
    ]


def test_a_slow_provider_times_out_and_the_fallback_answers(upstream: ChatUpstream) -> None:
    upstream.script("m1", "slow:3")
    policy = RetryPolicy(attempt_timeout=0.5, deadline_seconds=10, max_retries=0)
    gateway = build_gateway(config(upstream, {"chat": ["a/m1", "b/m2"]}), policy)
    started = time.monotonic()
    completion = run(gateway, gateway.complete(ask()))
    assert time.monotonic() - started < 2
    assert [a.error for a in completion.attempts] == ["upstream_timeout", None]


def test_the_deadline_bounds_the_whole_call(upstream: ChatUpstream) -> None:
    upstream.script("m1", "slow:3")
    upstream.script("m2", "slow:3")
    policy = RetryPolicy(attempt_timeout=5, deadline_seconds=1.0, max_retries=3)
    gateway = build_gateway(config(upstream, {"chat": ["a/m1", "b/m2"]}), policy)
    started = time.monotonic()
    with pytest.raises(UpstreamTimeout, match="no provider model answered"):
        run(gateway, gateway.complete(ask()))
    assert time.monotonic() - started < 1.5


def test_a_wrong_key_goes_to_the_next_provider_without_retrying_or_leaking_it(upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:401")
    gateway = build_gateway(config(upstream, {"chat": ["a/m1", "b/m2"]}), FAST)
    completion = run(gateway, gateway.complete(ask()))
    assert upstream.calls("m1") == 1 and completion.deployment.id == "b/m2"
    assert completion.attempts[0].error == "upstream_auth_failed"
    assert "sk-secret" not in (completion.attempts[0].message or "")


def test_a_rejected_request_fails_at_once(upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:400")
    gateway = build_gateway(config(upstream, {"chat": ["a/m1", "b/m2"]}), FAST)
    with pytest.raises(UpstreamRejected, match="HTTP 400"):
        run(gateway, gateway.complete(ask()))
    assert upstream.calls("m1") == 1 and upstream.calls("m2") == 0


def test_the_circuit_opens_after_repeated_failures_and_half_opens_later(upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:500")
    now = [0.0]
    policy = RetryPolicy(max_retries=0, breaker_failures=2, breaker_reset_seconds=30, backoff_base=0.01)
    resolved = config(upstream, {"chat": ["a/m1", "b/m2"]})
    gateway = build_gateway(resolved, policy)
    gateway = Gateway(resolved.routes, gateway._providers, policy, clock=lambda: now[0])

    skips: list[list[str | None]] = []

    async def calls() -> list[str]:
        used = []
        for _ in range(4):
            answer = await gateway.complete(ask())
            used.append(answer.deployment.id)
            skips.append([a.error for a in answer.attempts])
        now[0] += 31  # past the reset: one trial goes to m1 again
        upstream.script("m1", "ok")
        used.append((await gateway.complete(ask())).deployment.id)
        return used

    assert run(gateway, calls()) == ["b/m2"] * 4 + ["a/m1"]
    # While open, m1 is skipped — and the trace says so (the answer is a fallback, counted as one).
    assert skips[2:] == [["circuit_open", None]] * 2
    assert upstream.calls("m1") == 3  # two failures opened it; the trial after the reset
    assert gateway.breaker("a/m1").state == "closed"


def test_all_circuits_open_is_a_clear_unavailable(upstream: ChatUpstream) -> None:
    upstream.script("m1", "status:500")
    policy = RetryPolicy(max_retries=0, breaker_failures=1, breaker_reset_seconds=30)
    gateway = build_gateway(config(upstream, {"chat": ["a/m1"]}), policy)

    async def calls() -> None:
        with pytest.raises(UpstreamUnavailable):
            await gateway.complete(ask())
        with pytest.raises(UpstreamUnavailable, match="circuit open"):
            await gateway.complete(ask())

    run(gateway, calls())
    assert upstream.calls("m1") == 1


def test_equivalent_deployments_share_concurrent_load(upstream: ChatUpstream) -> None:
    upstream.script("m1", "slow:0.2")
    upstream.script("m2", "slow:0.2")
    gateway = build_gateway(config(upstream, {"chat": [["a/m1", "b/m2"]]}), FAST)

    async def burst() -> list[Any]:
        return await asyncio.gather(*(gateway.complete(ask()) for _ in range(10)))

    run(gateway, burst())
    assert upstream.calls("m1") == 5 and upstream.calls("m2") == 5


def test_a_stream_relays_deltas_then_usage(upstream: ChatUpstream) -> None:
    gateway = build_gateway(config(upstream, {"chat": ["a/m1"]}), FAST)
    texts, outcome, error = collect(gateway, ask("one two three"))
    assert error is None
    assert texts == ["echo", " one", " two", " three"]
    assert outcome.finish_reason == "stop" and not outcome.truncated
    assert outcome.usage.output_tokens == 4 and not outcome.usage.estimated
    assert upstream.requests[0].body["stream_options"] == {"include_usage": True}


@pytest.mark.parametrize("failure", ["status:500", "cut:0", "end:0", "malformed:0", "stall:0:5"])
def test_a_stream_that_fails_before_its_first_token_falls_back(upstream: ChatUpstream, failure: str) -> None:
    upstream.script("m1", failure)
    policy = RetryPolicy(attempt_timeout=2.0, stall_seconds=0.5, max_retries=0)
    gateway = build_gateway(config(upstream, {"chat": ["a/m1", "b/m2"]}), policy)
    texts, outcome, error = collect(gateway, ask("one two"))
    assert error is None and "".join(texts) == "echo one two"
    assert outcome.deployment is not None and outcome.deployment.id == "b/m2"
    assert outcome.attempts[0].error is not None and not outcome.truncated


@pytest.mark.parametrize("failure", ["cut:2", "end:2", "stall:2:5", "malformed:2", "error-event:2"])
def test_a_stream_that_fails_after_tokens_ends_with_an_error_never_as_finished(
    upstream: ChatUpstream, failure: str
) -> None:
    upstream.script("m1", failure)
    policy = RetryPolicy(attempt_timeout=2.0, stall_seconds=0.5, max_retries=0)
    gateway = build_gateway(config(upstream, {"chat": ["a/m1", "b/m2"]}), policy)
    started = time.monotonic()
    texts, outcome, error = collect(gateway, ask("one two three four"))
    assert isinstance(error, StreamInterrupted), error
    assert texts == ["echo", " one"]
    assert outcome.truncated and outcome.finish_reason == "error"
    assert upstream.calls("m2") == 0  # text already went out: no silent restart elsewhere
    assert time.monotonic() - started < 2
    assert outcome.usage.estimated and outcome.usage.output_tokens > 0
