"""IPv6 in the verdict engine, on the recorded dual-stack lab (Docker 28.5.2, iptables-nft).

tests/fixtures/snapshots/engine-28.5.2-iptables-nft-ipv6.json was recorded with the lab's ipv6 scenario
(scripts/record-verdict-fixtures): dwlab-v6-a/-b on dwlab-v6 (fd00:d0c:6::/64) and an ip6tables
DOCKER-USER rule dropping tcp/80 from a to b over IPv6; real traffic for its cases is in the .observed.json
beside it (checked by tests/test_verdict_recorded.py). The inet table is tests/inet_table.py, recorded as
nft JSON by scripts/record-inet-fixture.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import msgspec
import pytest

from dockwire.lab.scenarios import V6_A, V6_B
from dockwire.model import HostModel
from dockwire.probes.nft_ruleset import parse_nft_json
from dockwire.snapshot import load
from dockwire.verdict.records import Verdict
from dockwire.verdict.render import render_verdict
from dockwire.verdict.verdict import VerdictError, evaluate
from tests import inet_table
from tests.verdict_models import with_policy, with_rule

FIXTURES = Path(__file__).parent / "fixtures"
SNAPSHOT = FIXTURES / "snapshots" / "engine-28.5.2-iptables-nft-ipv6.json"
INET = FIXTURES / "firewall" / "inet-table.json"


@cache
def model() -> HostModel:
    return load(SNAPSHOT)


def why(m: HostModel, src: str, dst: str, proto: str = "icmp", port: int | None = None, **kw: int) -> Verdict:
    return evaluate(m, src, dst, proto, port, **kw)


def test_ip6tables_docker_user_rule_is_the_culprit_and_the_fix_uses_ip6tables() -> None:
    v = why(model(), "dwlab-v6-a", "dwlab-v6-b", "tcp", 80, family=6)
    assert v.verdict == "blocked", render_verdict(v)
    assert (v.src.address, v.dst.address) == (V6_A, V6_B)
    culprit = v.culprit
    assert culprit is not None
    assert (culprit.family, culprit.table, culprit.chain, culprit.position) == (
        "ip6",
        "filter",
        "DOCKER-USER",
        1,
    )
    assert culprit.owner == "dockwire" and culprit.source == "iptables-nft"
    assert v.fix == [f"ip6tables -D DOCKER-USER {culprit.body}"]
    assert "ip6 filter DOCKER-USER #1" in render_verdict(v)
    assert culprit.title == "ip6 filter/DOCKER-USER #1"  # what the dashboard's result pane says


def test_the_family_picks_the_address_of_a_dual_stack_container() -> None:
    v4 = why(model(), "dwlab-v6-a", "dwlab-v6-b", "tcp", 80)
    assert v4.verdict == "allowed" and ":" not in v4.dst.address  # the IPv6 rule does not touch IPv4
    v6 = why(model(), "dwlab-v6-a", "dwlab-v6-b", family=6)
    assert v6.verdict == "allowed" and v6.dst.address == V6_B
    assert any("icmpv6" in h.text for h in v6.path)
    assert all("ip6 " in h.text for h in v6.path if h.kind == "hook")


def test_an_ipv6_address_decides_the_family_and_brackets_carry_a_port() -> None:
    assert why(model(), "dwlab-v6-a", V6_B).dst.address == V6_B
    v = why(model(), "dwlab-v6-a", f"[{V6_B}]:80", "tcp")
    assert v.verdict == "blocked" and v.proto == "tcp" and v.culprit is not None and v.culprit.family == "ip6"
    with pytest.raises(VerdictError, match="is an IPv6 address, but IPv4 was asked for"):
        why(model(), V6_A, "dwlab-v6-b", family=4)
    v4_b = model().container("dwlab-v6-b")
    assert v4_b is not None
    with pytest.raises(VerdictError, match=r"is IPv4 and .* is IPv6"):
        why(model(), V6_A, v4_b.endpoints[0].ip)


def test_a_container_without_ipv6_has_no_ipv6_flow() -> None:
    v = why(model(), "dwlab-v6-a", "dwlab-default-b", family=6)
    assert v.verdict == "blocked" and v.missing == "no-address", render_verdict(v)
    v = why(model(), "dwlab-default-a", "dwlab-v6-b", family=6)
    assert v.verdict == "blocked", render_verdict(v)


def test_ipv6_forwarding_off_blocks_routed_ipv6_only() -> None:
    off = msgspec.structs.replace(
        model(), sysctls=msgspec.structs.replace(model().sysctls, ipv6_forwarding=0)
    )
    v6 = why(off, "dwlab-v6-a", "host", family=6)
    assert v6.verdict == "allowed"  # to the host's own address: not forwarded
    v = why(off, "dwlab-v6-a", "outside:2001:db8::5")
    assert v.verdict == "blocked" and v.missing == "ipv6_forwarding", render_verdict(v)
    assert v.fix == ["sysctl -w net.ipv6.conf.all.forwarding=1"]
    assert why(off, "dwlab-v6-a", "outside:198.51.100.2").missing != "ipv6_forwarding"


def test_bridged_ipv6_meets_ip6tables_only_through_bridge_nf_call_ip6tables() -> None:
    off = msgspec.structs.replace(
        model(), sysctls=msgspec.structs.replace(model().sysctls, bridge_nf_call_ip6tables=0)
    )
    assert why(off, "dwlab-v6-a", "dwlab-v6-b", "tcp", 80, family=6).verdict == "allowed"
    assert (
        why(off, "dwlab-v6-a", "dwlab-default-b", "tcp", 80).verdict
        == why(model(), "dwlab-v6-a", "dwlab-default-b", "tcp", 80).verdict
    )


# --- an inet table applies to both families ---------------------------------------------------------------


@cache
def with_inet() -> HostModel:
    recorded = json.loads(INET.read_text())
    m = model()
    bridge = next(n.bridge for n in m.networks if n.name == "dwlab-v6")
    assert recorded["bridge"] == bridge  # recorded on the same lab
    tables = parse_nft_json(recorded["nft"])
    return msgspec.structs.replace(
        m, firewall=msgspec.structs.replace(m.firewall, tables=[*m.firewall.tables, *tables])
    )


@pytest.mark.parametrize("family", [4, 6])
def test_an_inet_drop_is_seen_on_ipv4_and_ipv6_flows(family: int) -> None:
    v = why(with_inet(), "dwlab-v6-b", "dwlab-v6-a", "tcp", inet_table.PORT, family=family)
    assert v.verdict == "blocked", render_verdict(v)
    culprit = v.culprit
    assert culprit is not None and (culprit.family, culprit.table, culprit.chain) == (
        "inet",
        inet_table.TABLE,
        "forward",
    )
    assert culprit.text.endswith(f"tcp dport {inet_table.PORT} drop")
    assert v.fix and v.fix[0].startswith(f"nft delete rule inet {inet_table.TABLE} forward handle ")


def test_inet_rules_for_one_family_leave_the_other_alone() -> None:
    v6 = why(with_inet(), "dwlab-v6-a", "dwlab-v6-b", "udp", 9, family=6)
    assert v6.verdict == "blocked" and v6.culprit is not None and "ip6 saddr" in v6.culprit.text
    v4 = why(with_inet(), "dwlab-v6-a", "dwlab-v6-b", "udp", 9, family=4)
    assert v4.verdict == "blocked" and v4.culprit is not None and "nfproto ipv4" in v4.culprit.text
    other = why(with_inet(), "dwlab-v6-b", "dwlab-v6-a", "udp", 9, family=6)
    assert other.verdict == "allowed", render_verdict(other)  # not from V6_A, not IPv4


def test_an_outside_client_of_an_ipv6_flow_is_an_ipv6_one() -> None:
    out = why(model(), "dwlab-v6-a", "outside", family=6)
    assert out.dst.address == "2001:db8::10" and out.verdict == "allowed", render_verdict(out)
    assert any(h.kind == "nat" and "MASQUERADE" in h.text for h in out.path)  # Docker 28 masquerades IPv6
    back = why(model(), "outside", "dwlab-v6-a", family=6)
    assert back.verdict == "blocked" and back.culprit is not None
    assert (back.culprit.family, back.culprit.table, back.culprit.chain) == ("ip6", "raw", "PREROUTING")


def test_matrix_over_ipv6_has_the_dual_stack_containers_and_the_ipv6_verdicts() -> None:
    from click.testing import CliRunner

    from dockwire.cli import main
    from dockwire.verdict.matrix import build_matrix

    built = build_matrix(model(), family=6)
    assert built.containers == ["dwlab-v6-a", "dwlab-v6-b", "dwlab-v6r-web"]
    for cell in built.cells:
        for check in cell.checks:
            v = why(model(), cell.src, cell.dst, check.proto, check.port, family=6)
            assert (check.verdict, check.reason) == (v.verdict, v.reason)
    result = CliRunner().invoke(main, ["matrix", "-6", "--json", "--snapshot", str(SNAPSHOT)])
    assert result.exit_code == 0 and json.loads(result.output)["containers"] == built.containers


def test_the_embedded_dns_answers_aaaa_for_a_dual_stack_container() -> None:
    v = why(model(), "dwlab-v6-a", "name:dwlab-v6-b")
    assert v.verdict == "allowed" and f"(AAAA {V6_B})" in v.reason, render_verdict(v)


def test_disable_ipv6_on_the_way_out_blocks_ipv6_and_names_the_interface() -> None:
    sysctls = model().sysctls
    assert not sysctls.ipv6_disabled("dwlab-out0")  # as recorded
    off = msgspec.structs.replace(
        model(),
        sysctls=msgspec.structs.replace(sysctls, disable_ipv6={**sysctls.disable_ipv6, "dwlab-out0": 1}),
    )
    v = why(off, "dwlab-v6r-web", "outside:2001:db8:100::2", family=6)
    assert v.verdict == "blocked" and v.missing == "disable_ipv6", render_verdict(v)
    assert "dwlab-out0" in v.reason and v.fix == ["sysctl -w net/ipv6/conf/dwlab-out0/disable_ipv6=0"]
    assert why(off, "dwlab-v6r-web", "outside:198.51.100.2").verdict == "allowed"  # IPv4 is not concerned
    assert why(model(), "dwlab-v6r-web", "outside:2001:db8:100::2", family=6).verdict == "allowed"


def test_the_sysctl_bar_shows_ipv6_forwarding_and_alarms_when_ipv6_is_disabled_everywhere() -> None:
    from dockwire.widgets.sysctl_bar import sysctl_chips

    text, alarm = sysctl_chips(model())
    assert "ipv6 fwd=1" in text.plain and "disable_ipv6" not in text.plain and not alarm
    sysctls = msgspec.structs.replace(model().sysctls, disable_ipv6={"all": 1})
    text, alarm = sysctl_chips(msgspec.structs.replace(model(), sysctls=sysctls))
    assert "disable_ipv6=1 (all)" in text.plain and alarm


def test_outside_straight_to_a_nat_mode_container_over_ipv6_points_at_routed_mode() -> None:
    v = why(model(), "outside:2001:db8:100::2", "dwlab-v6-a", family=6)
    assert v.verdict == "blocked" and v.culprit is not None
    assert (v.culprit.family, v.culprit.table, v.culprit.chain) == ("ip6", "raw", "PREROUTING")
    assert "gateway_mode_ipv6=routed" in v.fix_note
    v4 = why(model(), "outside:198.51.100.2", "dwlab-v6-a")
    assert v4.verdict == "blocked" and "gateway_mode_ipv6" not in v4.fix_note
    # The routed network's container is reached that way, and its unpublished port is named as such.
    routed = why(model(), "outside:2001:db8:100::2", "dwlab-v6r-web", "tcp", 81, family=6)
    assert routed.culprit is not None and routed.culprit.chain == "DOCKER"
    assert "published port" in routed.fix_note


# --- neighbour discovery must pass -------------------------------------------------------------------------


def _ndp_blocked(v: Verdict) -> None:
    assert v.verdict == "blocked" and v.missing == "ndp", render_verdict(v)
    assert "neighbour discovery" in v.reason


def test_a_rule_dropping_all_icmpv6_between_containers_breaks_every_ipv6_flow_through_ndp() -> None:
    """`-p ipv6-icmp -j DROP` in DOCKER-USER looks like "no ping", but the bridged neighbour solicitations
    are ICMPv6 too: TCP over IPv6 between the pair fails as well, IPv4 does not."""
    m = with_rule(model(), "filter", "DOCKER-USER", "-A DOCKER-USER -p ipv6-icmp -j DROP", family="ip6")
    v = why(m, "dwlab-v6-a", "dwlab-v6-b", "tcp", 81, family=6)
    _ndp_blocked(v)
    assert v.culprit is not None and (v.culprit.family, v.culprit.chain, v.culprit.position) == (
        "ip6",
        "DOCKER-USER",
        1,
    )
    assert (
        v.fix[0]
        == "ip6tables -t filter -I DOCKER-USER -p ipv6-icmp --icmpv6-type neighbour-solicitation -j ACCEPT"
    )
    assert why(m, "dwlab-v6-a", "dwlab-v6-b", "tcp", 81).verdict == "allowed"
    assert why(model(), "dwlab-v6-a", "dwlab-v6-b", "tcp", 81, family=6).verdict == "allowed"


def test_an_input_policy_drop_that_admits_ping_still_starves_the_gateway_of_ndp() -> None:
    """INPUT DROP with echo-request and ESTABLISHED,RELATED accepted: conntrack leaves neighbour discovery
    untracked, so the containers never learn their gateway's address; accepting NS/NA fixes it."""
    m = with_policy(model(), "filter", "INPUT", "DROP", family="ip6")
    for rule in (
        "-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type 128 -j ACCEPT",
        "-A INPUT -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
    ):
        m = with_rule(m, "filter", "INPUT", rule, family="ip6")
    for dst in ("host", "outside:2001:db8:100::2"):  # the gateway itself, and everything routed through it
        v = why(m, "dwlab-v6-a", dst, family=6)
        _ndp_blocked(v)
        assert v.culprit is not None and v.culprit.chain == "INPUT" and v.culprit.position is None
        assert any("neighbour-advertisement" in c for c in v.fix), v.fix
    fixed = m
    for kind in ("neighbour-solicitation", "neighbour-advertisement"):
        fixed = with_rule(
            fixed,
            "filter",
            "INPUT",
            f"-A INPUT -p ipv6-icmp -m icmp6 --icmpv6-type {kind} -j ACCEPT",
            family="ip6",
        )
    assert why(fixed, "dwlab-v6-a", "host", family=6).verdict == "allowed"


def test_ndp_of_a_bridged_flow_never_meets_the_hosts_own_input_or_output() -> None:
    """Two containers on one bridge solicit each other: the host's INPUT and OUTPUT policies do not matter."""
    for chain in ("INPUT", "OUTPUT"):
        m = with_policy(model(), "filter", chain, "DROP", family="ip6")
        v = why(m, "dwlab-v6-a", "dwlab-v6-b", "tcp", 81, family=6)
        assert v.verdict == "allowed", f"{chain} DROP\n" + render_verdict(v)


def test_outside_to_a_container_over_ipv6_points_at_its_published_port_in_brackets() -> None:
    from dockwire.model import PortBinding

    m = model()
    a = m.container("dwlab-v6-a")
    assert a is not None
    bound = msgspec.structs.replace(
        a, ports=[PortBinding(container_port=80, proto="tcp", host_ip="::", host_port=18090)]
    )
    m = msgspec.structs.replace(m, containers=[bound if c.id == a.id else c for c in m.containers])
    v = why(m, "outside:2001:db8:100::2", "dwlab-v6-a", "tcp", 80, family=6)
    assert v.verdict == "blocked", render_verdict(v)
    assert v.fix == ["dockwire why outside:2001:db8:100::2 [2001:db8:100::1]:18090 --proto tcp"], v.fix
