"""Outgoing HTTP deliveries, fair across projects, drained by a few background threads.

Webhooks (audit events) and alert notifications both need the same thing: `put()` never blocks
or raises on the caller's path; a failing delivery never kills a thread; shutdown waits (bounded)
for what is queued, then stops the retries and gives up on the rest (counted and logged once),
so a dead receiver neither holds the process up nor outlives the store.

Fairness: items queue per key (the project), the threads take keys round robin and run at most
one delivery per key at a time, and each key's queue has its own bound. A tenant whose receiver
is a black hole therefore ties up at most one thread and only its own queue; every other
project's deliveries go on. A receiver that keeps failing is skipped for a while by its circuit
breaker (`Receivers`), so its deliveries fail fast instead of each waiting out every retry.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

import httpx
import structlog

from shipyard.breaker import CircuitBreaker
from shipyard.errors import StoreUnavailable
from shipyard.outbound import AddressPolicy, UrlFetchFailed, UrlRefused, describe_failure

log = structlog.get_logger(__name__)

T = TypeVar("T")
RETRY_DELAYS = (0.5, 2.0, 5.0)
# Threads per queue: enough that a few dead receivers (each holding one) leave the rest flowing.
DELIVERY_THREADS = 4
# Consecutive failed deliveries (each after its retries) that open a receiver's breaker, and how
# long it then stays open: a dead receiver costs one fast failure a minute instead of ~30 s a try.
BREAKER_FAILURES = 3
BREAKER_RESET_SECONDS = 60.0


class DeliveryQueue(Generic[T]):
    """`put(key, item)` queues; threads call `deliver(client, item)` for each, in order per key."""

    def __init__(
        self, name: str, deliver: Callable[[httpx.Client, T], None], *, timeout_seconds: float = 5.0,
        threads: int = DELIVERY_THREADS, max_per_key: int = 1_000,
    ) -> None:  # fmt: skip
        self.name = name
        self._deliver = deliver
        self._timeout = timeout_seconds
        self._threads_wanted = threads
        self._max_per_key = max_per_key
        self._pending: dict[str, deque[T]] = {}
        self._ready: deque[str] = deque()  # keys with items and no delivery running
        self._busy: set[str] = set()
        self._unfinished = 0
        self._closing = False
        self._changed = threading.Condition()
        self._threads: list[threading.Thread] = []
        self.stopping = threading.Event()
        self.dropped = 0

    def put(self, key: str, item: T) -> bool:
        """Queue `item` under `key`; False (and counted) when that key's queue is full or the
        queue was given up at close."""
        with self._changed:
            if self.stopping.is_set() or self._closing:
                self.dropped += 1
                return False
            pending = self._pending.setdefault(key, deque())
            if len(pending) >= self._max_per_key:
                self.dropped += 1
                log.warning("delivery_queue_full", queue=self.name, key=key)
                return False
            pending.append(item)
            self._unfinished += 1
            if key not in self._busy and len(pending) == 1:
                self._ready.append(key)
            self._start_threads()
            self._changed.notify()
        return True

    def drain(self, timeout: float = 10.0) -> None:
        """Wait until everything queued has been delivered or given up on (tests, shutdown)."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while self._unfinished and (left := deadline - time.monotonic()) > 0:
                self._changed.wait(left)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is queued for up to `timeout` seconds, then give up on the rest."""
        if not self._threads:
            return
        self.drain(timeout)
        with self._changed:
            if self._unfinished:
                self.stopping.set()  # ends the retry waits; what is left is dropped, not posted
            self._closing = True
            self._changed.notify_all()
        for thread in self._threads:
            thread.join(timeout)
        with self._changed:
            abandoned = sum(len(items) for items in self._pending.values())
            self._pending.clear()
            self._ready.clear()
            self._unfinished = 0
            self._threads, self._closing = [], False
        if abandoned:
            self.dropped += abandoned
            log.warning("deliveries_abandoned_at_shutdown", queue=self.name, count=abandoned)

    def _start_threads(self) -> None:
        while len(self._threads) < self._threads_wanted:
            number = len(self._threads) + 1
            thread = threading.Thread(target=self._run, name=f"shipyard-{self.name}-{number}", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _next(self) -> tuple[str, T] | None:
        """The next key's next item (round robin), waiting for one; None once closing and empty."""
        with self._changed:
            while True:
                if self._closing and (self.stopping.is_set() or not self._unfinished):
                    return None
                if self._ready:
                    break
                self._changed.wait()
            key = self._ready.popleft()
            self._busy.add(key)
            return key, self._pending[key].popleft()

    def _done(self, key: str) -> None:
        with self._changed:
            self._busy.discard(key)
            self._unfinished -= 1
            if self._pending.get(key):
                self._ready.append(key)
            else:
                self._pending.pop(key, None)
            self._changed.notify_all()

    def _run(self) -> None:
        with httpx.Client(timeout=self._timeout, follow_redirects=False, trust_env=False) as client:
            while (taken := self._next()) is not None:
                key, item = taken
                try:
                    self._deliver(client, item)
                except StoreUnavailable as exc:  # the outcome could not be recorded; nothing to debug here
                    log.warning("delivery_not_recorded", queue=self.name, reason=str(exc))
                except Exception:  # noqa: BLE001 - a bug in one delivery must not kill the thread
                    log.exception("delivery_failed", queue=self.name)
                finally:
                    self._done(key)


class Receivers:
    """The address policy every delivery goes through, and a circuit breaker per receiver."""

    def __init__(self, policy: AddressPolicy, *, failures: int = BREAKER_FAILURES,
                 reset_seconds: float = BREAKER_RESET_SECONDS,
                 retry_delays: tuple[float, ...] = RETRY_DELAYS) -> None:  # fmt: skip
        self.policy = policy
        self.retry_delays = retry_delays
        self._failures = failures
        self._reset = reset_seconds
        self._breakers: dict[str, CircuitBreaker] = {}
        self._lock = threading.Lock()

    def breaker(self, receiver: str) -> CircuitBreaker:
        with self._lock:
            found = self._breakers.get(receiver)
            if found is None:
                found = self._breakers[receiver] = CircuitBreaker(self._failures, self._reset)
            return found

    def post(
        self, client: httpx.Client, receiver: str, url: str, content: bytes, headers: dict[str, str],
        *, stop: threading.Event | None = None,
    ) -> tuple[int | None, str | None]:  # fmt: skip
        """POST through the receiver's breaker; the last status and error (see `post_with_retries`)."""
        breaker = self.breaker(receiver)
        if not breaker.allow():
            return None, (
                f"not sent: the receiver failed {self._failures} deliveries in a row; "
                f"it is tried again {self._reset:g} s after the last failure"
            )
        status, error = post_with_retries(
            client, self.policy, url, content, headers, stop=stop, retry_delays=self.retry_delays
        )
        if error is None:
            breaker.succeeded()
        else:
            breaker.failed()
        return status, error


def post_with_retries(
    client: httpx.Client, policy: AddressPolicy, url: str, content: bytes, headers: dict[str, str],
    *, stop: threading.Event | None = None, retry_delays: tuple[float, ...] = RETRY_DELAYS,
) -> tuple[int | None, str | None]:  # fmt: skip
    """POST to `url` (pinned to an address `policy` allows), retrying network errors, 429 and 5xx
    with backoff; the last status and an error that reveals nothing about the network.

    Redirects are not followed (a receiver answering 3xx has failed). Setting `stop` (shutdown)
    ends the backoff wait and the retries with the last outcome.
    """
    stop = stop or threading.Event()
    status: int | None = None
    error: str | None = None
    for delay in (*retry_delays, None):
        try:
            request = policy.request(client, "POST", url, headers=headers, content=content, what="receiver")
            status = client.send(request).status_code
            error = (
                None if status < 300 else f"HTTP {status}" + (" (redirects are not followed)" if status < 400 else "")
            )
            if status < 500 and status != 429:
                break
        except (UrlRefused, UrlFetchFailed) as exc:
            return None, exc.message
        except httpx.HTTPError as exc:
            status, error = None, describe_failure(exc)
        if delay is None or stop.wait(delay):
            break
    return status, error
