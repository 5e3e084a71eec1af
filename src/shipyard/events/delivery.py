"""A bounded queue of outgoing HTTP deliveries drained by one background thread.

Webhooks (audit events) and alert notifications both need the same thing: `put()` never blocks
or raises on the caller's path, one pooled `httpx.Client` with explicit timeouts does the POSTs,
a failing delivery never kills the thread, and shutdown waits (bounded) for what is queued.
When that wait runs out, shutdown stops the retries and gives up on the rest (counted and
logged once), so a dead receiver neither holds the process up nor outlives the store.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx
import structlog

from shipyard.errors import StoreUnavailable

log = structlog.get_logger(__name__)

T = TypeVar("T")
RETRY_DELAYS = (0.5, 2.0, 5.0)


class DeliveryQueue(Generic[T]):
    """`put(item)` queues; the thread calls `deliver(client, item)` for each, in order."""

    def __init__(
        self, name: str, deliver: Callable[[httpx.Client, T], None], *, timeout_seconds: float = 5.0,
        max_queue: int = 10_000,
    ) -> None:  # fmt: skip
        self.name = name
        self._deliver = deliver
        self._timeout = timeout_seconds
        self._queue: queue.Queue[T | None] = queue.Queue(maxsize=max_queue)
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self.stopping = threading.Event()
        self.dropped = 0

    def put(self, item: T) -> bool:
        """Queue `item`; False (and counted) when the queue is full or was given up at close."""
        if self.stopping.is_set():
            self.dropped += 1
            return False
        self._ensure_thread()
        try:
            self._queue.put_nowait(item)
        except queue.Full:
            self.dropped += 1
            log.warning("delivery_queue_full", queue=self.name)
            return False
        return True

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything queued has been delivered or given up on (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        while self._queue.unfinished_tasks and time.monotonic() < deadline:
            time.sleep(0.02)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued for up to `timeout` seconds, then give up on the rest."""
        if self._thread is not None:
            self.drain(timeout)
            if self._queue.unfinished_tasks:
                self.stopping.set()  # ends the retry waits; what is left is dropped, not posted
            self._queue.put(None)
            self._thread.join(timeout)
            self._thread = None

    def _ensure_thread(self) -> None:
        if self._thread is None:
            with self._lock:
                if self._thread is None:
                    self._thread = threading.Thread(target=self._run, name=f"shipyard-{self.name}", daemon=True)
                    self._thread.start()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout, follow_redirects=False) as client:
            abandoned = 0
            while (item := self._queue.get()) is not None:
                try:
                    if self.stopping.is_set():
                        abandoned += 1
                    else:
                        self._deliver(client, item)
                except StoreUnavailable as exc:  # the outcome could not be recorded; nothing to debug here
                    log.warning("delivery_not_recorded", queue=self.name, reason=str(exc))
                except Exception:  # noqa: BLE001 - a bug in one delivery must not kill the thread
                    log.exception("delivery_failed", queue=self.name)
                finally:
                    self._queue.task_done()
            self._queue.task_done()
            if abandoned:
                self.dropped += abandoned
                log.warning("deliveries_abandoned_at_shutdown", queue=self.name, count=abandoned)


def post_with_retries(
    client: httpx.Client, url: str, content: bytes, headers: dict[str, str], *, stop: threading.Event | None = None
) -> tuple[int | None, str | None]:
    """POST, retrying network errors, 429 and 5xx with backoff; the last status and error.

    Setting `stop` (shutdown) ends the backoff wait and the retries with the last outcome.
    """
    stop = stop or threading.Event()
    status: int | None = None
    error: str | None = None
    for delay in (*RETRY_DELAYS, None):
        try:
            status = client.post(url, content=content, headers=headers).status_code
            error = None if status < 400 else f"HTTP {status}"
            if status < 500 and status != 429:
                break
        except httpx.HTTPError as exc:
            status, error = None, f"{type(exc).__name__}: {exc}"
        if delay is None or stop.wait(delay):
            break
    return status, error
