"""The one outbound address policy: what a tenant-set URL may reach, and how it is shown."""

from __future__ import annotations

import ipaddress

import pytest

from shipyard.outbound import AddressPolicy, UrlRefused, parse_networks, shown_url


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1", "10.1.2.3", "172.16.0.1", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0",
        "255.255.255.255", "224.0.0.1", "::1", "fe80::1", "fd00::1", "::ffff:127.0.0.1", "ff02::1",
        # is_global lets these through; each carries or reaches a non-public address:
        "2002:7f00:1::1",  # 6to4 of 127.0.0.1
        "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
        "fec0::1",  # site-local
        "::7f00:1",  # IPv4-compatible 127.0.0.1
        "::ffff:0:7f00:1",  # IPv4-translated 127.0.0.1
        "64:ff9b::a9fe:a9fe",  # NAT64 of 169.254.169.254
        "64:ff9b:1::7f00:1",  # local-use NAT64 of 127.0.0.1
    ],
)  # fmt: skip
def test_non_public_addresses_are_refused(address: str) -> None:
    assert not AddressPolicy().allows(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "2606:4700::1111", "64:ff9b::808:808"])
def test_public_addresses_are_allowed(address: str) -> None:
    assert AddressPolicy().allows(ipaddress.ip_address(address))


def test_the_allow_list_opens_exactly_its_networks() -> None:
    policy = AddressPolicy(parse_networks(["10.20.0.0/16", "127.0.0.1"]))
    assert policy.allows(ipaddress.ip_address("10.20.3.4")) and policy.allows(ipaddress.ip_address("127.0.0.1"))
    assert not policy.allows(ipaddress.ip_address("10.21.0.1")) and not policy.allows(ipaddress.ip_address("127.0.0.2"))


@pytest.mark.parametrize(
    "url", ["http://localhost:8080/hook", "http://[::1]/x", "http://169.254.169.254/latest", "http://[2002:7f00:1::1]/"]
)
def test_destinations_are_checked_when_they_are_set(url: str) -> None:
    with pytest.raises(UrlRefused, match="non-public address") as refused:
        AddressPolicy().check_destination(url, "webhook url")
    assert "127.0.0.1" not in refused.value.message  # the resolved address is not told


@pytest.mark.parametrize("url", ["ftp://example.com/x", "file:///etc/passwd", "http://", "http://h:port/"])
def test_only_http_urls_with_a_host(url: str) -> None:
    with pytest.raises(UrlRefused):
        AddressPolicy().check_destination(url)


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://user:pa55@hooks.example.com/services/T0/B0/XYZ", "https://hooks.example.com/…"),
        ("https://hooks.example.com", "https://hooks.example.com"),
        ("http://h.example:8080/?token=abc", "http://h.example:8080/…"),
        ("http://[2606:4700::1]:81/x", "http://[2606:4700::1]:81/…"),
    ],
)
def test_shown_urls_keep_scheme_host_and_port_only(url: str, shown: str) -> None:
    assert shown_url(url) == shown
