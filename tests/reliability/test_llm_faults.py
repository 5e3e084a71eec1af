"""Scenario 4: upstream LLM faults (timeouts, 429 with Retry-After, 5xx, streams cut, ended, stalled,
malformed or failed before and after their first token) through the real `openai` client on
`/v1/chat/completions` and through `/v1/ask`, each JSON and streamed.

Every call has a route of its own, `r<i>` = [a/p<i>, b/f<i>], on one scripted upstream
(tests/chat_upstream.py): calls run concurrently and each knows its truth — the faults its primary
and its fallback inject, the upstream calls they take, and the full answer ("echo" and the words of
the last user message the upstream got). Each outcome is one of

    complete      presented as complete and exactly the full answer (from the primary, after a retry,
                  or from the fallback — and then the response names the fallback)
    http_error    an HTTP error before any text
    stream_error  a stream ended by finish_reason "error" and an error event
    aborted       a connection broken with neither (noticed, but not the documented contract)
    silent        presented as complete (a 200 JSON, finish_reason "stop", `done`) but not the full
                  answer, or a stream that just ended: a silent truncation

and must be the one its faults call for; its trace (GET /v1/traces) and /metrics must count it.
"""

from __future__ import annotations

import json
import random
import statistics
import time
from collections import Counter
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
import yaml
from prometheus_client.parser import text_string_to_metric_families

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.knowledge.documents import DocumentInput
from shipyard.platform import Platform, build_platform
from shipyard.store import upgrade
from tests.chat_upstream import ChatUpstream, answer_words, chat_upstream
from tests.conftest import LiveServer, make_settings, serve
from tests.reliability.conftest import Scale

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]

# Short enough that a fault costs well under a second, long enough that a healthy stream on a
# busy 2-core CI machine never looks stalled.
TIMEOUT, STALL, DEADLINE, RETRIES = 0.5, 0.3, 5.0, 1
SLOW, SILENCE = 1.5, 1.0  # an upstream this slow times out; a pause this long is a stall

# Faults before the first token: (upstream step, HTTP status when it is the last failure, streams
# only, attempts it gets on one provider model). A Retry-After beyond the deadline skips the retry.
BEFORE = {
    "timeout": (f"slow:{SLOW}", 504, False, 1 + RETRIES),
    "429+retry-after": ("status:429:0.05", 429, False, 1 + RETRIES),
    "429+retry-after-beyond-deadline": ("status:429:30", 429, False, 1),
    "5xx": ("status:{code}", 502, False, 1 + RETRIES),
    "cut-before-first-token": ("cut:0", 502, True, 1 + RETRIES),
    "end-before-first-token": ("end:0", 502, True, 1 + RETRIES),
    "stall-before-first-token": (f"stall:0:{SILENCE}", 504, True, 1 + RETRIES),
    "malformed-sse-before-first-token": ("malformed:0", 502, True, 1 + RETRIES),
    "error-event-before-first-token": ("error-event:0", 502, True, 1 + RETRIES),
}
AFTER = {  # streams only; K >= 1 chunks reached the caller first (K = all of them included)
    "cut-after-first-token": "cut:{k}",
    "end-without-finish-after-first-token": "end:{k}",
    "stall-after-first-token": f"stall:{{k}}:{SILENCE}",
    "malformed-sse-after-first-token": "malformed:{k}",
    "error-event-after-first-token": "error-event:{k}",
}
ROUTES = 1100  # configured before the calls are planned (they need the probes' answers): enough for both sizes
VARIANTS = ("retry-answers", "fallback-answers", "fallback-fails", "fallback-cut")
MODES = (("chat", False), ("chat", True), ("ask", False), ("ask", True))
TRACE_STATUS = {"complete": "ok", "http_error": "error", "stream_error": "truncated"}
WORDS = "tide moon sun ocean gravity spring neap orbit pull water shore wave current".split()
QUESTIONS = ("How do I roll back a deployment?", "What share of traffic does a canary get?", "What causes tides?")
DOCS = [
    DocumentInput(
        "rollback",
        "To roll back a deployment, run `shipyard rollback NAME`. The previous version "
        "takes all traffic at once and nothing is rebuilt.",
        title="Rolling back",
    ),
    DocumentInput(
        "canary",
        "A canary deployment sends a small share of traffic, for example 10 percent, to a "
        "new model version. Promote it when its error rate stays low.",
        title="Canary releases",
    ),
    DocumentInput(
        "tides", "Tides are caused by the gravitational pull of the Moon and the Sun on the oceans.", title="Tides"
    ),
]


@dataclass
class Case:
    """One call: what its primary and fallback do, and what must come of it."""

    i: int
    endpoint: str
    stream: bool
    fault: str
    question: str
    primary: list[str]
    fallback: list[str] = field(default_factory=lambda: ["ok"])
    expect: str = "complete"
    status: int | None = None
    answered_by: str | None = None  # the provider model the caller must be told answered
    calls: tuple[int, int] = (1, 0)  # upstream calls to the primary and the fallback
    faults: int = 0  # upstream responses that were faults

    @property
    def route(self) -> str:
        return f"r{self.i}"

    @property
    def mode(self) -> str:
        return f"{self.endpoint}-{'sse' if self.stream else 'json'}"


def before_step(kind: str, rng: random.Random) -> tuple[str, int, int]:
    step, status, _, attempts = BEFORE[kind]
    return step.format(code=rng.choice((500, 502, 503, 504))), status, attempts


def make_case(
    i: int, mode: tuple[str, bool], fault: str, variant: str, rng: random.Random, ask_words: dict[str, int]
) -> Case:
    endpoint, stream = mode
    question = QUESTIONS[i % 3] if endpoint == "ask" else f"case {i} " + " ".join(rng.choices(WORDS, k=i % 9))
    words = ask_words[question] if endpoint == "ask" else len(question.split()) + 1  # "echo" and each word
    case = Case(i, endpoint, stream, fault, question, ["ok"], answered_by=f"a/p{i}")
    if fault in AFTER:
        case.primary, case.expect, case.faults = [AFTER[fault].format(k=rng.randint(1, words))], "stream_error", 1
    elif fault in BEFORE:
        step, _, attempts = before_step(fault, rng)
        case.primary, case.calls, case.faults = [step], (attempts, 1), attempts
        case.answered_by = f"b/f{i}"
        if variant == "retry-answers":
            case.primary, case.calls, case.faults, case.answered_by = [step, "ok"], (2, 0), 1, f"a/p{i}"
        elif variant == "fallback-fails":
            kinds = [k for k, spec in BEFORE.items() if stream or not spec[2]]
            step, case.status, tries = before_step(rng.choice(kinds), rng)
            case.fallback, case.expect, case.answered_by = [step], "http_error", None
            case.calls, case.faults = (attempts, tries), attempts + tries
        elif variant == "fallback-cut":
            case.fallback = [AFTER[rng.choice(list(AFTER))].format(k=rng.randint(1, words))]
            case.expect, case.faults = "stream_error", attempts + 1
    return case


def plan(scale: Scale, rng: random.Random, ask_words: dict[str, int]) -> list[Case]:
    """Every fault × mode × variant that applies, once (short) or over and over until 1,000 calls
    carry a fault (full); plus a few calls without one."""
    combos = [
        (mode, fault, variant)
        for mode in MODES
        for fault in [*BEFORE, *AFTER]
        for variant in VARIANTS
        if (mode[1] or (fault in BEFORE and not BEFORE[fault][2]))
        and (fault in BEFORE or variant == "fallback-answers")
        and (variant != "retry-answers" or BEFORE[fault][3] > 1)
        and (variant != "fallback-cut" or mode[1])
    ]
    faulty = scale.pick(len(combos), 1000)
    chosen = [combos[n % len(combos)] for n in range(faulty)]
    chosen += [(mode, "none", "-") for mode in MODES for _ in range(scale.pick(1, 10))]
    rng.shuffle(chosen)
    return [make_case(i, *combo, rng, ask_words) for i, combo in enumerate(chosen)]


@dataclass
class Seen:
    """What the caller saw."""

    presented: str  # complete | http_error | stream_error | aborted | ended
    text: str = ""
    status: int = 200
    code: str | None = None
    provider_model: str | None = None
    retry_after: str | None = None
    seconds: float = 0.0


def failed(status: int, headers: Mapping[str, str], body: object) -> Seen:
    """An HTTP error; `body` is the error object (OpenAI's envelope, or shipyard's)."""
    code = body.get("code") if isinstance(body, dict) else None
    return Seen("http_error", status=status, code=code, retry_after=headers.get("retry-after"))


def chat_json(sdk: openai.OpenAI, http: httpx.Client, case: Case, headers: dict[str, str]) -> Seen:
    try:
        reply = sdk.chat.completions.create(
            model=case.route, messages=[{"role": "user", "content": case.question}], extra_headers=headers
        )
    except openai.APIStatusError as exc:
        return failed(exc.status_code, exc.response.headers, exc.body)
    except openai.APIError as exc:
        return Seen("aborted", code=type(exc).__name__)
    choice, extra = reply.choices[0], (reply.model_extra or {}).get("shipyard") or {}
    presented = "stream_error" if str(choice.finish_reason) == "error" else "complete"
    return Seen(presented, choice.message.content or "", provider_model=extra.get("provider_model"))


def chat_sse(sdk: openai.OpenAI, http: httpx.Client, case: Case, headers: dict[str, str]) -> Seen:
    texts: list[str] = []
    finishes: list[str] = []
    extra: dict[str, Any] = {}
    try:
        for chunk in sdk.chat.completions.create(
            model=case.route, stream=True, extra_headers=headers, messages=[{"role": "user", "content": case.question}]
        ):
            for choice in chunk.choices:
                texts.append(choice.delta.content or "")
                if choice.finish_reason:
                    finishes.append(choice.finish_reason)
                    extra = (chunk.model_extra or {}).get("shipyard") or {}
    except openai.APIStatusError as exc:
        return failed(exc.status_code, exc.response.headers, exc.body)
    except openai.APIConnectionError as exc:
        return Seen("aborted", "".join(texts), code=type(exc).__name__)
    except openai.APIError:  # the error event
        return Seen("stream_error" if finishes == ["error"] else "aborted", "".join(texts), code="error-event")
    except Exception as exc:  # a connection broken mid-body: the transport's own error (the client's httpx)
        return Seen("aborted", "".join(texts), code=type(exc).__name__)
    presented = {"stop": "complete", "error": "stream_error"}.get(finishes[-1] if finishes else "", "ended")
    return Seen(presented, "".join(texts), provider_model=extra.get("provider_model"))


def ask_json(sdk: openai.OpenAI, http: httpx.Client, case: Case, headers: dict[str, str]) -> Seen:
    response = http.post(
        "/v1/ask", json={"collection": "handbook", "question": case.question, "model": case.route}, headers=headers
    )
    if response.status_code != 200:
        return failed(response.status_code, response.headers, response.json()["error"])
    body = response.json()
    return Seen("complete", body["answer"], provider_model=body["provider_model"])


def ask_sse(sdk: openai.OpenAI, http: httpx.Client, case: Case, headers: dict[str, str]) -> Seen:
    body = {"collection": "handbook", "question": case.question, "model": case.route, "stream": True}
    try:
        with http.stream("POST", "/v1/ask", json=body, headers=headers) as response:
            if response.status_code != 200:
                response.read()
                return failed(response.status_code, response.headers, response.json()["error"])
            raw = "".join(response.iter_text())
    except httpx.HTTPError as exc:
        return Seen("aborted", code=type(exc).__name__)
    events = [dict(line.split(": ", 1) for line in block.splitlines()) for block in raw.strip().split("\n\n")]
    text = "".join(json.loads(e["data"])["text"] for e in events if e.get("event") == "delta")
    last = events[-1].get("event") if events else None
    if last == "done":
        done = json.loads(events[-1]["data"])
        text = text if done["answer"] == text else f"<done.answer differs from the deltas: {done['answer']!r}>"
        return Seen("complete", text, provider_model=done["provider_model"])
    return Seen("stream_error" if last == "error" else "ended", text)


CALLERS = {("chat", False): chat_json, ("chat", True): chat_sse, ("ask", False): ask_json, ("ask", True): ask_sse}


def traceparent(i: int) -> str:
    return f"00-{0xFA17 << 112 | i:032x}-{i + 1:016x}-01"


def run(live: LiveServer, cases: list[Case], workers: int) -> list[Seen]:
    key = live.key("viewer", rate_limit_per_minute=1_000_000)  # the fault calls, not the key's limit
    with (
        openai.OpenAI(base_url=f"{live.url}/v1", api_key=key["Authorization"][7:], max_retries=0, timeout=30) as sdk,
        httpx.Client(base_url=live.url, headers=key, timeout=30) as http,
    ):

        def call(case: Case) -> Seen:
            started = time.perf_counter()
            seen = CALLERS[case.endpoint, case.stream](sdk, http, case, {"traceparent": traceparent(case.i)})
            seen.seconds = time.perf_counter() - started
            return seen

        with ThreadPoolExecutor(workers) as pool:
            return list(pool.map(call, cases))


def scrape(client: httpx.Client) -> Counter[str]:
    """The /metrics counters this scenario is about, summed over the labels it does not compare."""
    figures: Counter[str] = Counter()
    for family in text_string_to_metric_families(client.get("/metrics").text):
        for sample in family.samples:
            name, labels = sample.name, sample.labels
            if name == "shipyard_llm_calls_total":
                figures[f"calls {labels['kind']} {labels['status']}"] += int(sample.value)
            elif name in ("shipyard_llm_fallbacks_total", "shipyard_llm_truncations_total"):
                figures[name] += int(sample.value)
            elif name == "shipyard_llm_attempt_errors_total":
                figures[f"attempt_errors {labels['error_type']}"] += int(sample.value)
            elif name == "http_server_request_duration_seconds_count" and labels["http_route"] in (
                "/v1/ask",
                "/v1/chat/completions",
            ):
                figures[f"http {labels['http_route']} {labels['http_response_status_code']}"] += int(sample.value)
    return figures


def traces(live: LiveServer) -> dict[str, dict[str, Any]]:
    """Every trace of the project by its W3C trace id."""
    found: dict[str, dict[str, Any]] = {}
    cursor: str | None = None
    while True:
        params: dict[str, str | int] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = live.client.get("/v1/traces", params=params, headers=live.key("viewer")).json()
        found.update({t["otel_trace_id"]: t for t in page["data"]})
        if not (cursor := page["next_cursor"]):
            return found


def verdict(case: Case, seen: Seen, upstream: ChatUpstream, trace: dict[str, Any] | None) -> tuple[str, list[str]]:
    """The outcome's class, and everything about it that breaks the contract."""
    bodies = [r.body for r in upstream.requests if r.model in (f"p{case.i}", f"f{case.i}")]
    truth = "".join(answer_words(bodies[0])) if bodies else None
    outcome = {"ended": "silent"}.get(seen.presented, seen.presented)
    if outcome == "complete" and seen.text != truth:
        outcome = "silent"
    calls = (upstream.calls(f"p{case.i}"), upstream.calls(f"f{case.i}"))
    problems = [f"{outcome}, expected {case.expect}"] if outcome != case.expect else []
    if seen.status != (case.status or 200):
        problems.append(f"HTTP {seen.status} {seen.code}, expected {case.status or 200}")
    if seen.status == 429 and not seen.retry_after:
        problems.append("429 without Retry-After")
    if outcome == "complete" and seen.provider_model != case.answered_by:
        problems.append(f"answered by {case.answered_by} but the response says {seen.provider_model}")
    if calls != case.calls:
        problems.append(f"upstream calls {calls}, expected {case.calls}")
    if trace is None:
        return outcome, [*problems, "no trace"]
    attempts = trace["details"].get("attempts") or []
    failed_attempts = sum(1 for a in attempts if a.get("error"))
    if trace["status"] != TRACE_STATUS.get(case.expect) or len(attempts) != sum(calls):
        problems.append(f"trace {trace['status']} with {len(attempts)} attempts ({trace['error_code']})")
    if failed_attempts != sum(calls) - (case.expect == "complete"):
        problems.append(f"trace has {failed_attempts} failed attempts of {sum(calls)}")
    code = {"http_error": seen.code, "stream_error": "stream_interrupted"}.get(case.expect)
    if trace["error_code"] != code:
        problems.append(f"trace says {trace['error_code']}, the caller was told {code}")
    if case.expect != "http_error" and trace["provider_model"] != case.answered_by:
        problems.append(f"trace names {trace['provider_model']}, {case.answered_by} answered")
    if problems:  # when, how long and how each attempt failed
        problems.append(
            "attempts: " + ", ".join(f"{a['deployment']} {a['error']} {a['seconds']:.2f}s" for a in attempts)
        )
    return outcome, problems


def percentiles(seconds: list[float]) -> dict[str, float]:
    if len(seconds) < 2:
        return {}
    cuts = statistics.quantiles(seconds, n=100, method="inclusive")
    return {"p50": round(cuts[49], 3), "p99": round(cuts[98], 3), "max": round(max(seconds), 3)}


def expected_metrics(cases: list[Case], seen: list[Seen]) -> Counter[str]:
    expected: Counter[str] = Counter()
    for case, one in zip(cases, seen, strict=True):
        expected[f"calls {case.endpoint} {TRACE_STATUS[case.expect]}"] += 1
        expected["attempt_errors"] += sum(case.calls) - (case.expect == "complete")
        expected["shipyard_llm_fallbacks_total"] += bool(case.answered_by and case.answered_by.startswith("b/"))
        expected["shipyard_llm_truncations_total"] += case.expect == "stream_error"
        expected[f"http /v1/{'ask' if case.endpoint == 'ask' else 'chat/completions'} {one.status}"] += 1
    return expected


def probe(live: LiveServer) -> dict[str, int]:
    """How many chunks a healthy model streams for each RAG question; and the `openai` client warmed
    up (its first response builds its models for a while, holding the GIL the server needs too)."""
    key = live.key("viewer")
    with openai.OpenAI(base_url=f"{live.url}/v1", api_key=key["Authorization"][7:], max_retries=0) as sdk:
        sdk.chat.completions.create(model="probe", messages=[{"role": "user", "content": "warm up"}])
        list(sdk.chat.completions.create(model="probe", messages=[{"role": "user", "content": "up"}], stream=True))
    body = {"collection": "handbook", "model": "probe"}
    answers = [live.client.post("/v1/ask", json={**body, "question": q}, headers=key).json() for q in QUESTIONS]
    return {q: len(answer["answer"].split()) for q, answer in zip(QUESTIONS, answers, strict=True)}


def settle(live: LiveServer, before: Counter[str], calls: int, seconds: float = 10.0) -> None:
    """Wait (a little) until every call is traced: a stream's trace is written as it closes."""
    deadline = time.monotonic() + seconds
    while sum(v for k, v in (scrape(live.client) - before).items() if k[:6] == "calls ") < calls:
        if time.monotonic() > deadline:
            break  # the checks below say which calls have no trace
        time.sleep(0.05)
    live.services.traces.writer.flush_now()


@pytest.fixture
def upstream() -> Iterator[ChatUpstream]:
    with chat_upstream() as server:
        yield server


def start(tmp_path: Path, upstream: ChatUpstream, cases: int) -> Platform:
    """The platform with routes r0..r<cases> = [a/p<i>, b/f<i>] and `probe` = [a/probe]."""
    config = {
        "providers": {
            "a": {"base_url": upstream.url, "models": {"probe": {}, **{f"p{i}": {} for i in range(cases)}}},
            "b": {"base_url": upstream.url, "models": {f"f{i}": {} for i in range(cases)}},
        },
        "routes": {"probe": ["a/probe"], **{f"r{i}": [f"a/p{i}", f"b/f{i}"] for i in range(cases)}},
    }
    (tmp_path / "llm.yaml").write_text(yaml.safe_dump(config))
    settings = make_settings(
        tmp_path,
        f"sqlite:///{tmp_path / 's.db'}",
        llm_config=tmp_path / "llm.yaml",
        llm_timeout_seconds=TIMEOUT,
        llm_stall_seconds=STALL,
        llm_deadline_seconds=DEADLINE,
        llm_max_retries=RETRIES,
    )
    services = build_platform(settings)
    upgrade(services.database)
    services.ingester.ingest(services.collections.create(DEFAULT_PROJECT_ID, "handbook"), DOCS)
    return services


def judge(
    cases: list[Case], seen: list[Seen], upstream: ChatUpstream, by_trace: dict[str, Any], delta: Counter[str]
) -> tuple[dict[str, Counter[str]], list[str]]:
    """Outcomes by fault, and every call (and metric) that breaks the contract."""
    outcomes: dict[str, Counter[str]] = {}
    problems: list[str] = []
    for case, one in zip(cases, seen, strict=True):
        outcome, wrong = verdict(case, one, upstream, by_trace.get(f"{0xFA17 << 112 | case.i:032x}"))
        answered = "fallback" if (one.provider_model or "").startswith("b/") else "primary"
        detail = {"complete": f"via {answered}", "http_error": str(one.status)}.get(outcome, "")
        outcomes.setdefault(case.fault, Counter())[f"{outcome} {detail}".strip()] += 1
        if wrong:
            problems.append(f"r{case.i} {case.mode} {case.fault} {case.primary}->{case.fallback}: " + "; ".join(wrong))
    expected = expected_metrics(cases, seen)
    counted = {k: v for k, v in delta.items() if not k.startswith("attempt_errors ")}
    counted["attempt_errors"] = sum(v for k, v in delta.items() if k.startswith("attempt_errors "))
    if counted != {k: v for k, v in expected.items() if v}:
        problems.append(f"/metrics moved by {sorted(counted.items())}, expected {sorted(expected.items())}")
    return outcomes, problems


def figures(cases: list[Case], seen: list[Seen], outcomes: dict[str, Counter[str]], **more: Any) -> dict[str, Any]:
    failed = [s.seconds for c, s in zip(cases, seen, strict=True) if c.expect != "complete"]
    rescued = [s.seconds for c, s in zip(cases, seen, strict=True) if c.faults and c.expect == "complete"]
    return {
        "calls": len(cases),
        "calls_with_faults": sum(1 for c in cases if c.faults),
        "upstream_faults_injected": sum(c.faults for c in cases),
        "outcomes_by_fault": {k: dict(v) for k, v in sorted(outcomes.items())},
        "silent_truncations": sum(v["silent"] for v in outcomes.values()),
        "aborted_streams": sum(v["aborted"] for v in outcomes.values()),
        "failed_call_seconds": percentiles(failed),
        "recovered_call_seconds": percentiles(rescued),
        "settings": {"attempt_timeout": TIMEOUT, "stall": STALL, "deadline": DEADLINE, "retries": RETRIES},
        **more,
    }


def test_upstream_faults_are_never_silent_and_always_counted(
    tmp_path: Path, upstream: ChatUpstream, scale: Scale
) -> None:
    services = start(tmp_path, upstream, ROUTES)
    with serve(services) as live:
        cases = plan(scale, random.Random(4), probe(live))
        assert len(cases) <= ROUTES
        for case in cases:
            upstream.script(f"p{case.i}", *case.primary)
            upstream.script(f"f{case.i}", *case.fallback)
        before, started = scrape(live.client), time.monotonic()
        seen = run(live, cases, workers=8)
        elapsed = time.monotonic() - started
        settle(live, before, len(cases))
        by_trace = traces(live)
        delta = scrape(live.client) - before
    services.close()
    outcomes, problems = judge(cases, seen, upstream, by_trace, delta)
    upstream_calls = sum(r.model != "probe" for r in upstream.requests)
    result = figures(
        cases,
        seen,
        outcomes,
        upstream_calls=upstream_calls,
        metrics_delta=dict(sorted(delta.items())),
        contract_violations=len(problems),
        seconds=round(elapsed, 1),
    )
    scale.record("llm_faults", result)
    report = f"{len(problems)} contract violations:\n" + "\n".join(problems[:40])
    assert result["silent_truncations"] == 0 and result["aborted_streams"] == 0, report
    assert not problems, report
