"""The one base for loops that do something every few seconds on their own thread."""

from __future__ import annotations

import threading
from collections.abc import Callable

from shipyard.runtime.failures import RepeatedFailure


class PeriodicLoop:
    """Runs `tick()` on a daemon thread every `interval` seconds until closed.

    `flush()` runs a tick now, on the caller's thread, never at the same time as the loop's;
    `close()` stops the thread and flushes once more, so what was buffered is written. A tick
    that raises is logged (once per outage, see RepeatedFailure) and the loop goes on.
    """

    def __init__(self, name: str, interval: float, *, immediately: bool = False,
                 failure: RepeatedFailure | None = None) -> None:  # fmt: skip
        self.name = name
        self.interval = interval
        self._immediately = immediately  # tick at start too (schedules), not only after `interval`
        self._failure = failure or RepeatedFailure(f"{name}_failed")
        self._stop = threading.Event()
        self._tick_lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self.failed_ticks = 0

    def tick(self) -> None:
        """One round of work. Subclasses override it."""
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self._thread is not None

    def start(self) -> None:
        if self._thread is None:
            self._stop.clear()
            self._thread = threading.Thread(target=self._run, name=f"shipyard-{self.name}", daemon=True)
            self._thread.start()

    def flush(self) -> None:
        with self._tick_lock:
            self.tick()

    def close(self, timeout: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._last_flush(timeout)

    def _last_flush(self, timeout: float) -> None:
        """What close() does after the thread has stopped: one more tick, errors logged."""
        self._safe_tick()

    def _run(self) -> None:
        if self._immediately:
            self._safe_tick()
        while not self._stop.wait(self.interval):
            self._safe_tick()

    def _failed(self, error: Exception) -> None:
        self._failure.failed(error)

    def _safe_tick(self) -> bool:
        try:
            self.flush()
        except Exception as exc:  # noqa: BLE001 - a background loop outlives any one failure
            self.failed_ticks += 1
            self._failed(exc)
            return False
        self._failure.succeeded()
        return True


class PeriodicTask(PeriodicLoop):
    """A task a plugin registers to run every `interval` seconds in processes that run a worker
    (schedules: enqueue due monitor runs, evaluate alerts, plan the retention cleanup)."""

    def __init__(self, name: str, interval: float, task: Callable[[], None]) -> None:
        super().__init__(name, interval, immediately=True, failure=RepeatedFailure("periodic_task_failed", task=name))
        self._task = task

    def tick(self) -> None:
        self._task()

    def _last_flush(self, timeout: float) -> None:
        """A schedule has nothing buffered: closing does not run it once more."""
