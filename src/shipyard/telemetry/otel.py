"""OpenTelemetry export of ask and chat traces over OTLP/HTTP, when SHIPYARD_OTLP_ENDPOINT is set.

Spans are made from the trace records after the call — a record already holds every step's
start and duration — on a background thread, so the request path only queues the record (the
same O(1) put as the store's trace writer). Each call becomes one span (`ask` or `chat`) with its
steps as children; the LLM step carries the GenAI semantic-convention attributes
(`gen_ai.operation.name`, `gen_ai.request.model`, `gen_ai.response.model`, `gen_ai.provider.name`,
`gen_ai.usage.input_tokens`, `gen_ai.usage.output_tokens`, `error.type`). Spans join the caller's
W3C trace (the request's `traceparent` trace id), so a collector shows them under the client's
own trace. Without an endpoint nothing here runs: the spans live in the store's traces.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence
from typing import Any

from shipyard.telemetry.batching import BatchWriter
from shipyard.telemetry.traces import TraceRecord

SERVICE_NAME = "shipyard"


class OtlpExporter:
    def __init__(self, endpoint: str, *, flush_seconds: float = 0.5, max_queue: int = 10_000) -> None:
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
        from opentelemetry.sdk.resources import Resource
        from opentelemetry.sdk.trace import TracerProvider
        from opentelemetry.sdk.trace.export import BatchSpanProcessor

        # Our own provider, not the global one: two apps in one process (tests) never share it.
        provider = TracerProvider(resource=Resource.create({"service.name": SERVICE_NAME}), shutdown_on_exit=False)
        exporter = OTLPSpanExporter(endpoint=endpoint.rstrip("/") + "/v1/traces", timeout=10)
        # Room for bursts: a flush of 200 traces is ~1,200 spans, and the SDK drops what does not fit.
        self._processor = BatchSpanProcessor(
            exporter, schedule_delay_millis=int(flush_seconds * 1000), max_queue_size=65_536, max_export_batch_size=1024
        )
        provider.add_span_processor(self._processor)
        self._provider = provider
        self._tracer = provider.get_tracer("shipyard")
        self.writer: BatchWriter[TraceRecord] = BatchWriter(
            "otlp", self._emit, max_queue=max_queue, max_batch=200, interval=flush_seconds
        )

    def observe(self, trace: TraceRecord) -> None:
        """O(1) on the request path: the record is turned into spans on the writer's thread."""
        self.writer.put(trace)

    def start(self) -> None:
        self.writer.start()

    def flush(self) -> None:
        self.writer.flush()
        self._processor.force_flush()

    def close(self, timeout: float = 5.0) -> None:
        self.writer.close(timeout)
        self._processor.force_flush(int(timeout * 1000))
        self._provider.shutdown()

    def _emit(self, traces: Sequence[TraceRecord]) -> None:
        for trace in traces:
            self._spans(trace)

    def _spans(self, trace: TraceRecord) -> None:
        from opentelemetry import trace as otel
        from opentelemetry.trace import NonRecordingSpan, SpanContext, SpanKind, Status, StatusCode, TraceFlags

        start = int(trace.started_at.timestamp() * 1e9)
        parent = None
        if trace.otel_trace_id and len(trace.otel_trace_id) == 32:
            remote = SpanContext(
                int(trace.otel_trace_id, 16),
                int(secrets.token_hex(8), 16),
                is_remote=True,
                trace_flags=TraceFlags(TraceFlags.SAMPLED),
            )
            parent = otel.set_span_in_context(NonRecordingSpan(remote))
        root = self._tracer.start_span(
            trace.kind, context=parent, kind=SpanKind.SERVER, start_time=start, attributes=_root_attributes(trace)
        )
        if trace.status == "error":
            root.set_status(Status(StatusCode.ERROR, trace.error_code or "error"))
        inside = otel.set_span_in_context(root)
        for step in (trace.details or {}).get("spans") or []:
            begin = start + int(float(step["start_ms"]) * 1e6)
            attributes = _llm_attributes(trace) if step["name"] == "llm" else _step_attributes(step)
            name = f"chat {trace.model}" if step["name"] == "llm" else step["name"]
            span = self._tracer.start_span(
                name,
                context=inside,
                kind=SpanKind.CLIENT if step["name"] == "llm" else SpanKind.INTERNAL,
                start_time=begin,
                attributes=attributes,
            )
            if step.get("error"):
                span.set_attribute("error.type", str(step["error"]))
                span.set_status(Status(StatusCode.ERROR, str(step["error"])))
            span.end(end_time=begin + int(float(step["duration_ms"]) * 1e6))
        root.end(end_time=start + int(trace.duration_ms * 1e6))


def _root_attributes(trace: TraceRecord) -> dict[str, Any]:
    values = {
        "shipyard.trace_id": trace.id,
        "shipyard.kind": trace.kind,
        "shipyard.status": trace.status,
        "shipyard.collection": trace.collection,
        "shipyard.model": trace.model,
        "shipyard.prompt": trace.prompt,
        "shipyard.cost": trace.cost,
        "shipyard.cache_hit": trace.cache_hit,
        "error.type": trace.error_code,
    }
    return {k: v for k, v in values.items() if v is not None}


def _llm_attributes(trace: TraceRecord) -> dict[str, Any]:
    provider, _, response_model = (trace.provider_model or "").partition("/")
    values = {
        "gen_ai.operation.name": "chat",
        "gen_ai.request.model": trace.model,
        "gen_ai.response.model": response_model or None,
        "gen_ai.provider.name": provider or None,
        "gen_ai.usage.input_tokens": trace.input_tokens,
        "gen_ai.usage.output_tokens": trace.output_tokens,
        "error.type": trace.error_code,
    }
    return {k: v for k, v in values.items() if v is not None}


def _step_attributes(step: dict[str, Any]) -> dict[str, Any]:
    return {
        f"shipyard.{k}": v for k, v in (step.get("attributes") or {}).items() if isinstance(v, (str, int, float, bool))
    }
