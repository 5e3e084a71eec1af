"""Traces exported over OTLP/HTTP to a real receiver decoding the OpenTelemetry protobuf."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)

from shipyard.ids import DEFAULT_PROJECT_ID
from shipyard.platform import build_platform
from shipyard.store import upgrade
from tests.chat_upstream import ChatUpstream, chat_upstream
from tests.conftest import LiveServer, serve, wait_until
from tests.rag.conftest import DOCS, rag_settings


@pytest.fixture
def collector() -> Iterator[tuple[str, list[Any]]]:
    spans: list[Any] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            assert self.path == "/v1/traces" and self.headers["Content-Type"] == "application/x-protobuf"
            request = ExportTraceServiceRequest.FromString(self.rfile.read(int(self.headers["Content-Length"])))
            for resource in request.resource_spans:
                service = {a.key: a.value.string_value for a in resource.resource.attributes}["service.name"]
                for scope in resource.scope_spans:
                    spans.extend((service, span) for span in scope.spans)
            body = ExportTraceServiceResponse().SerializeToString()
            self.send_response(200)
            self.send_header("Content-Type", "application/x-protobuf")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}", spans
    server.shutdown()
    server.server_close()


@pytest.fixture
def upstream() -> Iterator[ChatUpstream]:
    with chat_upstream() as server:
        yield server


def attributes(span: Any) -> dict[str, Any]:
    values = {}
    for item in span.attributes:
        value = item.value
        values[item.key] = value.string_value or value.int_value or value.double_value or value.bool_value
    return values


def test_an_ask_is_exported_as_spans_in_the_callers_trace(
    tmp_path: Path, collector: tuple[str, list[Any]], upstream: ChatUpstream
) -> None:
    endpoint, spans = collector
    settings = rag_settings(tmp_path, f"sqlite:///{tmp_path / 'o.db'}", upstream, otlp_endpoint=endpoint)
    services = build_platform(settings)
    upgrade(services.database)
    services.ingester.ingest(services.collections.create(DEFAULT_PROJECT_ID, "handbook"), DOCS)
    upstream.script("m1", "say:Run shipyard rollback [1].")
    trace_id = "4bf92f3577b34da6a3ce929d0e0e4736"
    with serve(services) as live:
        live_server: LiveServer = live
        headers = {**live_server.key("viewer"), "traceparent": f"00-{trace_id}-00f067aa0ba902b7-01"}
        body = {"collection": "handbook", "question": "How do I roll back a deployment?", "model": "chat"}
        asked = live_server.client.post("/v1/ask", json=body, headers=headers).json()
        wait_until(lambda: len(spans) >= 6, timeout=15)
    names = sorted(span.name for _, span in spans)
    assert names == sorted(["ask", "retrieve", "pack", "render", "chat chat", "cite"])
    assert {service for service, _ in spans} == {"shipyard"}
    assert {span.trace_id.hex() for _, span in spans} == {trace_id}  # joined the caller's trace
    root = next(span for _, span in spans if span.name == "ask")
    assert attributes(root)["shipyard.trace_id"] == asked["trace_id"]
    llm = next(span for _, span in spans if span.name == "chat chat")
    assert llm.parent_span_id == root.span_id
    expected = {"gen_ai.operation.name": "chat", "gen_ai.request.model": "chat", "gen_ai.response.model": "m1",
                "gen_ai.provider.name": "local", "gen_ai.usage.input_tokens": 11}  # fmt: skip
    assert attributes(llm).items() >= expected.items()  # the GenAI semantic conventions
    assert root.start_time_unix_nano <= llm.start_time_unix_nano <= llm.end_time_unix_nano <= root.end_time_unix_nano
