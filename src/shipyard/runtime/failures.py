"""Failure logging for background loops."""

from __future__ import annotations

import time
from typing import Any

import structlog

from shipyard.errors import StoreUnavailable


class RepeatedFailure:
    """Logs a background loop's failures without flooding the log while a dependency is down:
    the first failure at once, then one line per `every_seconds` with how many happened, and
    one line when the loop works again. An outage of the store is an expected failure (its
    message says it all); anything else also carries its traceback, once per line written."""

    def __init__(self, event: str, *, every_seconds: float = 30.0, **fields: Any) -> None:
        self.event = event
        self.every = every_seconds
        self.fields = fields
        self._failures = 0
        self._logged_at: float | None = None

    def failed(self, error: BaseException, **fields: Any) -> None:
        self._failures += 1
        now = time.monotonic()
        if self._logged_at is not None and now - self._logged_at < self.every:
            return
        self._logged_at = now
        expected = isinstance(error, StoreUnavailable)
        log = structlog.get_logger("shipyard")
        log.warning(self.event, **self.fields, **fields, failures=self._failures, error=str(error)[:300],
                    exc_info=None if expected else error)  # fmt: skip

    def succeeded(self) -> None:
        if self._failures:
            structlog.get_logger("shipyard").info(f"{self.event.removesuffix('_failed')}_recovered", **self.fields,
                                                  failures=self._failures)  # fmt: skip
            self._failures = 0
            self._logged_at = None
