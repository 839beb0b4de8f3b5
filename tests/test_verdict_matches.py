"""Rule conditions and rule walking, on rules parsed by the real parsers from recorded host dumps.

The iptables rules come from tests/fixtures/firewall/iptables-save-c.txt and the nftables table
`inet dwtest-fw` from nft-ruleset.json (both recorded by scripts/record-firewall-fixtures); the walk tests
add small rule sets in iptables-save syntax, parsed the same way.
"""

from __future__ import annotations

from ipaddress import IPv4Address
from pathlib import Path

import pytest

from dockwire.model import Firewall, Rule, Table
from dockwire.probes.iptables_save import parse_iptables_save
from dockwire.probes.nft_ruleset import parse_nft_json
from dockwire.verdict.netfilter_eval import HookWalker
from dockwire.verdict.packet import Packet, first_packet, reply_to
from dockwire.verdict.routing import RoutingTables
from dockwire.verdict.ruleset import RuleSet, compile_rule
from dockwire.verdict.where import HostFacts, Where

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"
FORWARD = Where("forward", iif="br-a", oif="br-b")
NO_HOST = HostFacts(RoutingTables([], [], []))


@pytest.fixture(scope="module")
def ipt() -> list[Table]:
    return parse_iptables_save((FIXTURES / "iptables-save-c.txt").read_text(), "iptables-nft")


@pytest.fixture(scope="module")
def nft() -> Table:
    tables = parse_nft_json((FIXTURES / "nft-ruleset.json").read_text())
    return next(t for t in tables if t.name == "dwtest-fw")


def rule_with(tables: list[Table], needle: str) -> Rule:
    return next(r for t in tables for c in t.chains for r in c.rules if needle in r.text)


def check(
    rule: Rule,
    pkt: Packet,
    where: Where = FORWARD,
    sets: dict[str, list[str]] | None = None,
    facts: HostFacts = NO_HOST,
) -> bool | None:
    """True/False when the rule matches or not, None when it cannot be told."""
    compiled = compile_rule(rule, sets or {})
    results = [test(pkt, where, facts) for test in compiled.tests]
    if False in results:
        return False
    return None if None in results else True


def tcp(src: str, dst: str, port: int) -> Packet:
    return first_packet(src, dst, "tcp", port)


def icmp(src: str, dst: str) -> Packet:
    return first_packet(src, dst, "icmp", None)


def test_addresses_protocol_and_multiport(ipt: list[Table]) -> None:
    rule = rule_with(ipt, "multiport")
    assert check(rule, tcp("10.213.41.5", "1.2.3.4", 2225)) is True
    assert check(rule, tcp("10.213.41.5", "1.2.3.4", 9)) is True
    assert check(rule, tcp("10.213.41.5", "1.2.3.4", 2231)) is False
    assert check(rule, tcp("10.213.40.5", "1.2.3.4", 9)) is False
    assert check(rule, first_packet("10.213.41.5", "1.2.3.4", "udp", 9)) is False


def test_negated_source_and_conntrack_new(ipt: list[Table]) -> None:
    rule = rule_with(ipt, "! -s 10.213.41.0/24 -d 10.213.42.0/24 -m conntrack --ctstate NEW")
    # -m limit cannot be known statically: the rule as a whole is unknown when everything else matches
    assert check(rule, icmp("10.213.43.2", "10.213.42.9")) is None
    assert check(rule, icmp("10.213.41.2", "10.213.42.9")) is False
    assert check(rule, reply_to(icmp("10.213.42.9", "10.213.43.2"))) is False  # ESTABLISHED


def test_iprange_and_unknown_module(ipt: list[Table]) -> None:
    rng = rule_with(ipt, "dwtest-iprange")
    assert check(rng, icmp("10.213.43.1", "10.213.44.15")) is True
    assert check(rng, icmp("10.213.43.1", "10.213.44.21")) is False
    unknown = rule_with(ipt, "dwtest-unknown-module")
    assert check(unknown, icmp("10.213.42.1", "10.0.0.1")) is None
    assert check(unknown, icmp("10.213.41.1", "10.0.0.1")) is False  # a known condition already fails


def test_interfaces_with_wildcards_and_negation() -> None:
    tables = parse_iptables_save(
        "*filter\n:FORWARD ACCEPT [0:0]\n-A FORWARD -i br-+ ! -o docker0 -j DROP\nCOMMIT\n", "iptables-nft"
    )
    rule = tables[0].chains[0].rules[0]
    pkt = icmp("10.0.0.1", "10.0.0.2")
    assert check(rule, pkt, Where("forward", iif="br-1234", oif="eth0")) is True
    assert check(rule, pkt, Where("forward", iif="br-1234", oif="docker0")) is False
    assert check(rule, pkt, Where("forward", iif="docker0", oif="eth0")) is False


def test_addrtype_physdev_icmp_type_mark_and_sets() -> None:
    text = """*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -m addrtype --dst-type LOCAL -j ACCEPT
-A FORWARD -m physdev --physdev-in veth1 --physdev-is-bridged -j ACCEPT
-A FORWARD -p icmp -m icmp --icmp-type echo-request -j ACCEPT
-A FORWARD -m mark --mark 0x1/0xff -j ACCEPT
-A FORWARD -m set --match-set allowed src -j ACCEPT
COMMIT
"""
    addrtype, physdev, icmp_type, mark, ipset = parse_iptables_save(text, "iptables-nft")[0].chains[0].rules
    routing = RoutingTables([], [], [])
    routing.local_addresses.add(IPv4Address("192.0.2.2"))
    facts = HostFacts(routing)
    assert check(addrtype, icmp("10.0.0.1", "192.0.2.2"), facts=facts) is True
    assert check(addrtype, icmp("10.0.0.1", "192.0.2.3"), facts=facts) is False
    bridged = Where(
        "forward", iif="docker0", oif="docker0", physdev_in="veth1", physdev_out="veth2", bridged=True
    )
    assert check(physdev, icmp("10.0.0.1", "10.0.0.2"), bridged) is True
    assert check(physdev, icmp("10.0.0.1", "10.0.0.2"), Where("forward", iif="docker0", oif="eth0")) is False
    assert check(icmp_type, icmp("10.0.0.1", "10.0.0.2")) is True
    assert check(icmp_type, reply_to(icmp("10.0.0.1", "10.0.0.2"))) is False  # echo-reply
    assert check(mark, icmp("10.0.0.1", "10.0.0.2")) is False  # mark 0 (scrubbed entering the host)
    assert check(mark, icmp("10.0.0.1", "10.0.0.2").evolve(mark=None)) is None
    assert check(mark, icmp("10.0.0.1", "10.0.0.2").evolve(mark=0x101)) is True
    assert check(ipset, icmp("10.0.0.1", "10.0.0.2"), sets={"allowed": ["10.0.0.0/24"]}) is True
    assert check(ipset, icmp("10.0.1.1", "10.0.0.2"), sets={"allowed": ["10.0.0.0/24"]}) is False
    assert check(ipset, icmp("10.0.0.1", "10.0.0.2")) is None  # set contents not recorded


def test_nft_sets_ranges_flags_and_ip6(nft: Table) -> None:
    rules = {r.text: r for c in nft.chains for r in c.rules}
    hosts = next(r for t, r in rules.items() if "@hosts" in t)
    assert check(hosts, icmp("10.213.41.3", "10.213.41.10"), sets=nft.sets) is True
    assert check(hosts, icmp("10.213.41.3", "10.213.41.12"), sets=nft.sets) is False
    flags = next(r for t, r in rules.items() if "tcp flags" in t)
    assert check(flags, tcp("1.1.1.1", "2.2.2.2", 1500)) is True  # SYN without ACK
    assert check(flags, reply_to(tcp("2.2.2.2", "1.1.1.1", 1500))) is False
    ip6 = next(r for t, r in rules.items() if "ip6 saddr" in t)
    assert check(ip6, icmp("10.0.0.1", "10.0.0.2")) is False
    ct = next(r for t, r in rules.items() if "ct state established,related" in t)
    bridge = ct.matches[0].args[0]
    assert check(ct, reply_to(icmp("1.1.1.1", "2.2.2.2")), Where("forward", iif=bridge, oif="eth0")) is True
    assert check(ct, icmp("1.1.1.1", "2.2.2.2"), Where("forward", iif=bridge, oif="eth0")) is False
    assert check(ct, reply_to(icmp("1.1.1.1", "2.2.2.2")), Where("forward", iif=bridge, oif=bridge)) is False
    mark = next(r for t, r in rules.items() if "meta mark 0x00000042" in t)
    assert check(mark, icmp("10.213.41.1", "1.1.1.1").evolve(mark=0x42)) is True


# --- walking chains --------------------------------------------------------------------------------------


def walker(text: str) -> HookWalker:
    tables = parse_iptables_save(text, "iptables-nft")
    return HookWalker(RuleSet(Firewall(iptables_backend="nft", tables=tables)), NO_HOST)


def run(w: HookWalker, pkt: Packet, where: Where = FORWARD) -> list[tuple[str, str]]:
    """(verdict, culprit text or policy) of every branch."""
    out = []
    for o in w.run("ip", where, pkt):
        culprit = "" if o.culprit is None else (o.culprit.rule.rule.text if o.culprit.rule else "policy")
        out.append((o.verdict, culprit))
    return out


WALK = """*filter
:FORWARD DROP [0:0]
:A - [0:0]
:B - [0:0]
:C - [0:0]
-A FORWARD -j A
-A FORWARD -s 10.0.0.0/8 -g C
-A FORWARD -j ACCEPT
-A A -p tcp -j B
-A A -p udp -j RETURN
-A A -s 10.9.0.0/16 -j DROP
-A B -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable
-A B -j RETURN
-A C -d 10.1.0.0/16 -j ACCEPT
COMMIT
"""


def test_jumps_returns_gotos_and_policies() -> None:
    w = walker(WALK)
    assert run(w, tcp("192.0.2.1", "10.1.0.1", 80)) == [
        ("REJECT", "-A B -m tcp --dport 80 -j REJECT --reject-with icmp-port-unreachable")
    ]
    assert run(w, tcp("192.0.2.1", "10.1.0.1", 22)) == [("ACCEPT", "")]  # B returns to A, A to FORWARD
    assert run(w, icmp("10.9.1.1", "10.1.0.1")) == [("DROP", "-A A -s 10.9.0.0/16 -j DROP")]
    assert run(w, icmp("10.8.1.1", "10.1.0.1")) == [("ACCEPT", "")]  # goto C accepts
    # goto C, no match, end of C: back to FORWARD's caller (none): the policy decides
    assert run(w, icmp("10.8.1.1", "10.2.0.1")) == [("DROP", "policy")]


def test_unknown_condition_forks_and_only_matters_when_outcomes_differ() -> None:
    text = """*filter
:FORWARD ACCEPT [0:0]
-A FORWARD -m length --length 1:100 -j LOG
-A FORWARD -m length --length 1:100 -d 10.0.0.2/32 -j DROP
COMMIT
"""
    w = walker(text)
    assert set(run(w, icmp("10.0.0.1", "10.0.0.3"))) == {("ACCEPT", "")}  # LOG only: every branch accepts
    assert set(run(w, icmp("10.0.0.1", "10.0.0.2"))) == {
        ("ACCEPT", ""),
        ("DROP", "-A FORWARD -m length --length 1:100 -d 10.0.0.2/32 -j DROP"),
    }


def test_raw_table_sees_no_conntrack_state_and_nat_only_new_packets() -> None:
    text = """*raw
:PREROUTING ACCEPT [0:0]
-A PREROUTING -m conntrack --ctstate NEW -j DROP
COMMIT
*nat
:PREROUTING ACCEPT [0:0]
-A PREROUTING -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.0.0.9:80
COMMIT
"""
    w = walker(text)
    where = Where("prerouting", iif="eth0")
    first = tcp("192.0.2.1", "192.0.2.2", 8080)
    (out,) = w.run("ip", where, first)
    assert out.verdict == "ACCEPT" and (str(out.packet.dst), out.packet.dport) == ("10.0.0.9", 80)
    (again,) = w.run("ip", where, reply_to(first).evolve(src=first.src, dst=first.dst, dport=8080))
    assert again.packet.dst == first.dst  # established packets skip the nat table


def test_an_ipv6_field_dockwire_does_not_read_is_unknown_for_ipv6_only() -> None:
    from ipaddress import ip_address

    from dockwire.model import Match
    from dockwire.verdict.matches import compile_match
    from dockwire.verdict.packet import Packet
    from dockwire.verdict.routing import RoutingTables
    from dockwire.verdict.where import HostFacts, Where

    test = compile_match(Match(module="nft", option="ip6 hoplimit", args=["1"]))
    facts, where = HostFacts(RoutingTables([])), Where("forward")
    v4 = Packet(src=ip_address("10.0.0.1"), dst=ip_address("10.0.0.2"), proto="tcp", dport=80)
    v6 = Packet(src=ip_address("fd00::1"), dst=ip_address("fd00::2"), proto="tcp", dport=80)
    assert test(v4, where, facts) is False and test(v6, where, facts) is None
