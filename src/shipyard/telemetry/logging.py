"""structlog set-up: one JSON object per line on stderr, with the request's trace id bound."""

from __future__ import annotations

import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar
from typing import Any

import structlog

# The current request's trace id; every log line written while it is set carries it. One
# ContextVar is cheaper per request than structlog's bind/reset of contextvars.
TRACE_ID: ContextVar[str | None] = ContextVar("shipyard_trace_id", default=None)

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def configure_logging(level: str = "info", fmt: str = "json") -> None:
    """Configure structlog and route stdlib logging (uvicorn, alembic) through the same renderer."""
    numeric = _LEVELS[level]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer()
        if fmt == "json"
        # Plain tracebacks: the default (rich) one prints every frame's locals, and those hold
        # requests' Authorization headers, keys and tenant data.
        else structlog.dev.ConsoleRenderer(colors=False, exception_formatter=structlog.dev.plain_traceback)
    )
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        _add_trace_id,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    structlog.configure(
        processors=[*shared, structlog.processors.format_exc_info, renderer],
        wrapper_class=structlog.make_filtering_bound_logger(numeric),
        logger_factory=structlog.PrintLoggerFactory(_STDERR),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(_STDERR)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, renderer],
            foreign_pre_chain=[*shared, structlog.stdlib.add_logger_name],
        )
    )
    root = logging.getLogger()
    root.handlers = [handler]
    root.setLevel(numeric)
    for name in ("uvicorn", "uvicorn.error", "alembic"):
        logging.getLogger(name).handlers = []
        logging.getLogger(name).propagate = True
    # httpx logs every request's full URL at INFO (httpcore its connections at DEBUG): webhook
    # and notifier URLs carry tokens and credentials, so their lines stay out of the log whatever
    # SHIPYARD_LOG_LEVEL says. shipyard logs its own outbound failures without the URL's secrets.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)


class _Stderr:
    """Whatever `sys.stderr` is when a line is written. Loggers are cached and background threads
    (deliveries, writers) outlive the command that started them: a stream captured once could be a
    test runner's, long closed — and a log line must never land on stdout, where output is data."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


_STDERR: Any = _Stderr()


def _add_trace_id(_logger: Any, _method: str, event: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    trace_id = TRACE_ID.get()
    if trace_id is not None:
        event.setdefault("trace_id", trace_id)
    return event
