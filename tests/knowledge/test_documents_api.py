"""Ingest and search over HTTP: JSON documents, file uploads and URLs as jobs; bad input → 4xx."""

from __future__ import annotations

import http.server
import threading
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from shipyard.auth import Role
from shipyard.knowledge.archives import MAX_RATIO, MIB
from shipyard.platform import build_platform
from shipyard.store import upgrade
from tests.conftest import LiveServer, make_settings, serve, wait_until
from tests.knowledge.test_archives import bomb_docx

GUIDE = """# Deploy guide

## Rollback

Run `shipyard deploy rollback NAME` to return to the previous version instantly.

## Canary

A canary takes a percentage of traffic, sticky per request key.
"""


def _job(live: LiveServer, headers: dict[str, str], job_id: str) -> dict[str, Any]:
    def finished() -> bool:
        return live.client.get(f"/v1/jobs/{job_id}", headers=headers).json()["status"] in ("succeeded", "failed")

    wait_until(finished, timeout=60)
    job: dict[str, Any] = live.client.get(f"/v1/jobs/{job_id}", headers=headers).json()
    assert job["status"] == "succeeded", job
    return job


def _ingest(live: LiveServer, headers: dict[str, str], collection: str, **kwargs: Any) -> dict[str, Any]:
    response = live.client.post(f"/v1/collections/{collection}/documents", headers=headers, **kwargs)
    assert response.status_code == 202, response.text
    return _job(live, headers, response.json()["id"])


def test_json_ingest_search_list_delete(live: LiveServer) -> None:
    editor = live.key(Role.EDITOR)
    viewer = live.key(Role.VIEWER)
    assert live.client.post("/v1/collections", json={"name": "ops"}, headers=editor).status_code == 201
    documents = [
        {"id": "deploy/guide.md", "title": "Deploy guide", "text": GUIDE, "metadata": {"area": "deploy"}},
        {"id": "alerts", "text": "Alerts page the on-call engineer when the error budget burns fast.",
         "metadata": {"area": "alerts", "level": 2}},
    ]  # fmt: skip
    job = _ingest(live, editor, "ops", json={"documents": documents})
    assert job["result"] == {
        "documents": {"created": 2, "updated": 0, "unchanged": 0, "failed": 0},
        "chunks": 3,  # the guide's two sections (its title heading opens the first) and the alert
        "errors": [],
    }
    assert job["progress_done"] == job["progress_total"] == 2

    found = live.client.post(
        "/v1/collections/ops/search", json={"query": "how do I roll back a release?", "top_k": 2}, headers=viewer
    )
    assert found.status_code == 200, found.text
    top = found.json()["results"][0]
    assert top["document_id"] == "deploy/guide.md" and top["heading_path"] == ["Deploy guide", "Rollback"]
    assert GUIDE[top["span"][0] : top["span"][1]] == top["text"]
    assert top["title"] == "Deploy guide" and top["metadata"] == {"area": "deploy"}
    assert top["chunk_id"].startswith("chk_") and top["score"] > 0

    filtered = live.client.post(
        "/v1/collections/ops/search",
        json={"query": "rollback", "mode": "lexical", "filter": {"area": "alerts"}},
        headers=viewer,
    )
    assert filtered.json() == {"results": []}

    again = _ingest(live, editor, "ops", json={"documents": documents})
    assert again["result"]["documents"] == {"created": 0, "updated": 0, "unchanged": 2, "failed": 0}

    listed = live.client.get("/v1/collections/ops/documents", params={"limit": 1}, headers=viewer).json()
    assert [d["id"] for d in listed["data"]] == ["alerts"] and listed["next_cursor"] == "alerts"
    rest = live.client.get("/v1/collections/ops/documents", params={"cursor": "alerts"}, headers=viewer).json()
    assert [(d["id"], d["chunk_count"]) for d in rest["data"]] == [("deploy/guide.md", 2)]
    one = live.client.get("/v1/collections/ops/documents/deploy/guide.md", headers=viewer).json()
    assert one["title"] == "Deploy guide" and len(one["content_hash"]) == 64

    assert live.client.delete("/v1/collections/ops/documents/deploy/guide.md", headers=viewer).status_code == 403
    assert live.client.delete("/v1/collections/ops/documents/deploy/guide.md", headers=editor).status_code == 200
    after = live.client.post("/v1/collections/ops/search", json={"query": "roll back a release"}, headers=viewer)
    assert [r["document_id"] for r in after.json()["results"]] == ["alerts"]
    gone = live.client.get("/v1/collections/ops/documents/deploy/guide.md", headers=viewer)
    assert gone.status_code == 404 and gone.json()["error"]["code"] == "document_not_found"


def test_uploads_report_bad_files_and_ingest_the_rest(live: LiveServer) -> None:
    editor = live.key(Role.EDITOR)
    live.client.post("/v1/collections", json={"name": "files"}, headers=editor)
    files = [
        ("files", ("guide.md", GUIDE.encode(), "text/markdown")),
        ("files", ("page.html", b"<html><body><nav>Menu</nav><main><p>Canaries are sticky.</p></main>"
                   b"<script>evil()</script></body></html>", "text/html")),
        ("files", ("faq.csv", b"id,question,text\nq1,Refunds?,Refunds take five days.\nq2,Hours?,We open at nine.\n",
                   "text/csv")),
        ("files", ("broken.pdf", b"%PDF-1.4 this is not really a pdf", "application/pdf")),
        ("files", ("tool.exe", b"MZ\x90\x00binary", "application/octet-stream")),
        ("files", ("../../etc/notes.txt", b"Uploads never escape.", "text/plain")),
    ]  # fmt: skip
    job = _ingest(live, editor, "files", files=files, data={"text_field": "text"})
    result = job["result"]
    assert result["documents"] == {"created": 5, "updated": 0, "unchanged": 0, "failed": 2}
    errors = {e["item"]: e["error"] for e in result["errors"]}
    assert set(errors) == {"broken.pdf", "tool.exe"}
    assert errors["tool.exe"].startswith("tool.exe: unsupported file type .exe; supported:")
    assert errors["broken.pdf"].startswith("broken.pdf: cannot be read as pdf")
    ids = {d["id"] for d in live.client.get("/v1/collections/files/documents", headers=editor).json()["data"]}
    assert ids == {"guide.md", "page.html", "q1", "q2", "etc/notes.txt"}
    q1 = live.client.get("/v1/collections/files/documents/q1", headers=editor).json()
    assert q1["source"] == "faq.csv" and q1["metadata"] == {"question": "Refunds?"}
    hits = live.client.post(
        "/v1/collections/files/search", json={"query": "evil", "mode": "lexical"}, headers=editor
    ).json()["results"]
    assert hits == []  # scripts were not indexed


@pytest.mark.parametrize("backend", ["sqlite"], indirect=True)  # refused before the store: one backend will do
def test_a_docx_bomb_fails_alone_once_in_little_memory(live: LiveServer) -> None:
    editor = live.key(Role.EDITOR)
    live.client.post("/v1/collections", json={"name": "inbox"}, headers=editor)
    files = [
        ("files", ("bomb.docx", bomb_docx(300 * MIB), "application/octet-stream")),
        ("files", ("guide.md", GUIDE.encode(), "text/markdown")),
    ]
    tracemalloc.start()  # the worker runs in this process: its allocations are traced too
    try:
        job = _ingest(live, editor, "inbox", files=files)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert job["result"]["documents"] == {"created": 1, "updated": 0, "unchanged": 0, "failed": 1}
    (error,) = job["result"]["errors"]
    assert error["item"] == "bomb.docx"
    assert error["error"].startswith("bomb.docx: member word/document.xml inflates ")
    assert f"over the limit of {MAX_RATIO}:1" in error["error"]
    assert job["attempts"] == 1 < job["max_attempts"]  # a per-file failure: the job succeeded, no retry
    assert peak < 64 * MIB  # the bomb inflates to 300 MiB


@pytest.mark.parametrize(
    ("body", "status", "message"),
    [
        ({"documents": []}, 400, "nothing to ingest: send documents, urls or files"),
        ({"documents": [{"id": "a", "text": "x"}, {"id": "a", "text": "y"}]}, 400,
         "documents[1]: duplicate document id 'a' in this request"),
        ({"documents": [{"id": "a", "text": "  "}]}, 400, "documents[0] ('a'): text is empty"),
        ({"documents": [{"id": "a", "text": "x", "metadata": {"tags": ["a"]}}]}, 422, "invalid request: "),
        ({"documents": [{"text": "x"}]}, 422, "invalid request: body.documents.0.id: Field required"),
        ({"urls": ["file:///etc/passwd"]}, 400, "urls[0]: expected an http(s) URL"),
        ({"documents": [{"id": "a", "text": "x"}], "extra": 1}, 422, "invalid request: body.extra"),
    ],
)  # fmt: skip
def test_bad_ingest_requests(live: LiveServer, body: dict[str, Any], status: int, message: str) -> None:
    editor = live.key(Role.EDITOR)
    live.client.post("/v1/collections", json={"name": "kb"}, headers=editor)
    response = live.client.post("/v1/collections/kb/documents", json=body, headers=editor)
    assert response.status_code == status, response.text
    assert response.json()["error"]["message"].startswith(message), response.json()


def test_other_bad_requests(live: LiveServer) -> None:
    editor = live.key(Role.EDITOR)
    live.client.post("/v1/collections", json={"name": "kb"}, headers=editor)
    post = live.client.post
    as_json = {**editor, "content-type": "application/json"}
    cases = [
        (post("/v1/collections/nope/documents", json={"documents": [{"id": "a", "text": "x"}]}, headers=editor),
         404, "collection_not_found"),
        (post("/v1/collections/kb/documents", content=b"hello", headers={**editor, "content-type": "text/plain"}),
         415, "unsupported_media_type"),
        (post("/v1/collections/kb/documents", content=b"{not json", headers=as_json),
         400, "malformed_json"),
        (post("/v1/collections/kb/documents", files={"other": ("a.txt", b"x")}, headers=editor), 400, "invalid_input"),
        (post("/v1/collections/kb/documents", json={"documents": [{"id": "a", "text": "x"}]},
              headers=live.key(Role.VIEWER)), 403, "forbidden"),
        (post("/v1/collections/kb/search", json={"query": "x", "top_k": 0}, headers=editor), 422, "invalid_request"),
        (post("/v1/collections/kb/search", json={"query": ""}, headers=editor), 422, "invalid_request"),
        (post("/v1/collections/kb/search", json={"query": "x", "mode": "fuzzy"}, headers=editor), 422,
         "invalid_request"),
        (post("/v1/collections/kb/search", json={"query": "x", "filter": {"a": {"$regex": "x"}}}, headers=editor),
         400, "invalid_input"),
        (post("/v1/collections/nope/search", json={"query": "x"}, headers=editor), 404, "collection_not_found"),
    ]  # fmt: skip
    for response, status, code in cases:
        assert (response.status_code, response.json()["error"]["code"]) == (status, code), response.text


def test_search_unknown_filter_field_and_other_projects(live: LiveServer) -> None:
    editor = live.key(Role.EDITOR)
    live.client.post("/v1/collections", json={"name": "kb"}, headers=editor)
    _ingest(live, editor, "kb", json={"documents": [{"id": "a", "text": "Secret plans.", "metadata": {"team": "x"}}]})
    unknown = live.client.post(
        "/v1/collections/kb/search", json={"query": "plans", "filter": {"tem": "x"}}, headers=editor
    )
    assert unknown.status_code == 400
    assert unknown.json()["error"]["message"] == (
        "unknown filter field 'tem'; fields in this collection: document_id, source, team, title"
    )
    live.services.access.create_project("other")
    outsider = live.key(Role.ADMIN, project="other")
    assert live.client.post("/v1/collections/kb/search", json={"query": "plans"}, headers=outsider).status_code == 404
    live.client.post("/v1/collections", json={"name": "kb"}, headers=outsider)
    mine = live.client.post("/v1/collections/kb/search", json={"query": "plans"}, headers=outsider)
    assert mine.json() == {"results": []}


@contextmanager
def _http_site(pages: dict[str, tuple[str, bytes]]) -> Iterator[str]:
    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 - the stdlib's name
            if self.path not in pages:
                self.send_error(404)
                return
            content_type, body = pages[self.path]
            self.send_response(200)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_url_ingest_is_ssrf_checked(tmp_path: Path, database_url: str, vector_url: str) -> None:
    pages = {"/post": ("text/html", b"<html><body><article><p>Feature flags roll out gradually.</p></article>"
                                     b"</body></html>")}  # fmt: skip
    with _http_site(pages) as site:
        for allow, expect in ([], "refused"), (["127.0.0.1/32"], "ok"):
            settings = make_settings(tmp_path, database_url, vector_url=vector_url, url_allow_networks=allow)
            services = build_platform(settings)
            upgrade(services.database)
            with serve(services) as live:
                editor = live.key(Role.EDITOR)
                live.client.post("/v1/collections", json={"name": f"web{len(allow)}"}, headers=editor)
                job = _ingest(live, editor, f"web{len(allow)}", json={"urls": [f"{site}/post", f"{site}/missing"]})
                errors = {e["item"]: e["error"] for e in job["result"]["errors"]}
                if expect == "refused":
                    assert job["result"]["documents"]["failed"] == 2
                    assert (
                        "127.0.0.1" in errors[f"{site}/post"]
                        and "SHIPYARD_URL_ALLOW_NETWORKS" in errors[f"{site}/post"]
                    )
                else:
                    assert job["result"]["documents"]["created"] == 1
                    assert "404" in errors[f"{site}/missing"]
                    hits = live.client.post(
                        f"/v1/collections/web{len(allow)}/search", json={"query": "feature flags"}, headers=editor
                    ).json()["results"]
                    assert hits[0]["document_id"] == f"{site}/post" and hits[0]["source"] == f"{site}/post"
            services.close()
