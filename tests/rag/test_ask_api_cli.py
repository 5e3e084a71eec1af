"""/v1/ask, `rag:<collection>` through the official openai client, and `shipyard ask`."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import openai
import pytest
from typer.testing import CliRunner

from shipyard.cli.main import app
from shipyard.platform import Platform
from shipyard.settings import Settings
from tests.chat_upstream import ChatUpstream
from tests.conftest import LiveServer, serve

QUESTION = "How do I roll back a deployment?"


@pytest.fixture
def live(rag_services: Platform) -> Iterator[LiveServer]:
    with serve(rag_services) as server:
        yield server


def sse_events(raw: str) -> list[tuple[str, Any]]:
    events = []
    for block in raw.strip().split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines())
        events.append((lines["event"], json.loads(lines["data"])))
    return events


def test_ask_over_http(live: LiveServer, upstream: ChatUpstream) -> None:
    viewer = live.key("viewer")
    answer = live.client.post("/v1/ask", json={"collection": "handbook", "question": QUESTION}, headers=viewer)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["found"] and body["model"] == "extractive" and body["answer"].endswith("[1]")
    assert body["citations"][0]["document_id"] == "rollback" and body["citations"][0]["span"][0] >= 0
    trace = live.client.get(f"/v1/traces/{body['trace_id']}", headers=viewer).json()
    assert trace["otel_trace_id"] == answer.headers["x-trace-id"] and trace["status"] == "ok"

    upstream.script("m1", "say:Run the rollback command [1].")
    body = {"collection": "handbook", "question": QUESTION, "model": "chat", "stream": True}
    with live.client.stream("POST", "/v1/ask", json=body, headers=viewer) as response:
        events = sse_events("".join(response.iter_text()))
    deltas = "".join(data["text"] for name, data in events if name == "delta")
    assert deltas == "Run the rollback command [1]."
    name, done = events[-1]
    assert name == "done" and done["citations"][0]["index"] == 1 and done["prompt"] == "rag-answer@1"

    for bad, status, code in [
        ({"collection": "nope", "question": "q"}, 404, "collection_not_found"),
        ({"collection": "handbook", "question": "q", "model": "gpt-9"}, 404, "model_not_found"),
        ({"collection": "handbook", "question": ""}, 422, "invalid_request"),
        ({"collection": "handbook", "question": QUESTION, "prompt": "nope"}, 404, "prompt_not_found"),
    ]:
        response = live.client.post("/v1/ask", json=bad, headers=viewer)
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), bad


def test_a_stream_cut_mid_answer_ends_with_an_error_event(live: LiveServer, upstream: ChatUpstream) -> None:
    upstream.script("m1", "cut:2")
    body = {"collection": "handbook", "question": QUESTION, "model": "chat", "stream": True}
    with live.client.stream("POST", "/v1/ask", json=body, headers=live.key("viewer")) as response:
        events = sse_events("".join(response.iter_text()))
    assert [name for name, _ in events] == ["delta", "delta", "error"]
    assert events[-1][1]["error"]["code"] == "stream_interrupted"


def test_rag_models_through_the_openai_client(live: LiveServer, upstream: ChatUpstream) -> None:
    key = live.key("viewer")["Authorization"].removeprefix("Bearer ")
    with openai.OpenAI(base_url=f"{live.url}/v1", api_key=key, max_retries=0) as sdk:
        assert "rag:handbook" in [m.id for m in sdk.models.list()]
        messages: Any = [{"role": "user", "content": "earlier turn"}, {"role": "user", "content": QUESTION}]
        reply = sdk.chat.completions.create(model="rag:handbook", messages=messages)
        content = reply.choices[0].message.content or ""
        assert "[1]" in content and "\n\nSources:\n[1] Rolling back (guide/rollback.md)" in content
        citations = reply.model_extra["citations"]  # type: ignore[index]
        assert citations[0]["document_id"] == "rollback"

        chunks = list(sdk.chat.completions.create(model="rag:handbook", messages=messages, stream=True))
        streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
        assert streamed == content
        final = chunks[-1]
        assert final.choices[0].finish_reason == "stop" and final.model_extra["citations"] == citations  # type: ignore[index]
        with pytest.raises(openai.NotFoundError, match="collection"):
            sdk.chat.completions.create(model="rag:nope", messages=messages)


@pytest.fixture
def cli_settings(rag_services: Platform) -> Settings:
    """The shared `cli` fixture drives the RAG platform's home, database and LLM config."""
    return rag_services.settings


def test_the_ask_cli(cli: CliRunner, upstream: ChatUpstream) -> None:
    result = cli.invoke(app, ["ask", QUESTION, "--collection", "handbook"])
    assert result.exit_code == 0, result.output
    assert (
        result.stdout.startswith("To roll back a deployment")
        and "\nSources:\n[1] Rolling back — guide/rollback.md" in result.stdout
    )
    upstream.script("m1", "say:Use the rollback command [1].")
    streamed = cli.invoke(app, ["ask", QUESTION, "-c", "handbook", "--model", "chat", "--stream"])
    assert streamed.exit_code == 0 and streamed.stdout.startswith("Use the rollback command [1].\n")
    as_json = json.loads(cli.invoke(app, ["ask", QUESTION, "-c", "handbook", "--json"]).stdout)
    assert as_json["citations"][0]["document_id"] == "rollback" and as_json["model"] == "extractive"
    failed = cli.invoke(app, ["ask", QUESTION, "-c", "nope"])
    assert failed.exit_code == 1 and failed.stderr.startswith("error: ") and len(failed.stderr.splitlines()) == 1
