"""A bounded queue drained by one background thread that writes rows in batches.

`put()` is O(1), takes no lock (a deque's append and popleft are atomic) and never raises into
the caller: a full queue drops the item and counts it.
A failed flush keeps its batch and retries, so a short store outage loses nothing until the
queue fills. `close()` drains what is left, bounded by a timeout.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import structlog

log = structlog.get_logger(__name__)

T = TypeVar("T")


class BatchWriter(Generic[T]):
    def __init__(
        self,
        name: str,
        flush: Callable[[list[T]], None],
        *,
        max_queue: int = 10_000,
        max_batch: int = 500,
        interval: float = 0.1,
    ) -> None:
        self.name = name
        self._flush = flush
        self._queue: deque[T] = deque()
        self._max_queue = max_queue
        self._max_batch = max_batch
        self._interval = interval
        self._pending: list[T] = []
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        # Serialises draining between the background thread and flush_now()/close().
        self._drain_lock = threading.Lock()
        self.dropped = 0
        self.written = 0
        self.failed_flushes = 0

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

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"shipyard-{self.name}", daemon=True)
        self._thread.start()

    def flush_now(self) -> bool:
        """Write everything queued so far on the calling thread; False if a write failed."""
        with self._drain_lock:
            while self._take_batch():
                if not self._write():
                    return False
            return True

    def close(self, timeout: float = 5.0) -> None:
        """Stop the thread and drain the queue, giving up after `timeout` seconds."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
        deadline = time.monotonic() + timeout
        while not self.flush_now() and time.monotonic() < deadline:
            time.sleep(0.1)
        if self.depth:
            log.warning("batch_writer_lost_rows", writer=self.name, rows=self.depth)

    def _run(self) -> None:
        while not self._stop.wait(self._interval):
            self.flush_now()

    def _take_batch(self) -> bool:
        while len(self._pending) < self._max_batch:
            try:
                self._pending.append(self._queue.popleft())
            except IndexError:
                break
        return bool(self._pending)

    def _write(self) -> bool:
        try:
            self._flush(self._pending)
        except Exception as exc:  # noqa: BLE001 - keep the batch, retry next tick
            self.failed_flushes += 1
            log.warning("batch_writer_flush_failed", writer=self.name, rows=len(self._pending), error=str(exc)[:200])
            return False
        self.written += len(self._pending)
        self._pending = []
        return True
