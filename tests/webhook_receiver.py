"""A small real HTTP server that records the JSON bodies POSTed to it (alert notifications,
webhooks); it can be told to fail the next requests with a status."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from shipyard.events.delivery import Receivers
from shipyard.outbound import AddressPolicy, parse_networks

# The receivers in tests listen on loopback, which the outbound policy refuses unless allowed:
# tests allow it the way an operator allows a private network.
LOOPBACK = ["127.0.0.0/8"]


def loopback_receivers(retry_delays: tuple[float, ...] = (0.05, 0.05, 0.05)) -> Receivers:
    """Receivers on loopback, retried after short waits (the backoff itself is not under test)."""
    return Receivers(AddressPolicy(parse_networks(LOOPBACK)), retry_delays=retry_delays)


@dataclass
class Received:
    url: str
    bodies: list[dict[str, Any]] = field(default_factory=list)
    paths: list[str] = field(default_factory=list)
    fail_next: list[int] = field(default_factory=list)  # statuses to answer with, in order

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.bodies) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        assert len(self.bodies) >= count, f"expected {count} deliveries, got {len(self.bodies)}: {self.bodies}"
        return self.bodies


@contextmanager
def webhook_receiver() -> Iterator[Received]:
    received = Received(url="")
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            with lock:
                status = received.fail_next.pop(0) if received.fail_next else 200
                if status == 200:
                    received.bodies.append(json.loads(body))
                    received.paths.append(self.path)
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    received.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield received
    finally:
        server.shutdown()
        server.server_close()
