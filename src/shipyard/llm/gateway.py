"""The LLM gateway: a model name → an ordered chain of provider models, tried until one answers.

Per call: a total deadline; per attempt: a timeout (for a stream: to the first token, then a stall
limit between tokens). Timeouts, 429 and 5xx are retried on the same provider model with
exponential backoff and jitter (a `Retry-After` is honoured, or the next provider is tried when it
is longer than the time left), then the next one in the chain; a wrong key or unknown model goes
straight to the next; a request the upstream rejects as invalid is nobody else's business and fails
at once. Each provider model has a circuit breaker. Equivalent deployments (a list in one route
step) share the load: the one with the fewest requests in flight goes first.

Streams never lie: a provider that fails before its first token is failed over like any other
attempt; once text has reached the caller nothing can be retried, so the stream ends with
`StreamInterrupted` instead of looking finished.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field

from shipyard.breaker import CircuitBreaker
from shipyard.llm.config import Deployment, Route
from shipyard.llm.errors import (
    ModelNotFound,
    StreamInterrupted,
    UpstreamError,
    UpstreamTimeout,
    UpstreamUnavailable,
)
from shipyard.llm.ports import ChatProvider
from shipyard.llm.tokens import TokenCounter
from shipyard.llm.types import ChatRequest, ChatResult, StreamEnd, StreamEvent, Usage


@dataclass(frozen=True)
class RetryPolicy:
    attempt_timeout: float = 60.0
    stall_seconds: float = 20.0
    deadline_seconds: float = 120.0
    max_retries: int = 2  # per provider model, on timeouts, 429 and 5xx
    backoff_base: float = 0.25
    backoff_max: float = 8.0
    breaker_failures: int = 5
    breaker_reset_seconds: float = 30.0


@dataclass(frozen=True)
class Attempt:
    """One try at one provider model, for the trace."""

    deployment: str
    started_s: float  # since the call began
    seconds: float
    error: str | None = None  # an error code; None for the attempt that answered
    message: str | None = None


@dataclass(frozen=True)
class Completion:
    result: ChatResult
    deployment: Deployment
    usage: Usage
    cost: float
    attempts: tuple[Attempt, ...]
    cache_hit: bool = False


@dataclass
class StreamOutcome:
    """Filled in while a gateway stream runs: who answered, what it cost, whether it was cut."""

    attempts: list[Attempt] = field(default_factory=list)
    deployment: Deployment | None = None
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0
    finish_reason: str | None = None
    truncated: bool = False
    cache_hit: bool = False
    first_token_seconds: float | None = None  # from the call's start, failed attempts included


class Gateway:
    def __init__(
        self,
        routes: Mapping[str, Route],
        providers: Mapping[str, ChatProvider],
        policy: RetryPolicy | None = None,
        *,
        tokens: TokenCounter | None = None,
        clock: Callable[[], float] = time.monotonic,
        rng: random.Random | None = None,
    ) -> None:
        self._routes = dict(routes)
        self._providers = dict(providers)
        self.policy = policy or RetryPolicy()
        self._tokens = tokens or TokenCounter()
        self._clock = clock
        self._rng = rng or random.Random()
        self._inflight: Counter[str] = Counter()
        self._closed = False
        self._breakers = {
            d.id: CircuitBreaker(self.policy.breaker_failures, self.policy.breaker_reset_seconds, clock)
            for route in self._routes.values()
            for step in route
            for d in step
        }

    @property
    def models(self) -> list[str]:
        return sorted(self._routes)

    def breaker(self, deployment_id: str) -> CircuitBreaker:
        return self._breakers[deployment_id]

    def context_window(self, model: str) -> int | None:
        """The smallest context window among the route's provider models (a prompt packed for it
        fits whichever one answers), or None when the config gives none."""
        windows = [d.spec.context_window for step in self.route(model) for d in step if d.spec.context_window]
        return min(windows) if windows else None

    def route(self, model: str) -> Route:
        route = self._routes.get(model)
        if route is None:
            known = ", ".join(self.models) or "none (set SHIPYARD_LLM_BASE_URL and SHIPYARD_LLM_MODEL)"
            raise ModelNotFound(f"unknown model {model!r}; models: {known}")
        return route

    async def complete(self, request: ChatRequest) -> Completion:
        """The answer of the first provider model in the chain that gives one. Raises `UpstreamError`."""
        plan = _Plan(self, self.route(request.model))
        async with aclosing(plan.tries()) as tries:
            async for deployment in tries:
                provider = self._providers[deployment.provider]
                timeout = plan.attempt_timeout()
                try:
                    async with asyncio.timeout(timeout):
                        result = await provider.complete(deployment.model, request, timeout=timeout)
                except TimeoutError:
                    plan.failed(deployment, _timed_out(deployment, timeout))
                except UpstreamError as exc:
                    plan.failed(deployment, exc)
                else:
                    plan.succeeded(deployment)
                    usage = self._counted(request, result.text, result.usage)
                    cost = deployment.cost(usage.input_tokens, usage.output_tokens)
                    return Completion(result, deployment, usage, cost, tuple(plan.attempts))
        raise plan.exhausted()

    async def stream(self, request: ChatRequest, outcome: StreamOutcome) -> AsyncGenerator[StreamEvent, None]:
        """Text deltas then one `StreamEnd`; `outcome` says who answered. Raises `UpstreamError` when no
        provider model starts an answer, `StreamInterrupted` when one fails after its first token."""
        plan = _Plan(self, self.route(request.model), attempts=outcome.attempts)
        started = self._clock()
        async with aclosing(plan.tries()) as tries:
            async for deployment in tries:
                provider = self._providers[deployment.provider]
                timeout = plan.attempt_timeout()
                events = provider.stream(deployment.model, request, timeout=timeout, stall=self.policy.stall_seconds)
                try:
                    async with asyncio.timeout(timeout):
                        first = await anext(events)
                except (TimeoutError, UpstreamError, StopAsyncIteration) as exc:
                    await events.aclose()
                    plan.failed(deployment, _first_event_error(deployment, timeout, exc))
                    continue
                outcome.deployment = deployment
                outcome.first_token_seconds = self._clock() - started
                async with aclosing(self._relay(request, deployment, first, events, plan, outcome)) as relayed:
                    async for event in relayed:
                        yield event
                return
        raise plan.exhausted()

    async def _relay(
        self,
        request: ChatRequest,
        deployment: Deployment,
        first: StreamEvent,
        events: AsyncGenerator[StreamEvent, None],
        plan: _Plan,
        outcome: StreamOutcome,
    ) -> AsyncGenerator[StreamEvent, None]:
        text: list[str] = []
        try:
            event = first
            while True:
                if isinstance(event, StreamEnd):
                    plan.succeeded(deployment)
                    outcome.usage = self._counted(request, "".join(text), event.usage)
                    outcome.cost = deployment.cost(outcome.usage.input_tokens, outcome.usage.output_tokens)
                    outcome.finish_reason = event.finish_reason
                    yield StreamEnd(event.finish_reason, outcome.usage, event.model)
                    return
                text.append(event.text)
                yield event
                event = await anext(events)
        except (UpstreamError, StopAsyncIteration) as exc:
            error = exc if isinstance(exc, UpstreamError) else UpstreamUnavailable("stream ended early")
            plan.failed_mid_stream(deployment, error)
            outcome.truncated = True
            outcome.finish_reason = "error"
            outcome.usage = self._counted(request, "".join(text), Usage(estimated=True))
            outcome.cost = deployment.cost(outcome.usage.input_tokens, outcome.usage.output_tokens)
            raise StreamInterrupted(
                f"the answer was cut off after {len(text)} chunks: {error.message}", provider=deployment.provider
            ) from None
        finally:
            await events.aclose()

    def _counted(self, request: ChatRequest, answer: str, usage: Usage) -> Usage:
        """The provider's usage, or counted here when it sent none (marked as estimated)."""
        if not usage.estimated:
            return usage
        prompt = self._tokens.count_messages(request.messages)
        return Usage(input_tokens=prompt, output_tokens=self._tokens.count(answer), estimated=True)

    @property
    def closed(self) -> bool:
        return self._closed

    async def aclose(self) -> None:
        """Close the providers' connection pools (idempotent)."""
        if self._closed:
            return
        self._closed = True
        for provider in self._providers.values():
            await provider.aclose()


class _Plan:
    """The attempts of one call, in order: yields the provider model to try next and learns from
    `failed()`/`succeeded()` whether to retry it (after a backoff), move on, or stop."""

    def __init__(self, gateway: Gateway, route: Route, attempts: list[Attempt] | None = None) -> None:
        self._gateway = gateway
        self._route = route
        self._policy = gateway.policy
        self._clock = gateway._clock
        self._started = self._clock()
        self._deadline = self._started + self._policy.deadline_seconds
        self._attempt_started = 0.0
        self._error: UpstreamError | None = None
        self._last_error: UpstreamError | None = None
        self._skipped_open: list[str] = []
        self._verdict = False
        self.attempts: list[Attempt] = attempts if attempts is not None else []

    def remaining(self) -> float:
        return self._deadline - self._clock()

    def attempt_timeout(self) -> float:
        return max(0.001, min(self._policy.attempt_timeout, self.remaining()))

    async def tries(self) -> AsyncGenerator[Deployment, None]:
        """The provider model to try next, until one answers, none is left or the deadline passes.
        Close it when done (`aclosing`): a deployment counts as in flight until then."""
        for step in self._route:
            for deployment in self._ordered(step):
                breaker = self._gateway.breaker(deployment.id)
                for retry in range(self._policy.max_retries + 1):
                    if self.remaining() <= 0:
                        return
                    if not breaker.allow():
                        # Recorded as an attempt, so the trace shows the skip and an answer from the
                        # next provider model counts as a fallback.
                        self._skipped_open.append(deployment.id)
                        skipped_at = round(self._clock() - self._started, 6)
                        self.attempts.append(Attempt(deployment.id, skipped_at, 0.0, "circuit_open",
                                                     "skipped: paused after repeated failures"))  # fmt: skip
                        break
                    self._error = None
                    self._verdict = False
                    self._attempt_started = self._clock()
                    self._gateway._inflight[deployment.id] += 1
                    try:
                        yield deployment
                    finally:
                        self._gateway._inflight[deployment.id] -= 1
                        if not self._verdict:  # the caller went away mid-attempt
                            breaker.released()
                    error = self._error
                    if error is None:
                        return
                    if not error.retryable or retry == self._policy.max_retries:
                        break
                    delay = self._backoff(retry, error.retry_after)
                    if delay >= self.remaining():
                        break
                    await asyncio.sleep(delay)

    def _ordered(self, step: tuple[Deployment, ...]) -> list[Deployment]:
        inflight = self._gateway._inflight
        rng = self._gateway._rng
        return sorted(step, key=lambda d: (inflight[d.id], rng.random()))

    def _backoff(self, retry: int, retry_after: float | None) -> float:
        if retry_after is not None:
            return retry_after
        ceiling = min(self._policy.backoff_max, self._policy.backoff_base * 2.0**retry)
        return ceiling * self._gateway._rng.uniform(0.5, 1.0)

    def _record(self, deployment: Deployment, error: UpstreamError | None) -> None:
        now = self._clock()
        self.attempts.append(
            Attempt(
                deployment=deployment.id,
                started_s=round(self._attempt_started - self._started, 6),
                seconds=round(now - self._attempt_started, 6),
                error=error.code if error else None,
                message=error.message if error else None,
            )
        )

    def succeeded(self, deployment: Deployment) -> None:
        self._record(deployment, None)
        self._verdict = True
        self._gateway.breaker(deployment.id).succeeded()

    def failed(self, deployment: Deployment, error: UpstreamError) -> None:
        """Note a failed attempt. Raises `error` itself when no other attempt may help."""
        self._record(deployment, error)
        self._verdict = True
        breaker = self._gateway.breaker(deployment.id)
        if error.fallback:
            breaker.failed()
        else:  # the request was bad, not the provider
            breaker.released()
        self._error = self._last_error = error
        if not error.fallback:
            error.attempts = tuple(self.attempts)
            raise error

    def failed_mid_stream(self, deployment: Deployment, error: UpstreamError) -> None:
        """Note a provider that failed after its first token: it counts against its breaker, but
        the call is over (the caller already has part of the answer)."""
        self._record(deployment, error)
        self._verdict = True
        self._gateway.breaker(deployment.id).failed()
        self._last_error = error

    def exhausted(self) -> UpstreamError:
        """The error for a call that ran out of provider models or time."""
        last = self._last_error
        tried = ", ".join(f"{a.deployment} ({a.error})" for a in self.attempts)
        if last is None:
            if self._skipped_open:
                wait = self._policy.breaker_reset_seconds
                return UpstreamUnavailable(
                    f"every provider model is failing and paused (circuit open): {', '.join(self._skipped_open)}; "
                    f"retry in up to {wait:.0f} s",
                    retry_after=wait,
                )
            return UpstreamTimeout("the deadline passed before any provider model was tried")
        error = type(last)(
            f"no provider model answered ({len(self.attempts)} attempts: {tried}); last error: {last.message}",
            provider=last.provider,
            retry_after=last.retry_after,
        )
        error.attempts = tuple(self.attempts)
        return error


def _timed_out(deployment: Deployment, timeout: float) -> UpstreamTimeout:
    return UpstreamTimeout(
        f"provider {deployment.provider!r} did not answer within {timeout:.1f} s", provider=deployment.provider
    )


def _first_event_error(deployment: Deployment, timeout: float, exc: BaseException) -> UpstreamError:
    if isinstance(exc, UpstreamError):
        return exc
    if isinstance(exc, TimeoutError):
        return _timed_out(deployment, timeout)
    return UpstreamUnavailable(f"provider {deployment.provider!r} sent an empty stream", provider=deployment.provider)
