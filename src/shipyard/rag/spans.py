"""Timed steps of one call, recorded as it runs (the trace's spans)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Span:
    name: str
    start_ms: float  # since the call began
    duration_ms: float = 0.0
    attributes: dict[str, Any] = field(default_factory=dict)
    error: str | None = None


class Spans:
    def __init__(self) -> None:
        self._origin = time.perf_counter()
        self.items: list[Span] = []

    @contextmanager
    def span(self, name: str, **attributes: Any) -> Iterator[Span]:
        """Time the block; an exception escaping it is noted on the span and re-raised."""
        span = Span(name, round((time.perf_counter() - self._origin) * 1000, 3), attributes=dict(attributes))
        self.items.append(span)
        try:
            yield span
        except BaseException as exc:
            span.error = getattr(exc, "code", type(exc).__name__)
            raise
        finally:
            span.duration_ms = round((time.perf_counter() - self._origin) * 1000 - span.start_ms, 3)

    def elapsed_ms(self) -> float:
        return round((time.perf_counter() - self._origin) * 1000, 3)
