"""Fetching documents by URL without opening an SSRF hole.

Every hop (the URL and each redirect) is checked before any byte is sent: http(s) only; the host
name is resolved once and every address it resolves to must be public — loopback, private,
link-local (cloud metadata at 169.254.169.254), multicast, reserved and unspecified addresses,
IPv6 unique-local and IPv4-mapped forms of all of these are refused unless an allow-list
(`SHIPYARD_URL_ALLOW_NETWORKS`) names their network. The request then goes to the checked address
itself (with the original Host header and TLS server name), so a second DNS answer cannot swap in
an internal address (DNS rebinding). Redirects are followed by hand, a few at most; the body is
streamed and cut off past a size limit; the whole fetch has a deadline.
"""

from __future__ import annotations

import ipaddress
import socket
import time
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urljoin, urlsplit

import httpx

from shipyard.errors import ConfigError, ShipyardError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

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


class UrlRefused(ShipyardError):
    """The URL points somewhere shipyard may not go (scheme, address, too many redirects)."""

    code, http_status = "url_refused", 400


class UrlFetchFailed(ShipyardError):
    """The URL was allowed but could not be fetched (network, status, size, time)."""

    code, http_status = "url_fetch_failed", 422


@dataclass(frozen=True)
class FetchPolicy:
    allow_networks: tuple[IPNetwork, ...] = ()
    max_bytes: int = 20 * 1024 * 1024
    timeout_seconds: float = 15.0
    max_redirects: int = 3


def parse_networks(values: list[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings ("10.0.0.0/8", "127.0.0.1") → networks; a bad one is a ConfigError naming it."""
    try:
        return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip())
    except ValueError as exc:
        raise ConfigError(f"SHIPYARD_URL_ALLOW_NETWORKS: {exc}") from exc


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
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise UrlRefused(f"{url}: only http and https URLs can be fetched")
    address = _checked_address(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80), policy)
    host = f"[{address}]" if address.version == 6 else str(address)
    netloc = f"{host}:{parts.port}" if parts.port else host
    pinned = parts._replace(netloc=netloc).geturl()
    remaining = max(0.1, deadline - time.monotonic())
    request = client.build_request(
        "GET",
        pinned,
        headers={"Host": parts.netloc.rsplit("@", 1)[-1], "User-Agent": "shipyard-ingest"},
        extensions={"sni_hostname": parts.hostname, "timeout": _timeouts(remaining)},
    )
    try:
        return client.send(request, stream=True)
    except httpx.TimeoutException as exc:
        raise UrlFetchFailed(f"{url}: no answer within {policy.timeout_seconds:g} s") from exc
    except httpx.HTTPError as exc:
        raise UrlFetchFailed(f"{url}: {type(exc).__name__}: {exc}") from exc


def _timeouts(seconds: float) -> dict[str, float]:
    return {"connect": seconds, "read": seconds, "write": seconds, "pool": seconds}


def _checked_address(hostname: str, port: int, policy: FetchPolicy) -> IPAddress:
    """The first address of `hostname`, if every address it resolves to is allowed."""
    try:
        infos = socket.getaddrinfo(hostname, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise UrlFetchFailed(f"cannot resolve {hostname}: {exc.strerror}") from exc
    addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
    for address in addresses:
        if not _allowed(address, policy):
            raise UrlRefused(
                f"{hostname} resolves to {address}, a non-public address; allow its network in "
                "SHIPYARD_URL_ALLOW_NETWORKS to fetch from it"
            )
    return addresses[0]


def _allowed(address: IPAddress, policy: FetchPolicy) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    if any(address in network for network in policy.allow_networks):
        return True
    return address.is_global and not (address.is_multicast or address.is_reserved)


def _read(response: httpx.Response, url: str, policy: FetchPolicy, deadline: float) -> FetchedUrl:
    try:
        if response.status_code >= 400:
            raise UrlFetchFailed(f"{url}: HTTP {response.status_code}")
        declared = response.headers.get("content-length")
        if declared and declared.isdigit() and int(declared) > policy.max_bytes:
            raise UrlFetchFailed(f"{url}: {declared} bytes is over the limit of {policy.max_bytes}")
        chunks, size = [], 0
        for chunk in response.iter_bytes():
            size += len(chunk)
            if size > policy.max_bytes:
                raise UrlFetchFailed(f"{url}: more than {policy.max_bytes} bytes")
            if time.monotonic() > deadline:
                raise UrlFetchFailed(f"{url}: no complete answer within {policy.timeout_seconds:g} s")
            chunks.append(chunk)
    finally:
        response.close()
    content_type = response.headers.get("content-type", "").split(";")[0].strip().lower() or None
    return FetchedUrl(url=url, data=b"".join(chunks), content_type=content_type, filename=_filename(url, content_type))


def _filename(url: str, content_type: str | None) -> str:
    name = PurePosixPath(urlsplit(url).path).name or "index"
    if PurePosixPath(name).suffix.lower() in _SUFFIXES.values():
        return name
    return name + _SUFFIXES.get(content_type or "", ".html")
