"""The packet the engine reasons about: one flow's header fields plus what conntrack knows of it.

A `Packet` is immutable; every rewrite (NAT, mark, conntrack state) makes a new one with `evolve`.
"""

from __future__ import annotations

from functools import lru_cache
from ipaddress import IPv4Address, IPv6Address, ip_address

import msgspec

ICMP_ECHO_REQUEST = 8
ICMP_ECHO_REPLY = 0
ICMPV6_ECHO_REQUEST = 128
ICMPV6_ECHO_REPLY = 129

# An address of either family; a flow's two addresses are always of the same one.
IPAddress = IPv4Address | IPv6Address

PROTO_NUMBERS = {"icmp": 1, "tcp": 6, "udp": 17, "ipv6-icmp": 58, "icmpv6": 58, "sctp": 132}


class Packet(msgspec.Struct, frozen=True):
    """One IPv4 or IPv6 packet of a flow, as netfilter sees it at some point of its path."""

    src: IPAddress
    dst: IPAddress
    proto: str  # "tcp", "udp", "icmp", "icmpv6"
    sport: int | None = None
    dport: int | None = None
    icmp_type: int | None = None
    # TCP flags set on this packet: {"SYN"} for the first one, {"ACK"} for a reply.
    tcp_flags: frozenset[str] = frozenset()
    # Conntrack state as `-m conntrack --ctstate` sees it: NEW, ESTABLISHED, RELATED, INVALID, UNTRACKED.
    ct_state: str = "NEW"
    # "ORIGINAL" for the first packet's direction, "REPLY" for the answer.
    ct_dir: str = "ORIGINAL"
    # NAT already applied to this connection: "DNAT", "SNAT" (also `--ctstate DNAT/SNAT`).
    ct_nat: frozenset[str] = frozenset()
    # The original tuple's addresses (conntrack --ctorigsrc / --ctorigdst).
    orig_src: IPAddress | None = None
    orig_dst: IPAddress | None = None
    # The original tuple's destination port (conntrack --ctorigdstport, nft `ct original proto-dst`).
    orig_dport: int | None = None
    # skb->mark; None when it cannot be known statically.
    mark: int | None = 0
    # Whether conntrack has seen this packet yet (False in the raw table, which runs before it).
    ct_seen: bool = True
    # NAT manip types already decided for this connection ("dst", "src"): nat chains run once per type.
    nat_done: frozenset[str] = frozenset()

    @property
    def family(self) -> str:
        """The netfilter family whose tables see this packet: "ip" or "ip6"."""
        return "ip" if self.src.version == 4 else "ip6"

    def evolve(self, **changes: object) -> Packet:
        return msgspec.structs.replace(self, **changes)

    def describe(self) -> str:
        """Short flow text, e.g. `tcp 172.17.0.2:40000 -> 172.17.0.3:80`."""
        src, dst = address_text(self.src), address_text(self.dst)
        if self.proto in ("tcp", "udp"):
            sport = f":{self.sport}" if self.sport is not None else ""
            dport = f":{self.dport}" if self.dport is not None else ""
            return f"{self.proto} {src}{sport} -> {dst}{dport}"
        return f"{self.proto} {src} -> {dst}"


_TEXTS: dict[IPAddress, str] = {}
MAX_TEXTS = 65536


def address_text(addr: IPAddress) -> str:
    """`str(addr)`, remembered (a matrix writes the same few hundred addresses a million times)."""
    text = _TEXTS.get(addr)
    if text is None:
        if len(_TEXTS) >= MAX_TEXTS:
            _TEXTS.clear()
        text = _TEXTS[addr] = str(addr)
    return text


@lru_cache(maxsize=16384)
def ipv4(text: str) -> IPv4Address:
    """An IPv4 address from text, parsed once (ValueError for anything else)."""
    addr = ip_address(text)
    if not isinstance(addr, IPv4Address):
        raise ValueError(f"{text} is not an IPv4 address")
    return addr


@lru_cache(maxsize=16384)
def ip(text: str) -> IPAddress:
    """An IPv4 or IPv6 address from text, parsed once (ValueError for anything else)."""
    return ip_address(text)


# The source port a client would pick: any ephemeral port; rules rarely match on it.
EPHEMERAL_PORT = 40000


def first_packet(src: str, dst: str, proto: str, port: int | None, mark: int | None = 0) -> Packet:
    """The first packet of a new flow from `src` to `dst`."""
    return flow_packet(ip(src), ip(dst), proto, port, mark)


def flow_packet(s: IPAddress, d: IPAddress, proto: str, port: int | None, mark: int | None = 0) -> Packet:
    """`first_packet` for addresses already parsed; `icmp` is an echo request (ICMPv6 for IPv6 addresses)."""
    if proto == "icmp":
        v6 = d.version == 6
        echo, request = ("icmpv6", ICMPV6_ECHO_REQUEST) if v6 else ("icmp", ICMP_ECHO_REQUEST)
        return Packet(src=s, dst=d, proto=echo, icmp_type=request, orig_src=s, orig_dst=d, mark=mark)
    return Packet(
        src=s,
        dst=d,
        proto=proto,
        sport=EPHEMERAL_PORT,
        dport=port,
        tcp_flags=frozenset({"SYN"}) if proto == "tcp" else frozenset(),
        orig_src=s,
        orig_dst=d,
        orig_dport=port,
        mark=mark,
    )


_ECHO_REPLIES = {"icmp": ICMP_ECHO_REPLY, "icmpv6": ICMPV6_ECHO_REPLY}


def reply_to(request: Packet, mark: int | None = 0) -> Packet:
    """The answer to `request` as it leaves the destination (addresses as the destination saw them)."""
    return Packet(
        src=request.dst,
        dst=request.src,
        proto=request.proto,
        sport=request.dport,
        dport=request.sport,
        icmp_type=_ECHO_REPLIES.get(request.proto),
        tcp_flags=frozenset({"SYN", "ACK"}) if request.proto == "tcp" else frozenset(),
        ct_state="ESTABLISHED",
        ct_dir="REPLY",
        ct_nat=request.ct_nat,
        orig_src=request.orig_src,
        orig_dst=request.orig_dst,
        orig_dport=request.orig_dport,
        mark=mark,
        nat_done=frozenset({"dst", "src"}),
    )
