"""Turn one rule condition (a model `Match`) into a test on a packet: True, False, or None when unknowable.

iptables conditions (module/option as `iptables-save` writes them) and nftables ones (module "nft", option the
normalized left-hand side) are both covered. Anything not understood compiles to a test that answers None,
which makes the verdict "uncertain" and names the rule, rather than guessing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dockwire.model import Match
from dockwire.verdict.packet import IPAddress, Packet
from dockwire.verdict.values import (
    ICMP_TYPES,
    ICMPV6_TYPES,
    Unparsable,
    address_predicate,
    icmp_type,
    iface_matches,
    parse_network,
    port_range,
    protocol,
    split_list,
)
from dockwire.verdict.where import HostFacts, Where

Test = Callable[[Packet, Where, HostFacts], bool | None]
Sets = dict[str, list[str]]
CT_STATES = {"NEW", "ESTABLISHED", "RELATED", "INVALID", "UNTRACKED", "SNAT", "DNAT"}
# Rule-index keys of IPv6 prefixes carry their length plus this, so they never meet an IPv4 key.
IPV6_KEY = 1000


def _unknown(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
    return None


def _negate(test: Test) -> Test:
    def negated(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        result = test(pkt, where, facts)
        return None if result is None else not result

    return negated


# --- shared building blocks -----------------------------------------------------------------------------


def _resolve(items: list[str], sets: Sets) -> list[str] | None:
    """Items with `@name` set references replaced by the set's members; None when a set is not recorded."""
    out: list[str] = []
    for item in items:
        if item.startswith("@"):
            members = sets.get(item[1:])
            if members is None:
                return None
            out.extend(m.split(" ")[0].strip('"') for m in members if m)
        else:
            out.append(item)
    return out


def _addresses(items: list[str], sets: Sets) -> Callable[[IPAddress], bool] | None:
    """Membership in a list of address items (sets resolved); None when a set's members are unknown."""
    resolved = _resolve(items, sets)
    if resolved is None:
        return None
    tests = [address_predicate(i) for i in resolved]
    if len(tests) == 1:
        return tests[0]
    return lambda addr: any(t(addr) for t in tests)


def _ports(items: list[str], which: str, sets: Sets) -> Test:
    resolved = _resolve(items, sets)
    if resolved is None:
        return _unknown
    # Parsed now (raises Unparsable), so a walk never parses or looks up a cache.
    ranges = tuple(port_range(item) for item in resolved)
    dport = which == "dport"

    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        if pkt.proto not in ("tcp", "udp", "sctp"):
            return False
        port = pkt.dport if dport else pkt.sport
        if port is None:
            return False
        return any(low <= port <= high for low, high in ranges)

    return test


def _orig_dport(items: list[str], sets: Sets) -> Test:
    """The connection's original destination port (before DNAT), as conntrack remembers it."""
    resolved = _resolve(items, sets)
    if resolved is None:
        return _unknown
    ranges = tuple(port_range(item) for item in resolved)

    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        if pkt.proto not in ("tcp", "udp", "sctp"):
            return False
        port = pkt.orig_dport
        if port is None:
            return None
        return any(low <= port <= high for low, high in ranges)

    return test


def _addr_test(items: list[str], sets: Sets, field: str) -> Test:
    addr = _addresses(items, sets)
    if addr is None:
        return _unknown
    if field == "src":
        return lambda p, w, f: addr(p.src)
    if field == "dst":
        return lambda p, w, f: addr(p.dst)
    if field == "orig_src":
        return lambda p, w, f: addr(p.orig_src or p.src)
    return lambda p, w, f: addr(p.orig_dst or p.dst)


def _ct_states(items: list[str]) -> Test:
    wanted = {i.upper() for i in items}
    if not wanted <= CT_STATES:
        raise Unparsable(",".join(sorted(wanted - CT_STATES)))

    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        # In the raw table conntrack has not seen the packet yet: no state (xt_conntrack says INVALID).
        state = pkt.ct_state if pkt.ct_seen else "INVALID"
        have = {state}
        have |= set(pkt.ct_nat)
        return bool(wanted & have)

    return test


def _iface(which: str, patterns: list[str]) -> Test:
    exact = {p.strip('"') for p in patterns if not p.endswith(("+", "*"))}
    prefixes = tuple(p.strip('"')[:-1] for p in patterns if p.endswith(("+", "*")))
    if which == "iif":
        if not prefixes:
            return lambda p, w, f: w.iif in exact
        return lambda p, w, f: w.iif in exact or (bool(w.iif) and w.iif.startswith(prefixes))
    if not prefixes:
        return lambda p, w, f: w.oif in exact
    return lambda p, w, f: w.oif in exact or (bool(w.oif) and w.oif.startswith(prefixes))


def _addrtype(which: str, types: list[str]) -> Test:
    wanted = {t.upper() for t in types}

    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        addr = pkt.dst if which == "dst" else pkt.src
        return facts.routing.addr_type(addr) in wanted

    return test


def _protocol(items: list[str]) -> Test:
    wanted = {protocol(i) for i in items}

    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        return "all" in wanted or pkt.proto in wanted

    return test


def _icmp(items: list[str], proto: str = "icmp") -> Test:
    """`--icmp-type`/`icmp type` (or, with proto "icmpv6", `--icmpv6-type`/`icmpv6 type`)."""
    wanted = [icmp_type(i, ICMPV6_TYPES if proto == "icmpv6" else ICMP_TYPES) for i in items]

    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        if pkt.proto != proto:
            return False
        return any(t is None or (t == pkt.icmp_type and code in (None, 0)) for t, code in wanted)

    return test


def _mark(value_text: str) -> Test:
    value, _, mask_text = value_text.partition("/")
    want = int(value, 0)
    mask = int(mask_text, 0) if mask_text else 0xFFFFFFFF

    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        if pkt.mark is None:
            return None
        return (pkt.mark & mask) == want

    return test


def _tcp_flags(mask_text: str, comp_text: str) -> Test:
    mask = {f.upper() for f in split_list([mask_text])}
    comp = {f.upper() for f in split_list([comp_text])}
    if "ALL" in mask:
        mask = {"SYN", "ACK", "FIN", "RST", "URG", "PSH"}
    if "NONE" in comp:
        comp = set()

    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        if pkt.proto != "tcp":
            return False
        return (set(pkt.tcp_flags) & mask) == comp

    return test


def _physdev(option: str, args: list[str]) -> Test:
    def test(pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
        if option == "--physdev-in":
            return bool(where.physdev_in) and iface_matches(args[0], where.physdev_in)
        if option == "--physdev-out":
            return bool(where.physdev_out) and iface_matches(args[0], where.physdev_out)
        if option == "--physdev-is-in":
            return bool(where.physdev_in)
        if option == "--physdev-is-out":
            return bool(where.physdev_out)
        return where.bridged  # --physdev-is-bridged

    return test


def _ipset(args: list[str], sets: Sets) -> Test:
    if len(args) < 2:
        raise Unparsable(" ".join(args))
    name, dirs = args[0], split_list([args[1]])
    if len(dirs) != 1 or dirs[0] not in ("src", "dst"):
        raise Unparsable(" ".join(args))  # multi-dimension sets (ip,port ...) are not evaluated
    members = sets.get(name)
    if members is None or any("," in m for m in members):
        return _unknown  # not recorded, or a multi-dimension set (ip,port ...)
    return _addr_test(members, {}, dirs[0])


# --- iptables -------------------------------------------------------------------------------------------


def _iptables(m: Match, sets: Sets) -> Test:
    items = split_list(m.args)
    opt, mod = m.option, m.module
    if opt in ("-s", "--source", "-d", "--destination"):
        return _addr_test(items, sets, "src" if opt in ("-s", "--source") else "dst")
    if opt in ("-i", "--in-interface"):
        return _iface("iif", items)
    if opt in ("-o", "--out-interface"):
        return _iface("oif", items)
    if opt in ("-p", "--protocol"):
        return _protocol(items)
    if opt in ("-f", "--fragment"):
        return lambda p, w, f: False  # the engine reasons about whole, unfragmented packets
    if mod == "comment":
        return lambda p, w, f: True
    if opt in ("--dport", "--destination-port", "--dports", "--destination-ports"):
        return _ports(items, "dport", sets)
    if opt in ("--sport", "--source-port", "--sports", "--source-ports"):
        return _ports(items, "sport", sets)
    if opt == "--ports":
        d, s = _ports(items, "dport", sets), _ports(items, "sport", sets)
        return lambda p, w, f: bool(d(p, w, f) or s(p, w, f))
    if opt in ("--ctstate", "--state"):
        return _ct_states(items)
    if opt in ("--ctorigsrc", "--ctorigdst"):
        return _addr_test(items, sets, "orig_src" if opt == "--ctorigsrc" else "orig_dst")
    if opt == "--ctorigdstport":
        return _orig_dport(items, sets)
    if opt == "--ctdir":
        want = items[0].upper()
        return lambda p, w, f: p.ct_dir == want
    if opt == "--ctproto":
        return _protocol(items)
    if mod == "addrtype" and opt in ("--src-type", "--dst-type"):
        return _addrtype("src" if opt == "--src-type" else "dst", items)
    if mod == "physdev":
        return _physdev(opt, m.args)
    if mod == "iprange" and opt in ("--src-range", "--dst-range"):
        rng = address_predicate(items[0])
        src = opt == "--src-range"
        return lambda p, w, f: rng(p.src if src else p.dst)
    if mod == "set" and opt == "--match-set":
        return _ipset(m.args, sets)
    if mod == "set" and opt in ("--return-nomatch", "! --update-counters", "--update-counters"):
        return lambda p, w, f: True
    if opt == "--icmp-type":
        return _icmp(items)
    if opt == "--icmpv6-type":
        return _icmp(items, "icmpv6")
    if mod == "mark" and opt == "--mark":
        return _mark(items[0])
    if opt == "--syn":
        return _tcp_flags("SYN,RST,ACK,FIN", "SYN")
    if opt == "--tcp-flags" and len(m.args) >= 2:
        return _tcp_flags(m.args[0], m.args[1])
    if mod == "pkttype" and opt == "--pkt-type":
        return lambda p, w, f: items[0].lower() == "unicast"
    if mod in ("tcp", "udp", "icmp", "sctp", "icmp6", "icmpv6", "ipv6-icmp") and not opt:
        return _protocol([mod])
    return _unknown


# --- nftables -------------------------------------------------------------------------------------------


_NFPROTO_IP = {"ipv4", "ip", "2"}
_NFPROTO_IP6 = {"ipv6", "ip6", "10"}
_ETHER_IP = {"ip", "ipv4", "0x0800", "2048"}
_ETHER_IP6 = {"ip6", "ipv6", "0x86dd", "34525"}


def _strip_meta(option: str) -> str:
    option = option.strip()
    return option[5:] if option.startswith("meta ") else option


def _nft_value_test(lhs: str, items: list[str], sets: Sets) -> Test:
    """A positive test `lhs in items` for the nft left-hand sides the engine understands."""
    if lhs in ("iifname", "iif"):
        return _iface("iif", items)
    if lhs in ("oifname", "oif"):
        return _iface("oif", items)
    if lhs in ("ibrname", "ibridgename"):
        return lambda p, w, f: any(iface_matches(i, w.bridge) for i in items) if w.physdev_in else False
    if lhs in ("obrname", "obridgename"):
        return lambda p, w, f: any(iface_matches(i, w.bridge) for i in items) if w.physdev_out else False
    if lhs in ("ip saddr", "ip daddr", "ip6 saddr", "ip6 daddr"):
        # In an inet table `ip saddr` also says "IPv4 only" (and `ip6 saddr` "IPv6 only").
        family = lhs.split()[0]
        test = _addr_test(items, sets, "src" if lhs.endswith("saddr") else "dst")
        return lambda p, w, f: p.family == family and test(p, w, f)
    if lhs in ("ct original saddr", "ct original daddr"):
        return _addr_test(items, sets, "orig_src" if "saddr" in lhs else "orig_dst")
    if lhs in (
        "ct original ip saddr",
        "ct original ip daddr",
        "ct original ip6 saddr",
        "ct original ip6 daddr",
    ):
        family = lhs.split()[2]
        orig = _addr_test(items, sets, "orig_src" if "saddr" in lhs else "orig_dst")
        return lambda p, w, f: p.family == family and orig(p, w, f)
    if lhs in ("l4proto", "ct protocol", "ct original protocol"):
        return _protocol(items)
    if lhs == "nfproto":
        names = {i.lower() for i in items}
        return lambda p, w, f: bool(names & (_NFPROTO_IP6 if p.family == "ip6" else _NFPROTO_IP))
    if lhs == "protocol":
        names = {i.lower() for i in items}
        return lambda p, w, f: bool(names & (_ETHER_IP6 if p.family == "ip6" else _ETHER_IP))
    if lhs in (
        "tcp dport",
        "udp dport",
        "th dport",
        "sctp dport",
        "tcp sport",
        "udp sport",
        "th sport",
        "sctp sport",
    ):
        proto, field = lhs.split()
        ports = _ports(items, field, sets)
        if proto == "th":
            return ports
        return lambda p, w, f: p.proto == proto and ports(p, w, f)
    if lhs in ("ct original proto-dst", "ct original ip proto-dst"):
        return _orig_dport(items, sets)
    if lhs == "ct state":
        return _ct_states(items)
    if lhs == "ct direction":
        return lambda p, w, f: p.ct_dir.lower() in {i.lower() for i in items}
    if lhs == "ct status":
        wanted = {i.lower() for i in items}
        if not wanted <= {"dnat", "snat"}:
            raise Unparsable(",".join(items))
        return lambda p, w, f: bool(wanted & {n.lower() for n in p.ct_nat})
    if lhs in ("fib daddr type", "fib saddr type"):
        which = "dst" if "daddr" in lhs else "src"
        return _addrtype(which, items)
    if lhs == "icmp type":
        return _icmp(items)
    if lhs == "icmpv6 type":
        return _icmp(items, "icmpv6")
    if lhs == "mark":
        if len(items) != 1 or items[0].startswith("@"):
            raise Unparsable(",".join(items))
        return _mark(items[0])
    if lhs == "pkttype":
        return lambda p, w, f: "unicast" in {i.lower() for i in items}
    if lhs in ("ip version", "ip6 version"):
        return lambda p, w, f: items == ["6" if p.family == "ip6" else "4"]
    if lhs in ("ip protocol", "ip6 nexthdr"):
        family = lhs.split()[0]
        proto_test = _protocol(items)
        return lambda p, w, f: p.family == family and proto_test(p, w, f)
    if lhs.startswith(("ip6 ", "icmpv6 ", "ct original ip6 ")):
        # An IPv6 header field dockwire does not evaluate: unknown for IPv6, never true for IPv4.
        return lambda p, w, f: None if p.family == "ip6" else False
    if lhs.startswith("tcp flags & "):
        mask = {
            f.upper() for f in split_list([lhs.removeprefix("tcp flags & ").strip("() ").replace("|", ",")])
        }
        want = {part.strip().upper() for item in items for part in item.split("|")}
        return lambda p, w, f: p.proto == "tcp" and (set(p.tcp_flags) & mask) == want
    raise Unparsable(lhs)


def _nft(m: Match, sets: Sets) -> Test:
    lhs = _strip_meta(m.option)
    items = split_list(m.args) if m.args else []
    if lhs in ("", "counter", "comment", "log"):
        return lambda p, w, f: True
    positive = _nft_value_test(lhs, items, sets)
    op = m.op.strip()
    if op not in ("==", "in", "", "eq", "!=", "ne"):
        raise Unparsable(op)
    # The parser marks `!=` both as op and as negated: either one means "not".
    return _negate(positive) if (m.negated or op in ("!=", "ne")) else positive


def compile_match(m: Match, sets: Sets | None = None) -> Test:
    """A packet test for one condition; conditions dockwire does not understand answer None.

    `sets` are the named sets the condition may refer to: the table's nft sets, or the host's ipsets.
    """
    if not m.known:
        return _unknown
    sets = sets or {}
    try:
        test = _nft(m, sets) if m.module == "nft" else _iptables(m, sets)
    except (Unparsable, ValueError, IndexError):
        return _unknown
    if m.module != "nft" and m.negated:
        return _negate(test)
    return test


# --- guards: what a match needs of a packet, for the rule index -------------------------------------------


@dataclass(frozen=True, slots=True)
class Guard:
    """A necessary condition of one match: its test answers False unless the packet's `field` is in `keys`.

    Fields: "src"/"dst" (keys: (prefix length, network as int)), "iif"/"oif" (keys: interface names;
    `prefixes`: wildcard patterns without their `+`/`*`, letting through any non-empty name they start),
    "proto" (protocol names), "dport" (port numbers). `rank` orders guards by how few packets they let through
    (lower is more selective). The rule index (`dockwire.verdict.ruleindex`) skips a rule whose guard does not
    let the packet through; that is exact because a rule with one False test never matches.
    """

    field: str
    keys: frozenset[object]
    rank: int
    prefixes: frozenset[str] = frozenset()


# Wider port ranges are not expanded into a guard (another of the rule's matches may still guard it).
MAX_GUARD_PORTS = 16


def _address_guard(field: str, items: list[str], sets: Sets) -> Guard | None:
    """Mirrors `_addresses`/`address_predicate`: an address matches iff (length, address & mask) is a key."""
    resolved = _resolve(items, sets)
    if resolved is None:
        return None
    keys: set[object] = set()
    for item in resolved:
        text = item.strip().strip('"')
        if "-" in text and "/" not in text:
            return None  # a range: not indexed
        version, network, length = parse_network(text)
        keys.add((length if version == 4 else length + IPV6_KEY, network))
    exact = all(k[0] in (32, 128 + IPV6_KEY) for k in keys)  # type: ignore[index]
    return Guard(field, frozenset(keys), 0 if exact else 3)


def _iface_guard(field: str, patterns: list[str]) -> Guard:
    """Mirrors `_iface`: the exact names, and the wildcard patterns as prefixes of a non-empty name."""
    exact = frozenset(p.strip('"') for p in patterns if not p.endswith(("+", "*")))
    prefixes = frozenset(p.strip('"')[:-1] for p in patterns if p.endswith(("+", "*")))
    return Guard(field, exact, 4 if prefixes else 2, prefixes)


def _protocol_guard(items: list[str]) -> Guard | None:
    """Mirrors `_protocol`."""
    wanted = {protocol(i) for i in items}
    if "all" in wanted:
        return None
    return Guard("proto", frozenset(wanted), 5)


def _ports_guard(items: list[str], sets: Sets) -> Guard | None:
    """Mirrors `_ports` for destination ports: False for a port outside the items (and for no port)."""
    resolved = _resolve(items, sets)
    if resolved is None:
        return None
    keys: set[object] = set()
    for item in resolved:
        low, high = port_range(item)
        if high - low >= MAX_GUARD_PORTS:
            return None
        keys.update(range(low, high + 1))
    return Guard("dport", frozenset(keys), 1)


def _iptables_guard(m: Match, sets: Sets) -> Guard | None:
    """The dispatch of `_iptables`, in the same order, for the options a guard covers."""
    items = split_list(m.args)
    opt, mod = m.option, m.module
    if opt in ("-s", "--source", "-d", "--destination"):
        return _address_guard("src" if opt in ("-s", "--source") else "dst", items, sets)
    if opt in ("-i", "--in-interface"):
        return _iface_guard("iif", items)
    if opt in ("-o", "--out-interface"):
        return _iface_guard("oif", items)
    if opt in ("-p", "--protocol"):
        return _protocol_guard(items)
    if opt in ("-f", "--fragment") or mod == "comment":
        return None
    if opt in ("--dport", "--destination-port", "--dports", "--destination-ports"):
        return _ports_guard(items, sets)
    if mod == "set" and opt == "--match-set":
        return _ipset_guard(m.args, sets)
    return None


def _ipset_guard(args: list[str], sets: Sets) -> Guard | None:
    """Mirrors `_ipset` (one-dimension sets of addresses, as an address guard on their members)."""
    name, dirs = args[0], split_list([args[1]])
    members = sets.get(name)
    if members is None or len(dirs) != 1 or dirs[0] not in ("src", "dst"):
        return None
    return _address_guard(dirs[0], members, {})


def _nft_guard(m: Match, sets: Sets) -> Guard | None:
    """The dispatch of `_nft`/`_nft_value_test` for the left-hand sides a guard covers (positive only)."""
    lhs = _strip_meta(m.option)
    items = split_list(m.args) if m.args else []
    if m.negated or m.op.strip() not in ("==", "in", "", "eq"):
        return None
    if lhs in ("iifname", "iif"):
        return _iface_guard("iif", items)
    if lhs in ("oifname", "oif"):
        return _iface_guard("oif", items)
    if lhs in ("ip saddr", "ip daddr"):
        return _address_guard("src" if lhs == "ip saddr" else "dst", items, sets)
    if lhs in ("ip protocol", "l4proto", "ct protocol", "ct original protocol"):
        return _protocol_guard(items)
    if lhs in ("tcp dport", "udp dport", "th dport", "sctp dport"):
        return _ports_guard(items, sets)
    return None


def guard_of(m: Match, test: Test, sets: Sets | None = None) -> Guard | None:
    """The guard of a match compiled (by `compile_match`, with the same sets) to `test`, or None.

    None whenever the test could answer anything but False outside a key set: unknown or unparsable
    matches (compiled to the unknown test), negations, wildcards, ranges, "all" protocols.
    """
    if test is _unknown or not m.known:
        return None
    if m.module != "nft" and m.negated:
        return None
    try:
        return _nft_guard(m, sets or {}) if m.module == "nft" else _iptables_guard(m, sets or {})
    except (Unparsable, ValueError, IndexError):
        return None
