"""A bounded queue drained by one background thread that writes rows in batches.

`put()` is O(1), takes no lock (a deque's append and popleft are atomic) and never raises into
the caller: a full queue drops the item and counts it.
A failed flush keeps its batch and retries, so a short store outage loses nothing until the
queue fills. `close()` drains what is left, bounded by a timeout.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

from shipyard.runtime.failures import RepeatedFailure
from shipyard.runtime.loop import PeriodicLoop

log = structlog.get_logger(__name__)

T = TypeVar("T")


class BatchWriter(PeriodicLoop, Generic[T]):
    def __init__(
        self,
        name: str,
        flush: Callable[[list[T]], None],
        *,
        max_queue: int = 10_000,
        max_batch: int = 500,
        interval: float = 0.1,
    ) -> None:
        super().__init__(name, interval, failure=RepeatedFailure("batch_writer_flush_failed", writer=name))
        self._write_rows = flush
        self._queue: deque[T] = deque()
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._pending: list[T] = []
        self.dropped = 0
        self.written = 0

    def put(self, item: T) -> bool:
        """Queue an item; False (and counted) when the queue is full."""
        if len(self._queue) >= self._max_queue:
            self.dropped += 1
            return False
        self._queue.append(item)
        return True

    @property
    def depth(self) -> int:
        return len(self._queue) + len(self._pending)

    @property
    def at_capacity(self) -> bool:
        return len(self._queue) >= self._max_queue

    @property
    def failed_flushes(self) -> int:
        return self.failed_ticks

    def tick(self) -> None:
        """Write everything queued so far in batches; a failed write keeps its batch and raises."""
        while self._take_batch():
            self._write_rows(self._pending)
            self.written += len(self._pending)
            self._pending = []

    def flush_now(self) -> bool:
        """Write everything queued so far on the calling thread; False if a write failed (the
        rows stay queued). Never raises: the request path calls it before reading its writes."""
        return self._safe_tick()

    def _last_flush(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not self.flush_now() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.depth:
            log.warning("batch_writer_lost_rows", writer=self.name, rows=self.depth)

    def _failed(self, error: Exception) -> None:
        self._failure.failed(error, rows=self.depth)

    def _take_batch(self) -> bool:
        while len(self._pending) < self._max_batch:
            try:
                self._pending.append(self._queue.popleft())
            except IndexError:
                break
        return bool(self._pending)
