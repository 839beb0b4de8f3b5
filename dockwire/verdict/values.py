"""Parsing of the values rules compare against: addresses, ranges, ports, interface patterns, ICMP types."""

from __future__ import annotations

from collections.abc import Callable
from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address, ip_network
from socket import AF_INET, AF_INET6, inet_pton
from typing import NamedTuple

from dockwire.verdict.packet import IPAddress

ICMP_TYPES = {
    "echo-reply": 0,
    "pong": 0,
    "destination-unreachable": 3,
    "source-quench": 4,
    "redirect": 5,
    "echo-request": 8,
    "ping": 8,
    "router-advertisement": 9,
    "router-solicitation": 10,
    "time-exceeded": 11,
    "ttl-exceeded": 11,
    "parameter-problem": 12,
    "timestamp-request": 13,
    "timestamp-reply": 14,
    "info-request": 15,
    "info-reply": 16,
    "address-mask-request": 17,
    "address-mask-reply": 18,
}
# ICMPv6 types by the names ip6tables (--icmpv6-type) and nft (icmpv6 type) print.
ICMPV6_TYPES = {
    "destination-unreachable": 1,
    "no-route": 1,
    "packet-too-big": 2,
    "time-exceeded": 3,
    "ttl-exceeded": 3,
    "parameter-problem": 4,
    "echo-request": 128,
    "echo-reply": 129,
    "mld-listener-query": 130,
    "mld-listener-report": 131,
    "mld-listener-done": 132,
    "mld-listener-reduction": 132,
    "router-solicitation": 133,
    "nd-router-solicit": 133,
    "router-advertisement": 134,
    "nd-router-advert": 134,
    "neighbour-solicitation": 135,
    "neighbor-solicitation": 135,
    "nd-neighbor-solicit": 135,
    "neighbour-advertisement": 136,
    "neighbor-advertisement": 136,
    "nd-neighbor-advert": 136,
    "redirect": 137,
    "nd-redirect": 137,
    "mld2-listener-report": 143,
}
PROTOCOLS = {
    "icmp": "icmp",
    "1": "icmp",
    "tcp": "tcp",
    "6": "tcp",
    "udp": "udp",
    "17": "udp",
    "sctp": "sctp",
    "132": "sctp",
    "gre": "gre",
    "47": "gre",
    "esp": "esp",
    "50": "esp",
    "ah": "ah",
    "51": "ah",
    "icmpv6": "icmpv6",
    "ipv6-icmp": "icmpv6",
    "icmp6": "icmpv6",
    "58": "icmpv6",
}


class Unparsable(ValueError):
    """A value the engine cannot interpret; the match that holds it is unknown."""


def split_list(args: list[str]) -> list[str]:
    """Flatten `["a,b", "c"]` and nft set text `{ a, b }` into items."""
    items: list[str] = []
    for arg in args:
        text = arg.strip()
        if text.startswith("{") and text.endswith("}"):
            text = text[1:-1]
        items.extend(part.strip().strip('"') for part in text.split(",") if part.strip())
    return items


class Prefix(NamedTuple):
    """An address item as numbers: its family (4 or 6), network address (host bits cleared) and length."""

    version: int
    network: int
    length: int

    @property
    def mask(self) -> int:
        bits = 32 if self.version == 4 else 128
        return ((1 << bits) - 1) ^ ((1 << (bits - self.length)) - 1)


@lru_cache(maxsize=8192)
def address_predicate(text: str) -> Callable[[IPAddress], bool]:
    """A test for one address item: `10.0.0.1`, `10.0.0.0/8`, `10.0.0.0/255.0.0.0`, `10.0.0.1-10.0.0.9`,
    `fd00::/64`; an item never matches an address of the other family."""
    text = text.strip().strip('"')
    if "-" in text and "/" not in text:
        low_text, high_text = text.split("-", 1)
        try:
            low, high = ip_address(low_text.strip()), ip_address(high_text.strip())
        except ValueError as exc:
            raise Unparsable(text) from exc
        family = low.version
        return lambda a: a.version == family and low <= a <= high  # type: ignore[operator]
    version, network, length = prefix = parse_network(text)
    if length == (32 if version == 4 else 128):
        only = IPv4Address(network) if version == 4 else IPv6Address(network)
        return lambda a: a == only
    mask = prefix.mask
    return lambda a: a.version == version and int(a) & mask == network


_FAMILIES = ((4, AF_INET, 32), (6, AF_INET6, 128))


@lru_cache(maxsize=8192)
def parse_network(text: str) -> Prefix:
    """An address or prefix item (already stripped) as numbers, host bits ignored; Unparsable otherwise.

    Shared by `address_predicate` and the rule index's guards, which parse the same item one after the other.
    `ADDR` and `ADDR/LENGTH` are read by the C library's strict parser (the bulk of a large ruleset: about
    6x faster than `ipaddress`); anything else (a netmask, a zone) by `ipaddress`, which has the last word.
    """
    address, slash, length_text = text.partition("/")
    if not slash or (length_text.isascii() and length_text.isdigit()):
        for version, family, bits in _FAMILIES:
            try:
                packed = inet_pton(family, address)
            except OSError:
                continue
            length = int(length_text) if slash else bits
            if length > bits:
                break
            host = (1 << (bits - length)) - 1
            return Prefix(version, int.from_bytes(packed, "big") & ~host, length)
    try:
        net = ip_network(text, strict=False)
    except ValueError as exc:
        raise Unparsable(text) from exc
    return Prefix(net.version, int(net.network_address), net.prefixlen)


@lru_cache(maxsize=8192)
def port_range(text: str) -> tuple[int, int]:
    """`80`, `1000:2000`, `1000-2000`, `:1024`, `1024:` as an inclusive range."""
    text = text.strip()
    for sep in (":", "-"):
        if sep in text:
            low, high = text.split(sep, 1)
            try:
                return int(low or 0), int(high or 65535)
            except ValueError as exc:
                raise Unparsable(text) from exc
    try:
        port = int(text)
    except ValueError as exc:
        raise Unparsable(text) from exc
    return port, port


def port_in(port: int | None, items: list[str]) -> bool | None:
    if port is None:
        return False
    for item in items:
        low, high = port_range(item)
        if low <= port <= high:
            return True
    return False


def iface_matches(pattern: str, name: str) -> bool:
    """iptables `eth+` / nft `"eth*"` wildcards; an empty name (no interface at this hook) never matches."""
    pattern = pattern.strip().strip('"')
    if pattern.endswith(("+", "*")):
        return name.startswith(pattern[:-1])
    return name == pattern


def icmp_type(text: str, names: dict[str, int] = ICMP_TYPES) -> tuple[int | None, int | None]:
    """(type, code) of `echo-request`, `8`, `8/0`; (None, None) for `any`; `names` ICMPV6_TYPES for ICMPv6."""
    text = text.strip().lower()
    if text == "any":
        return None, None
    code: int | None = None
    if "/" in text:
        text, code_text = text.split("/", 1)
        code = int(code_text)
    if text in names:
        return names[text], code
    try:
        return int(text), code
    except ValueError as exc:
        raise Unparsable(text) from exc


def protocol(text: str) -> str:
    text = text.strip().lower()
    if text in ("all", "0", "ip"):
        return "all"
    return PROTOCOLS.get(text, text)
