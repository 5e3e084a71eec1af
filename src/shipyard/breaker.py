"""A circuit breaker: stop sending requests to a peer that keeps failing (an LLM provider
model, a webhook or notifier receiver).

Closed: requests flow; `failures` consecutive failures open it. Open: requests skip it for
`reset_seconds`. Half-open: then one trial request is let through; success closes it, failure opens
it again for another `reset_seconds`. State is per process (each API replica learns on its own —
a shared breaker would need a round trip to Redis on every call).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Literal

State = Literal["closed", "open", "half_open"]


class CircuitBreaker:
    def __init__(self, failures: int = 5, reset_seconds: float = 30.0, clock: Callable[[], float] = time.monotonic):
        if failures < 1:
            raise ValueError(f"failures must be >= 1, got {failures}")
        self._threshold = failures
        self._reset = reset_seconds
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._opened_at: float | None = None
        self._trial_running = False

    @property
    def state(self) -> State:
        with self._lock:
            return self._state()

    def _state(self) -> State:
        if self._opened_at is None:
            return "closed"
        return "half_open" if self._clock() - self._opened_at >= self._reset else "open"

    def allow(self) -> bool:
        """Whether a request may go now; a half-open breaker lets exactly one trial through."""
        with self._lock:
            state = self._state()
            if state == "closed":
                return True
            if state == "half_open" and not self._trial_running:
                self._trial_running = True
                return True
            return False

    def succeeded(self) -> None:
        with self._lock:
            self._failures = 0
            self._opened_at = None
            self._trial_running = False

    def failed(self) -> None:
        with self._lock:
            self._failures += 1
            if self._trial_running or self._failures >= self._threshold:
                self._opened_at = self._clock()
            self._trial_running = False

    def released(self) -> None:
        """A trial that ended without a verdict (the caller went away): let another one try."""
        with self._lock:
            self._trial_running = False
