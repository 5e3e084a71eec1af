"""Outbound HTTP to URLs a tenant chose, without an SSRF hole: one address policy for all of it.

URL ingestion, webhooks and alert notifiers all send requests to addresses a tenant typed in, so
all three go through this module. Every request is checked before a byte is sent: http(s) only;
the host name is resolved once and every address it resolves to must be public — loopback,
private, link-local (cloud metadata at 169.254.169.254), carrier-grade NAT, multicast, reserved
and unspecified addresses, IPv6 unique- and site-local, and every IPv6 form that carries an IPv4
address (mapped, compatible, translated, 6to4, NAT64) with a non-public one inside are refused
unless an operator's allow-list (`SHIPYARD_URL_ALLOW_NETWORKS`) names their network. The request
then goes to the checked address itself (with the original Host header and TLS server name), so
a second DNS answer cannot swap in an internal address (DNS rebinding). Redirects are never
followed here: the caller decides, and checks each hop again.

Failures are described without internal detail (no errno text, no resolved address): a tenant
reading a webhook's `last_error` must not learn more about the network than "could not connect".
"""

from __future__ import annotations

import base64
import ipaddress
import socket
from dataclasses import dataclass
from urllib.parse import SplitResult, unquote, urlsplit

import httpx

from shipyard.errors import ConfigError, ShipyardError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# IPv6 ranges that `is_global` lets through although they are not plain public addresses:
# 6to4 (2002::/16) and the deprecated site-local fec0::/10 are refused outright; IPv4-compatible
# (::/96) and IPv4-translated (::ffff:0:0/96) forms are refused too (nothing public uses them).
_REFUSED_V6 = tuple(ipaddress.IPv6Network(n) for n in ("2002::/16", "fec0::/10", "::/96", "::ffff:0:0/96"))
# NAT64 prefixes: the last 32 bits are an IPv4 address the gateway connects to, checked as such.
_NAT64 = tuple(ipaddress.IPv6Network(n) for n in ("64:ff9b::/96", "64:ff9b:1::/48"))


class UrlRefused(ShipyardError):
    """The URL points somewhere shipyard may not go (scheme, address, too many redirects)."""

    code, http_status = "url_refused", 400


class UrlFetchFailed(ShipyardError):
    """The URL was allowed but could not be fetched (network, status, size, time)."""

    code, http_status = "url_fetch_failed", 422


def parse_networks(values: list[str]) -> tuple[IPNetwork, ...]:
    """CIDR strings ("10.0.0.0/8", "127.0.0.1") → networks; a bad one is a ConfigError naming it."""
    try:
        return tuple(ipaddress.ip_network(value.strip(), strict=False) for value in values if value.strip())
    except ValueError as exc:
        raise ConfigError(f"SHIPYARD_URL_ALLOW_NETWORKS: {exc}") from exc


@dataclass(frozen=True)
class AddressPolicy:
    """Which addresses outbound requests may reach: public ones, plus the operator's allow-list."""

    allow_networks: tuple[IPNetwork, ...] = ()

    def allows(self, address: IPAddress) -> bool:
        if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
            address = address.ipv4_mapped
        if any(address in network for network in self.allow_networks):
            return True
        if isinstance(address, ipaddress.IPv6Address):
            if any(address in network for network in _REFUSED_V6):
                return False
            if any(address in network for network in _NAT64):
                return self.allows(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
        return address.is_global and not (address.is_multicast or address.is_reserved)

    def check_url(self, url: str, what: str = "URL") -> SplitResult:
        """`url` split, if it is an http(s) URL with a host; else `UrlRefused` saying so."""
        try:
            parts = urlsplit(url)
            parts.port  # noqa: B018 - raises ValueError for a port that is not a number
        except ValueError:
            raise UrlRefused(f"{what} {_shown(url)} is not a valid URL") from None
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise UrlRefused(f"{what}: only http and https URLs with a host can be used, got {_shown(url)}")
        return parts

    def check_destination(self, url: str, what: str = "URL") -> None:
        """Refuse `url` now if it cannot be sent to (a bad URL, an unknown or non-public host):
        a mistake is reported when the URL is set, not at its first delivery."""
        parts = self.check_url(url, what)
        self.resolve(parts, what)

    def resolve(self, parts: SplitResult, what: str = "URL") -> IPAddress:
        """The address to connect to: the first one the host resolves to, if all are allowed."""
        hostname = parts.hostname or ""
        try:
            infos = socket.getaddrinfo(hostname, parts.port or _default_port(parts), type=socket.SOCK_STREAM)
        except (socket.gaierror, UnicodeError):
            raise UrlFetchFailed(f"{what}: cannot resolve the host {hostname}") from None
        addresses = [ipaddress.ip_address(str(info[4][0]).split("%")[0]) for info in infos]
        if not addresses or not all(self.allows(address) for address in addresses):
            raise UrlRefused(
                f"{what}: {hostname} resolves to a non-public address; allow its network in "
                "SHIPYARD_URL_ALLOW_NETWORKS (an operator setting) to reach it"
            )
        return addresses[0]

    def request(
        self,
        client: httpx.Client,
        method: str,
        url: str,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        timeout: float | None = None,
        what: str = "URL",
    ) -> httpx.Request:
        """A request for `url` pinned to its checked address (Host header and TLS name kept;
        credentials in the URL become a Basic Authorization header)."""
        parts = self.check_url(url, what)
        address = self.resolve(parts, what)
        host = f"[{address}]" if address.version == 6 else str(address)
        pinned = parts._replace(netloc=f"{host}:{parts.port}" if parts.port else host).geturl()
        all_headers = {"Host": parts.netloc.rsplit("@", 1)[-1], **(headers or {})}
        if parts.username is not None:
            basic = f"{unquote(parts.username)}:{unquote(parts.password or '')}".encode()
            all_headers["Authorization"] = "Basic " + base64.b64encode(basic).decode()
        extensions: dict[str, object] = {"sni_hostname": parts.hostname}
        if timeout is not None:
            extensions["timeout"] = {"connect": timeout, "read": timeout, "write": timeout, "pool": timeout}
        return client.build_request(method, pinned, headers=all_headers, content=content, extensions=extensions)


def describe_failure(exc: httpx.HTTPError) -> str:
    """What went wrong with a request, in words that reveal nothing about the network."""
    if isinstance(exc, httpx.TimeoutException):
        return "no answer in time"
    if isinstance(exc, httpx.ConnectError):
        return "could not connect"
    if isinstance(exc, httpx.RemoteProtocolError):
        return "the receiver closed the connection or broke the HTTP protocol"
    return "network error"


def shown_url(url: str) -> str:
    """A URL as listings and logs show it: scheme, host and port only — credentials, paths and
    query strings may be secrets (Slack webhook URLs are nothing but one)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = parts.port
    except ValueError:
        return "(invalid URL)"
    if ":" in host:
        host = f"[{host}]"
    base = f"{parts.scheme}://{host}{f':{port}' if port else ''}"
    return base if parts.path in ("", "/") and not parts.query else f"{base}/…"


def _shown(url: str) -> str:
    return repr(shown_url(url) if "://" in url else url[:100])


def _default_port(parts: SplitResult) -> int:
    return 443 if parts.scheme == "https" else 80
