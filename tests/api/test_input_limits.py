"""Limits on input (docs/auth.md): JSON nesting, integers the store holds, page cursors. Past a
limit every route answers a 4xx in its own error shape, on both stores, never a 500 and never a
page from somewhere else; the CLI says the same in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shipyard.auth import Role
from shipyard.cli.main import app
from shipyard.ids import new_id
from shipyard.settings import Settings
from tests.conftest import LiveServer, make_settings

HUGE = 99_999_999_999_999_999_999  # past 64 bits: SQLite's driver raises OverflowError
PAST_INTEGER = 2**31  # SQLite stores it, PostgreSQL's INTEGER does not
PAST_BIGINT = 2**63


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    """The bare /invocations serves deployment `m` (which does not exist: every limit here is
    checked before a deployment is looked up)."""
    return make_settings(tmp_path, database_url, serve_deployment="m")


def nested(depth: int) -> str:
    """`depth` arrays inside each other, as text (building them as lists would recurse to encode)."""
    return "[" * depth + "1" + "]" * depth


# -- JSON nesting ---------------------------------------------------------------------------------

# (path, body with NEST where the nesting goes): every inference protocol and payload format.
INFERENCE_BODIES = [
    ("/v2/models/m/infer", '{"inputs": [{"name": "x", "shape": [1], "datatype": "FP64", "data": NEST}]}'),
    ("/v2/models/m/versions/1/infer", '{"inputs": NEST}'),
    ("/deployments/m/invocations", '{"dataframe_records": [{"a": NEST}]}'),
    ("/invocations", '{"instances": NEST}'),
    ("/v1/models/m:predict", '{"instances": NEST}'),
]
# Routes whose bodies FastAPI parses, each with a field that takes any JSON or a typed one.
JSON_BODIES = [
    ("/v1/chat/completions", '{"model": "chat", "messages": [{"role": "user", "content": "hi"}], "metadata": NEST}'),
    ("/v1/embeddings", '{"model": "embed", "input": NEST}'),
    ("/v1/collections/docs/documents", '{"documents": [{"id": "a", "text": "t", "metadata": {"m": NEST}}]}'),
    ("/v1/deployments/d/labels", '{"labels": [{"prediction_id": "prd_x", "label": NEST}]}'),
    ("/v1/jobs", '{"kind": "maintenance.cleanup", "payload": {"p": NEST}}'),
    ("/v1/prompts/rag-answer/versions/latest/render", '{"variables": {"question": NEST}}'),
]


def _protocol_message(path: str, body: dict[str, object]) -> str:
    if path.endswith("/invocations"):  # MLflow's scoring server: {"error_code", "message"}
        assert body["error_code"] == "BAD_REQUEST"
        return str(body["message"])
    return str(body["error"])  # Open Inference Protocol v2 and KServe V1: {"error": "…"}


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)  # no store involved
@pytest.mark.parametrize("depth", [65, 100_000])
@pytest.mark.parametrize(("path", "template"), INFERENCE_BODIES, ids=[p for p, _ in INFERENCE_BODIES])
def test_json_nested_too_deep_is_400_on_every_inference_route(
    live: LiveServer, path: str, template: str, depth: int
) -> None:
    """Found by the security audit: 1,000 levels were a RecursionError in json.loads, a 500."""
    headers = {**live.key(Role.VIEWER), "Content-Type": "application/json"}
    response = live.client.post(path, content=template.replace("NEST", nested(depth)), headers=headers)
    assert response.status_code == 400, response.text
    assert "at most 64 are accepted" in _protocol_message(path, response.json())


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("content_type", ["application/json", "text/plain", None])
def test_inference_routes_hold_any_content_type_to_the_limit(live: LiveServer, content_type: str | None) -> None:
    """They parse JSON whatever the content type says; the limit is exact (64 levels pass)."""
    headers = live.key(Role.VIEWER) | ({"Content-Type": content_type} if content_type else {})
    deep = live.client.post("/v1/models/m:predict", content=f'{{"instances": {nested(1000)}}}', headers=headers)
    assert deep.status_code == 400 and "nests 1001 levels" in deep.json()["error"], deep.text
    at_limit = live.client.post("/v1/models/m:predict", content=f'{{"instances": {nested(63)}}}', headers=headers)
    assert at_limit.status_code == 404, at_limit.text  # past the check: no deployment `m`


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize("depth", [65, 100_000])
@pytest.mark.parametrize(("path", "template"), JSON_BODIES, ids=[p for p, _ in JSON_BODIES])
def test_json_nested_too_deep_is_400_on_every_json_route(
    live: LiveServer, path: str, template: str, depth: int
) -> None:
    headers = {**live.key(), "Content-Type": "application/json"}
    response = live.client.post(path, content=template.replace("NEST", nested(depth)), headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "nesting_too_deep" and "at most 64 are accepted" in error["message"]
    if path in ("/v1/chat/completions", "/v1/embeddings"):
        assert error["type"] == "invalid_request_error"  # OpenAI's envelope there


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_brackets_in_strings_do_not_count(live: LiveServer) -> None:
    headers = live.key()
    text = "[{" * 100 + '"\\' * 10
    response = live.client.post(
        "/v1/jobs", json={"kind": "maintenance.cleanup", "payload": {"t": text}}, headers=headers
    )
    assert response.status_code == 202, response.text[:200]


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_input_too_deep_for_the_interpreter_is_400_not_500(live: LiveServer) -> None:
    """The backstop: nesting that is not JSON (a template's parentheses) overflows recursive code."""
    template = "{{ " + "(" * 1000 + "1" + ")" * 1000 + " }}"
    response = live.client.post("/v1/prompts", json={"name": "deep", "template": template}, headers=live.key())
    assert response.status_code == 400, response.text
    assert response.json()["error"]["message"]


# -- integers the store holds ---------------------------------------------------------------------

# (method, path, body, query): each carries an integer past the column it would reach.
OUT_OF_RANGE = [
    ("PUT", "/v1/prompts/p/labels/production", {"version": HUGE}, None),
    ("PUT", "/v1/prompts/p/labels/production", {"version": PAST_INTEGER}, None),
    ("PUT", "/v1/projects/default/budgets/day", {"max_tokens": PAST_BIGINT}, None),
    ("PUT", "/v1/registry/models/m/aliases/champion", {"version": HUGE}, None),
    ("POST", f"/v1/registry/models/m/versions/{HUGE}/approve", {}, None),
    ("POST", f"/v1/registry/models/m/versions/{PAST_INTEGER}/reject", {"reason": "no"}, None),
    ("POST", f"/v1/registry/models/m/versions/{HUGE}/tags", {"key": "k", "value": "v"}, None),
    ("PUT", "/v1/deployments/d/canary", {"version": HUGE, "percent": 10}, None),
    ("PUT", "/v1/deployments/d/shadow", {"version": PAST_INTEGER}, None),
    ("GET", "/v1/deployments/d/predictions", None, {"version": str(HUGE)}),
    ("POST", "/v1/monitors", {"name": "m", "deployment": "d", "reference": {"version": HUGE}}, None),
    ("POST", "/v1/monitors", {"name": "m", "collection": "c", "min_rows": PAST_INTEGER}, None),
    ("GET", f"/v2/models/d/versions/{HUGE}", None, None),
    ("POST", f"/v2/models/d/versions/{PAST_INTEGER}/infer", {"inputs": []}, None),
]


@pytest.mark.parametrize(
    ("method", "path", "body", "query"), OUT_OF_RANGE, ids=[f"{m} {p}" for m, p, *_ in OUT_OF_RANGE]
)
def test_integers_past_their_column_are_422_naming_the_field(
    live: LiveServer, method: str, path: str, body: object, query: dict[str, str] | None
) -> None:
    """Found by the security audit: on SQLite a 500 (OverflowError), on PostgreSQL a 400 or 404."""
    headers = live.key()
    assert live.client.post("/v1/prompts", json={"name": "p", "template": "hi"}, headers=headers).status_code == 201
    response = live.client.request(method, path, json=body, params=query, headers=headers)
    assert response.status_code == 422, response.text
    limit = "9223372036854775807" if "budgets" in path else "2147483647"
    if path.startswith("/v2/"):
        assert f"less than or equal to {limit}" in response.json()["error"]
    else:
        error = response.json()["error"]
        assert error["code"] == "invalid_request" and f"less than or equal to {limit}" in error["message"]


@pytest.mark.parametrize(
    ("path", "query"),
    [
        (f"/v1/prompts/p/versions/{HUGE}", None),
        (f"/v1/prompts/p/versions/{PAST_INTEGER}", None),
        ("/v1/prompts/p/diff", {"from": "1", "to": str(HUGE)}),
        (f"/v1/registry/models/m/versions/{HUGE}", None),
    ],
)
def test_version_numbers_in_references_are_400_naming_the_range(
    live: LiveServer, path: str, query: dict[str, str] | None
) -> None:
    headers = live.key()
    assert live.client.post("/v1/prompts", json={"name": "p", "template": "hi"}, headers=headers).status_code == 201
    response = live.client.get(path, params=query, headers=headers)
    assert response.status_code == 400, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input" and "version numbers are 1 to 2147483647" in error["message"]
    render = live.client.post(f"/v1/prompts/p/versions/{HUGE}/render", json={}, headers=headers)
    assert render.status_code == 400 and render.json()["error"]["code"] == "invalid_input"


def test_digits_that_are_not_ascii_name_a_label(live: LiveServer) -> None:
    """`"²".isdigit()` is true and `int("²")` fails: that was a 500."""
    headers = live.key()
    live.client.post("/v1/prompts", json={"name": "p", "template": "hi"}, headers=headers)
    response = live.client.get("/v1/prompts/p/versions/²", headers=headers)
    assert response.status_code == 404 and "no label '²'" in response.json()["error"]["message"]


# -- cursors --------------------------------------------------------------------------------------

TRACE_ID = new_id("trc")
# (listing, cursors it must refuse): garbage, empty, cut short, another listing's, out of range.
BAD_CURSORS = {
    "/v1/alerts": ["abc", "", "alr_01J9ZK8T0C2B6W4Y7Q3M5N8P", TRACE_ID],
    "/v1/collections/docs/documents": ["", "   ", "x" * 513],
    "/v1/audit": ["abc", "", "aud_01j9zk8t0c2b6w4y7q3m5n8p1r", TRACE_ID],
    "/v1/jobs": ["abc", "", "zzz", f"{new_id('job')} ", TRACE_ID],
    "/v1/monitors/qs/results": ["abc", "", TRACE_ID],
    "/v1/traces": ["abc", "", new_id("job")],
    "/v1/requests": ["abc", "", "-1", "1.5", str(HUGE)],
}
GOOD_CURSORS = {
    "/v1/alerts": new_id("alr"),
    "/v1/collections/docs/documents": "any document id",
    "/v1/audit": new_id("aud"),
    "/v1/jobs": new_id("job"),
    "/v1/monitors/qs/results": new_id("mrs"),
    "/v1/traces": TRACE_ID,
    "/v1/requests": "12",
}


@pytest.mark.parametrize("path", list(BAD_CURSORS))
def test_malformed_cursors_are_400_on_every_listing(live: LiveServer, path: str) -> None:
    """Found by the security audit: all but /v1/requests answered 200 with an arbitrary page."""
    editor = live.key(Role.EDITOR)
    if "docs" in path or "qs" in path:
        assert live.client.post("/v1/collections", json={"name": "docs"}, headers=editor).status_code == 201
        monitor = {"name": "qs", "collection": "docs", "window": "1d"}
        assert live.client.post("/v1/monitors", json=monitor, headers=editor).status_code == 201
    for cursor in BAD_CURSORS[path]:
        response = live.client.get(path, params={"cursor": cursor}, headers=editor)
        assert response.status_code == 400, (cursor, response.text)
        error = response.json()["error"]
        assert error["code"] == "invalid_cursor" and "invalid cursor" in error["message"], error
        assert "pass back the next_cursor of the previous page" in error["message"]
    good = live.client.get(path, params={"cursor": GOOD_CURSORS[path]}, headers=editor)
    assert good.status_code == 200, good.text  # a position that fits: the rows after it (none here)


@pytest.fixture
def cli(cli: CliRunner) -> CliRunner:
    """The shared `cli` fixture, on a migrated store."""
    assert cli.invoke(app, ["db", "upgrade"]).exit_code == 0
    return cli


def test_the_cli_refuses_the_same_input_in_one_line(cli: CliRunner) -> None:
    assert cli.invoke(app, ["collections", "create", "docs"]).exit_code == 0
    refused = [
        (["jobs", "list", "--cursor", "abc"], "invalid cursor 'abc'"),
        (["requests", "list", "--cursor", "abc"], "invalid cursor 'abc'"),
        (["documents", "list", "-c", "docs", "--cursor", ""], "invalid cursor ''"),
        (["prompts", "show", f"rag-answer@{HUGE}"], "version numbers are 1 to 2147483647"),
        (
            ["budgets", "set", "default", "day", "--max-tokens", str(PAST_BIGINT)],
            "max_tokens: Input should be less than or equal to 9223372036854775807",
        ),  # the API's words
    ]
    for args, message in refused:
        result = cli.invoke(app, args)
        assert result.exit_code == 1, (args, result.output)
        assert result.stderr.startswith("error: ") and message in result.stderr, (args, result.stderr)
    page = json.loads(cli.invoke(app, ["jobs", "list", "--cursor", new_id("job"), "--json"]).stdout)
    assert page == {"data": [], "next_cursor": None}
