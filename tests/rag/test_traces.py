"""Every ask and chat call is a trace: spans, retrieval, prompt, model, attempts, tokens, cost, feedback."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from shipyard.platform import Platform
from tests.chat_upstream import ChatUpstream
from tests.conftest import LiveServer, serve

QUESTION = "How do I roll back a deployment?"


@pytest.fixture
def live(rag_services: Platform) -> Iterator[LiveServer]:
    with serve(rag_services) as server:
        yield server


def test_an_ask_is_traced_and_can_be_rated(live: LiveServer, upstream: ChatUpstream) -> None:
    viewer = live.key("viewer")
    upstream.script("m1", "say:Run shipyard rollback [1].")
    asked = live.client.post("/v1/ask", json={"collection": "handbook", "question": QUESTION, "model": "chat"},
                             headers=viewer).json()  # fmt: skip
    trace = live.client.get(f"/v1/traces/{asked['trace_id']}", headers=viewer).json()
    assert trace["kind"] == "ask" and trace["status"] == "ok" and trace["collection"] == "handbook"
    assert trace["question"] == QUESTION and trace["answer"] == "Run shipyard rollback [1]."
    assert trace["model"] == "chat" and trace["provider_model"] == "local/m1" and trace["prompt"] == "rag-answer@1"
    assert trace["input_tokens"] == 11 and trace["cost"] == pytest.approx(11 / 1e6) and not trace["cache_hit"]
    details = trace["details"]
    assert [s["name"] for s in details["spans"]] == ["retrieve", "pack", "render", "llm", "cite"]
    assert all(s["duration_ms"] >= 0 for s in details["spans"])
    assert details["retrieved"][0]["chunk_id"].startswith("chk_") and details["retrieved"][0]["similarity"] > 0.25
    assert details["citations"] == [{"index": 1, "chunk_id": details["citations"][0]["chunk_id"],
                                     "document_id": "rollback"}]  # fmt: skip
    assert [a["error"] for a in details["attempts"]] == [None] and details["finish_reason"] == "stop"

    rated = live.client.post(f"/v1/traces/{asked['trace_id']}/feedback",
                             json={"score": 1, "comment": "spot on"}, headers=viewer)  # fmt: skip
    assert rated.status_code == 201 and rated.json()["key_name"] == "test-viewer"
    live.client.post(f"/v1/traces/{asked['trace_id']}/feedback", json={"score": 0}, headers=viewer)
    shown = live.client.get(f"/v1/traces/{asked['trace_id']}", headers=viewer).json()
    assert shown["feedback"] == {"count": 2, "mean_score": 0.5}
    assert [f["comment"] for f in shown["feedback_items"]] == ["spot on", None]

    bad = live.client.post(f"/v1/traces/{asked['trace_id']}/feedback", json={"score": 3}, headers=viewer)
    assert bad.status_code == 422
    missing = live.client.post("/v1/traces/trc_nope/feedback", json={"score": 1}, headers=viewer)
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "trace_not_found"
    live.services.access.create_project("other")
    stranger = live.key("viewer", project="other")
    assert live.client.get(f"/v1/traces/{asked['trace_id']}", headers=stranger).status_code == 404


def test_failures_no_answers_and_gateway_calls_are_traced(live: LiveServer, upstream: ChatUpstream) -> None:
    viewer = live.key("viewer")
    live.client.post("/v1/ask", json={"collection": "handbook", "question": "best sourdough recipe?"}, headers=viewer)
    upstream.script("m1", "status:503")
    failed = live.client.post(
        "/v1/ask", json={"collection": "handbook", "question": QUESTION, "model": "chat"}, headers=viewer
    )
    assert failed.status_code == 502
    upstream.script("m1", "ok")
    chat = live.client.post("/v1/chat/completions", json={"model": "chat", "messages": [
        {"role": "user", "content": "hello there"}]}, headers=viewer).json()  # fmt: skip
    upstream.script("m1", "cut:2")
    body = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "a b c d"}]}
    with live.client.stream("POST", "/v1/chat/completions", headers=viewer, json=body) as response:
        "".join(response.iter_text())

    traces = live.client.get("/v1/traces", headers=viewer).json()["data"]
    assert [(t["kind"], t["status"]) for t in traces] == [
        ("chat", "truncated"),
        ("chat", "ok"),
        ("ask", "error"),
        ("ask", "no_answer"),
    ]
    truncated, ok_chat, error, no_answer = traces
    assert truncated["answer"] == "echo a" and truncated["details"]["finish_reason"] == "error"
    assert ok_chat["id"] == chat["shipyard"]["trace_id"] and ok_chat["answer"] == "echo hello there"
    assert (
        error["error_code"] == "upstream_unavailable"
        and error["details"]["attempts"][0]["error"] == "upstream_unavailable"
    )
    assert no_answer["details"]["spans"][0]["name"] == "retrieve" and no_answer["input_tokens"] == 0

    only_errors = live.client.get("/v1/traces", params={"status": "error"}, headers=viewer).json()["data"]
    assert [t["id"] for t in only_errors] == [error["id"]]
    first = live.client.get("/v1/traces", params={"limit": 3}, headers=viewer).json()
    rest = live.client.get("/v1/traces", params={"limit": 3, "cursor": first["next_cursor"]}, headers=viewer).json()
    assert [t["id"] for t in first["data"] + rest["data"]] == [t["id"] for t in traces] and rest["next_cursor"] is None


def test_llm_and_retrieval_metrics_follow_the_traces(live: LiveServer, upstream: ChatUpstream) -> None:
    viewer = live.key("viewer")
    upstream.script("m1", "say:Run shipyard rollback [1].")
    live.client.post("/v1/ask", json={"collection": "handbook", "question": QUESTION, "model": "chat"}, headers=viewer)
    live.client.post("/v1/ask", json={"collection": "handbook", "question": QUESTION}, headers=viewer)
    upstream.script("m1", "cut:2")
    body = {"model": "chat", "stream": True, "messages": [{"role": "user", "content": "a b c d"}]}
    with live.client.stream("POST", "/v1/chat/completions", headers=viewer, json=body) as response:
        "".join(response.iter_text())
    live.client.post("/v1/chat/completions", json={"model": "x" * 50, "messages": [{"role": "user", "content": "q"}]},
                     headers=viewer)  # fmt: skip
    text = live.client.get("/metrics").text
    model = 'gen_ai_request_model="chat",gen_ai_response_model="local/m1"'
    assert f'gen_ai_client_operation_duration_seconds_count{{error_type="",{model}}} 1.0' in text
    assert f'gen_ai_client_token_usage_sum{{{model},gen_ai_token_type="input"}}' in text
    assert f"gen_ai_server_time_to_first_token_seconds_count{{{model}}} 1.0" in text
    assert f"shipyard_llm_truncations_total{{{model}}} 1.0" in text
    assert 'shipyard_llm_calls_total{kind="ask",model="extractive",project="default",status="ok"} 1.0' in text
    assert 'shipyard_llm_calls_total{kind="chat",model="chat",project="default",status="truncated"} 1.0' in text
    assert 'shipyard_llm_calls_total{kind="chat",model="unknown",project="default",status="error"} 1.0' in text
    assert 'shipyard_llm_call_duration_seconds_count{model="chat",project="default"} 2.0' in text  # ask + chat
    assert 'shipyard_llm_call_duration_seconds_count{model="unknown",project="default"} 1.0' in text
    assert "x" * 50 not in text  # what a caller typed never becomes a label
    assert f'shipyard_llm_cost_total{{{model},project="default"}}' in text
    assert 'shipyard_llm_tokens_total{gen_ai_request_model="chat",gen_ai_token_type="input",project="default"}' in text
    assert 'shipyard_retrieval_duration_seconds_count{mode="hybrid"} 2.0' in text
    assert 'shipyard_retrieval_results_count{mode="hybrid"} 2.0' in text


def test_promtool_accepts_the_metrics(live: LiveServer, upstream: ChatUpstream) -> None:
    import shutil
    import subprocess

    promtool = shutil.which("promtool")
    assert promtool, "promtool is installed by `make services` (scripts/services.sh)"
    viewer = live.key("viewer")
    upstream.script("m1", "say:Run shipyard rollback [1].")
    live.client.post("/v1/ask", json={"collection": "handbook", "question": QUESTION, "model": "chat"}, headers=viewer)
    live.client.post("/v1/chat/completions", json={"model": "chat", "messages": [{"role": "user", "content": "q"}]},
                     headers=viewer)  # fmt: skip
    text = live.client.get("/metrics").text
    checked = subprocess.run([promtool, "check", "metrics"], input=text, capture_output=True, text=True, check=False)
    assert checked.returncode == 0 and not checked.stdout.strip() and not checked.stderr.strip(), (
        checked.stdout + checked.stderr
    )
