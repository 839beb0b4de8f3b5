"""Address items as the engine reads them: the fast path agrees with `ipaddress` on every spelling."""

from __future__ import annotations

from ipaddress import ip_address, ip_network

import pytest

from dockwire.verdict.values import Unparsable, address_predicate, parse_network

SPELLINGS = [
    "192.0.2.7",
    "192.0.2.7/24",
    "0.0.0.0/0",
    "198.51.100.0/08",
    "192.0.2.0/255.255.255.0",
    "10.0.0.0/0.255.255.255",
    "fd00:d0c:6::11",
    "fd00:d0c:6::/64",
    "::/0",
    "::ffff:192.0.2.1",
    "0001::/16",
    # not addresses: both refuse them
    "01.2.3.4",
    "192.0.2",
    "192.0.2.7/33",
    "192.0.2.7/ 8",
    "192.0.2.7/+8",
    "192.0.2.7/²",
    "192.0.2.7/",
    "/8",
    "",
    "256.1.1.1",
    "fd00::/129",
    "::1.2.3.04",
]


@pytest.mark.parametrize("text", SPELLINGS)
def test_parse_network_agrees_with_ipaddress(text: str) -> None:
    try:
        net = ip_network(text, strict=False)
    except ValueError:
        with pytest.raises(Unparsable):
            parse_network(text)
        return
    assert tuple(parse_network(text)) == (net.version, int(net.network_address), net.prefixlen)


@pytest.mark.parametrize(
    ("item", "inside", "outside"),
    [
        ("10.0.0.0/8", "10.200.3.4", "11.0.0.1"),
        ("192.0.2.7", "192.0.2.7", "192.0.2.8"),
        ("0.0.0.0/0", "203.0.113.9", "::1"),
        ("fd00::/16", "fd00:1::5", "fd01::5"),
        ("::5", "::5", "0.0.0.5"),  # the same number in the other family never matches
        ("0.0.0.5/32", "0.0.0.5", "::5"),
    ],
)
def test_address_predicate(item: str, inside: str, outside: str) -> None:
    test = address_predicate(item)
    assert test(ip_address(inside))
    assert not test(ip_address(outside))
