"""Fetching documents by URL without opening an SSRF hole.

Every hop (the URL and each redirect) goes through the platform's one outbound address policy
(`shipyard.outbound`: public addresses only unless `SHIPYARD_URL_ALLOW_NETWORKS` allows more,
resolved once and pinned against DNS rebinding). Redirects are followed by hand, a few at most;
the body is streamed and cut off past a size limit (counted after any content decoding); the
whole fetch has a deadline.
"""

from __future__ import annotations

import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpx

from shipyard.outbound import AddressPolicy, IPNetwork, UrlFetchFailed, UrlRefused, describe_failure, parse_networks

__all__ = ["FetchPolicy", "FetchedUrl", "UrlFetchFailed", "UrlRefused", "fetch", "parse_networks"]

# File names by content type, so the loaders pick the right format for URLs without a suffix.
_SUFFIXES = {
    "text/html": ".html",
    "application/xhtml+xml": ".html",
    "text/plain": ".txt",
    "text/markdown": ".md",
    "application/pdf": ".pdf",
    "application/json": ".json",
    "text/csv": ".csv",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
}


@dataclass(frozen=True)
class FetchPolicy:
    allow_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 20 * 1024 * 1024
    timeout_seconds: float = 15.0
    max_redirects: int = 3

    @property
    def addresses(self) -> AddressPolicy:
        return AddressPolicy(self.allow_networks)


@dataclass(frozen=True)
class FetchedUrl:
    url: str  # after redirects
    data: bytes
    content_type: str | None
    filename: str  # with a suffix the loaders understand


def fetch(url: str, policy: FetchPolicy, client: httpx.Client | None = None) -> FetchedUrl:
    """Fetch `url` under `policy`; raises `UrlRefused` or `UrlFetchFailed` with the reason."""
    deadline = time.monotonic() + policy.timeout_seconds
    own_client = client is None
    client = client or httpx.Client(timeout=policy.timeout_seconds, follow_redirects=False, trust_env=False)
    try:
        current = url
        for _ in range(policy.max_redirects + 1):
            response = _request(client, current, policy, deadline)
            if response.is_redirect:
                location = response.headers.get("location")
                response.close()
                if not location:
                    raise UrlFetchFailed(f"{current} redirected without a Location header")
                current = urljoin(current, location)
                continue
            return _read(response, current, policy, deadline)
        raise UrlRefused(f"{url}: more than {policy.max_redirects} redirects")
    finally:
        if own_client:
            client.close()


def _request(client: httpx.Client, url: str, policy: FetchPolicy, deadline: float) -> httpx.Response:
    remaining = max(0.1, deadline - time.monotonic())
    headers = {"User-Agent": "shipyard-ingest", "Accept-Encoding": "gzip, deflate"}
    request = policy.addresses.request(client, "GET", url, headers=headers, timeout=remaining, what=url)
    try:
        return client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise UrlFetchFailed(f"{url}: no answer within {policy.timeout_seconds:g} s") from exc
    except httpx.HTTPError as exc:
        raise UrlFetchFailed(f"{url}: {describe_failure(exc)}") from exc


def _read(response: httpx.Response, url: str, policy: FetchPolicy, deadline: float) -> FetchedUrl:
    try:
        if response.status_code >= 400:
            raise UrlFetchFailed(f"{url}: HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > policy.max_bytes:
            raise UrlFetchFailed(f"{url}: {declared} bytes is over the limit of {policy.max_bytes}")
        decode = _decoder(response.headers.get("content-encoding", ""), url)
        chunks, size = [], 0
        for raw in response.iter_raw():
            for chunk in decode(raw, policy.max_bytes - size + 1):
                size += len(chunk)
                if size > policy.max_bytes:
                    raise UrlFetchFailed(f"{url}: more than {policy.max_bytes} bytes")
                chunks.append(chunk)
            if time.monotonic() > deadline:
                raise UrlFetchFailed(f"{url}: no complete answer within {policy.timeout_seconds:g} s")
    finally:
        response.close()
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower() or None
    return FetchedUrl(url=url, data=b"".join(chunks), content_type=content_type, filename=_filename(url, content_type))


def _decoder(content_encoding: str, url: str) -> Callable[[bytes, int], Iterator[bytes]]:
    """Decodes the body as it arrives, never more than asked for at a time: httpx's own decoding
    inflates each network chunk whole, so a 2 KB gzip bomb (or stacked codings) would reach
    gigabytes before any size check. One gzip or deflate coding at most; others are refused."""
    coding = content_encoding.strip().lower()
    if coding in ("", "identity"):
        return lambda raw, _limit: iter((raw,))
    if coding not in ("gzip", "x-gzip", "deflate"):
        raise UrlFetchFailed(f"{url}: unsupported content encoding {coding!r} (gzip or deflate only)")
    inflater = zlib.decompressobj(zlib.MAX_WBITS | 32)  # gzip or zlib header, detected

    def decode(raw: bytes, limit: int) -> Iterator[bytes]:
        pending = raw
        while pending:
            try:
                chunk = inflater.decompress(pending, max(1, limit))
            except zlib.error:
                raise UrlFetchFailed(f"{url}: the body is not valid {coding}") from None
            yield chunk
            limit -= len(chunk)
            pending = inflater.unconsumed_tail

    return decode


def _filename(url: str, content_type: str | None) -> str:
    name = PurePosixPath(urlsplit(url).path).name or "index"
    if PurePosixPath(name).suffix.lower() in _SUFFIXES.values():
        return name
    return name + _SUFFIXES.get(content_type or "", ".html")
