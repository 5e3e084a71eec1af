"""Deliveries are fair across projects: one tenant's dead receiver does not hold up another's
(finding F6: two webhooks to a black hole in project B delayed project A's delivery by 65 s)."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

from shipyard.events import AuditEvent, WebhookService
from shipyard.ids import ProjectId, new_id
from shipyard.platform import Platform
from shipyard.secretbox import SecretBox
from shipyard.store.types import utcnow
from tests.webhook_receiver import loopback_receivers, webhook_receiver


@contextmanager
def black_hole() -> Iterator[str]:
    """A receiver that accepts connections and never answers."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(64)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept() -> None:
        server.settimeout(0.1)
        while not stop.is_set():
            try:
                held.append(server.accept()[0])
            except TimeoutError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.getsockname()[1]}/hook"
    finally:
        stop.set()
        thread.join()
        for connection in held:
            connection.close()
        server.close()


def event(project_id: ProjectId) -> AuditEvent:
    return AuditEvent(new_id("aud"), project_id, utcnow(), "test", "model.approved", "m", {})


def test_a_dead_receiver_in_one_project_does_not_delay_another(services: Platform) -> None:
    a = services.access.create_project("tenant-a").id
    b = services.access.create_project("tenant-b").id
    webhooks = WebhookService(services.database, loopback_receivers(), SecretBox(), timeout_seconds=3.0)
    try:
        with black_hole() as dead, webhook_receiver() as alive:
            for _ in range(2):
                webhooks.create(b, dead, ["*"])
            webhooks.create(a, alive.url, ["*"])
            for _ in range(5):
                webhooks.notify(event(b))  # each would wait out 3 s per attempt, with retries
            started = time.monotonic()
            webhooks.notify(event(a))
            alive.wait_for(1, timeout=10)
            assert time.monotonic() - started < 2.0  # not behind B's deliveries (~30 s each)
    finally:
        webhooks.close(timeout=0.5)


def test_a_receiver_that_keeps_failing_is_skipped_by_its_breaker(services: Platform) -> None:
    project = services.access.create_project("tenant-c").id
    webhooks = WebhookService(services.database, loopback_receivers(), SecretBox(), timeout_seconds=1.0)
    try:
        with webhook_receiver() as receiver:
            receiver.fail_next.extend([500] * 100)
            webhook = webhooks.create(project, receiver.url, ["*"])
            for _ in range(4):
                webhooks.notify(event(project))
            webhooks.drain(timeout=60)
            # three deliveries of 4 attempts each, then the breaker: the fourth is not sent at all
            assert len(receiver.fail_next) == 100 - 12
            listed = {w.id: w for w in webhooks.list(project)}[webhook.id]
            assert listed.last_error is not None and "failed 3 deliveries in a row" in listed.last_error
    finally:
        webhooks.close(timeout=0.5)
