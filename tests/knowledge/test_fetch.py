"""URL fetching refuses internal addresses (SSRF) and enforces redirect, size and time limits.

The tests run real HTTP servers on 127.0.0.1, which the default policy refuses — so the allowed
path is exercised through the allow-list, exactly as an operator would open a private network.
"""

from __future__ import annotations

import gzip
import threading
import time
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shipyard.errors import ConfigError
from shipyard.knowledge.fetch import FetchPolicy, UrlFetchFailed, UrlRefused, fetch, parse_networks

# 5 KB of gzip that inflates to 5 MB, made before any test measures memory.
BOMB = gzip.compress(b"0" * 5_000_000)
LOCAL = FetchPolicy(allow_networks=parse_networks(["127.0.0.0/8"]), timeout_seconds=2, max_bytes=10_000)


@contextmanager
def site() -> Iterator[str]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            routes: dict[str, Any] = {
                "/page": (200, "text/html", b"<html><body><article><h1>Hi</h1><p>Hello.</p></article></body></html>"),
                "/doc": (200, "application/pdf", b"%PDF-1.4"),
                "/big": (200, "text/plain", b"x" * 50_000),
                "/missing": (404, "text/plain", b"no"),
            }
            if self.path.startswith("/redirect-to/"):
                self.send_response(302)
                self.send_header("Location", self.path.removeprefix("/redirect-to"))
                self.end_headers()
                return
            if self.path == "/loop":
                self.send_response(302)
                self.send_header("Location", "/loop")
                self.end_headers()
                return
            if self.path == "/metadata":
                self.send_response(302)
                self.send_header("Location", "http://169.254.169.254/latest/meta-data/")
                self.end_headers()
                return
            if self.path.startswith("/gzip/"):
                coding, size = self.path.split("/")[2:4]
                body = BOMB if size == "bomb" else gzip.compress(b"0" * int(size))
                if coding == "gzip,gzip":
                    body = gzip.compress(body)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Encoding", coding.replace(",", ", "))
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)
                return
            if self.path == "/slow":
                time.sleep(3)
            status, content_type, body = routes.get(self.path, (200, "text/plain", b"slow"))
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_allowed_fetch_follows_redirects_and_names_the_file() -> None:
    with site() as base:
        page = fetch(f"{base}/redirect-to/page", LOCAL)
        assert page.url == f"{base}/page" and page.content_type == "text/html" and page.filename == "page.html"
        assert b"Hello." in page.data
        assert fetch(f"{base}/doc", LOCAL).filename == "doc.pdf"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:9/x",
        "http://localhost:9/x",
        "http://[::1]:9/x",
        "http://[::ffff:127.0.0.1]:9/x",
        "http://10.1.2.3/x",
        "http://192.168.0.10/x",
        "http://169.254.169.254/latest/meta-data/",
        "http://0.0.0.0/x",
        "http://[fd00::1]/x",
    ],
)
def test_internal_addresses_are_refused_by_default(url: str) -> None:
    with pytest.raises(UrlRefused, match="non-public address; allow its network in SHIPYARD_URL_ALLOW_NETWORKS"):
        fetch(url, FetchPolicy())


def test_a_redirect_to_an_internal_address_is_refused_even_from_an_allowed_host() -> None:
    with site() as base, pytest.raises(UrlRefused, match="169.254.169.254 resolves to a non-public address"):
        fetch(f"{base}/metadata", LOCAL)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://example.com/"])
def test_only_http_and_https(url: str) -> None:
    with pytest.raises(UrlRefused, match="only http and https"):
        fetch(url, FetchPolicy())


def test_limits_on_redirects_size_time_and_status() -> None:
    with site() as base:
        with pytest.raises(UrlRefused, match="more than 3 redirects"):
            fetch(f"{base}/loop", LOCAL)
        with pytest.raises(UrlFetchFailed, match="over the limit of 10000"):
            fetch(f"{base}/big", LOCAL)
        with pytest.raises(UrlFetchFailed, match="no answer within 2 s"):
            fetch(f"{base}/slow", LOCAL)
        with pytest.raises(UrlFetchFailed, match="HTTP 404"):
            fetch(f"{base}/missing", LOCAL)


def test_bad_allow_list_entries_are_config_errors() -> None:
    with pytest.raises(ConfigError, match="SHIPYARD_URL_ALLOW_NETWORKS"):
        parse_networks(["10.0.0.0/33"])


def test_compressed_bodies_are_counted_as_they_inflate() -> None:
    """A 5 KB gzip body that inflates to 5 MB stops at the limit without inflating the rest;
    stacked codings (each one multiplies) are refused; a normal gzip page reads as usual."""
    with site() as base:
        assert fetch(f"{base}/gzip/gzip/5000", LOCAL).data == b"0" * 5000
        tracemalloc.start()
        try:
            with pytest.raises(UrlFetchFailed, match="more than 10000 bytes"):
                fetch(f"{base}/gzip/gzip/bomb", LOCAL)
            peak = tracemalloc.get_traced_memory()[1]
        finally:
            tracemalloc.stop()
        assert peak < 1_000_000
        with pytest.raises(UrlFetchFailed, match="unsupported content encoding"):
            fetch(f"{base}/gzip/gzip,gzip/1000", LOCAL)
