"""Probe logic that needs no packets: argument checks, SRC/DST resolution, reading the sender's report,
the text output, privileges, and that nothing imports scapy before a packet is sent."""

from __future__ import annotations

import dataclasses
import os
import subprocess
import sys
from typing import Any

import msgspec
import pytest

from dockwire.actions.endpoints import (
    GATEWAY,
    ProbeError,
    check_outbound,
    resolve_destination,
    resolve_source,
)
from dockwire.actions.interpret import interpret
from dockwire.actions.netns_exec import WorkerReport, check_privileges
from dockwire.actions.render import DISAGREE_BANNER, render_text
from dockwire.actions.result import Evidence, ProbeResult, Reply, StaticComparison
from dockwire.actions.runner import _dns_target, _hosts_answer, check_args, split_destination
from dockwire.cli.common import EXIT_BLOCKED, EXIT_OK, EXIT_UNCERTAIN
from dockwire.cli.probe import exit_code
from dockwire.model import Container, DnsConfig, Endpoint, HostEntry, HostModel, RuleRef

ME = os.getpid()  # a process whose network namespace surely exists


def ep(network: str, ip: str, gw: str) -> Endpoint:
    return Endpoint(network_id=f"id-{network}", network=network, ip=ip, prefixlen=24, gateway=gw)


def host_model() -> HostModel:
    hosts = [HostEntry(ip="10.0.9.9", names=["db"]), HostEntry(ip="fd00:9::9", names=["db"])]
    dns = DnsConfig(nameservers=["127.0.0.11"], hosts=hosts)
    v6 = Endpoint(network_id="id-v6", network="v6", ip="10.0.6.2", prefixlen=24, gateway="10.0.6.1",
                  ipv6="fd00:6::2", ipv6_prefixlen=64, ipv6_gateway="fd00:6::1")  # fmt: skip
    v6_peer = msgspec.structs.replace(v6, ip="10.0.6.3", ipv6="fd00:6::3")
    return HostModel(
        containers=[
            Container(id="a" * 64, name="web", state="running", pid=ME, network_mode="front",
                      endpoints=[ep("front", "10.0.1.2", "10.0.1.1")], dns=dns),
            Container(id="b" * 64, name="api", state="running", pid=ME, network_mode="front",
                      endpoints=[ep("back", "10.0.2.3", "10.0.2.1"), ep("front", "10.0.1.3", "10.0.1.1")]),
            Container(id="c" * 64, name="side", state="running", pid=ME, network_mode="container:" + "a" * 64,
                      netns_owner="a" * 64),
            Container(id="d" * 64, name="off", state="exited", pid=None, network_mode="front"),
            Container(id="e" * 64, name="alone", state="running", pid=ME, network_mode="none"),
            Container(id="f" * 64, name="hostnet", state="running", pid=ME, network_mode="host"),
            Container(id="1" * 64, name="dual", state="running", pid=ME, network_mode="v6", endpoints=[v6]),
            Container(id="2" * 64, name="dual-peer", state="running", pid=ME, network_mode="v6",
                      endpoints=[v6_peer]),
        ]
    )  # fmt: skip


# --- arguments and endpoints ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("ping", None, 1, 1.0, 8), "unknown protocol"),
        (("tcp", None, 1, 1.0, 8), "needs --port"),
        (("icmp", 80, 1, 1.0, 8), "makes no sense with icmp"),
        (("udp", 70000, 1, 1.0, 8), "out of range"),
        (("icmp", None, 11, 1.0, 8), "--count"),
        (("icmp", None, 1, 9.0, 8), "--timeout"),
        (("trace", None, 1, 1.0, 40), "--max-hops"),
    ],
)
def test_bad_arguments_are_refused(args: tuple, message: str) -> None:
    with pytest.raises(ProbeError, match=message):
        check_args(*args)


def test_destination_forms_of_why_are_accepted() -> None:
    assert split_destination("host:18080", "icmp", None) == ("host", "tcp", 18080)
    assert split_destination("127.0.0.1:15353", "udp", None) == ("127.0.0.1", "udp", 15353)
    assert split_destination("[fd00:6::3]:81", "icmp", None) == ("fd00:6::3", "tcp", 81)
    assert split_destination("fd00:6::3", "icmp", None) == ("fd00:6::3", "icmp", None)
    assert split_destination("name:db", "icmp", None) == ("db", "dns", None)
    assert split_destination("web", "tcp", 80) == ("web", "tcp", 80)


def test_source_forms() -> None:
    m = host_model()
    web = resolve_source(m, "web")
    assert (web.kind, web.netns, web.addresses, web.resolvers) == (
        "container",
        f"/proc/{ME}/ns/net",
        ["10.0.1.2"],
        ["127.0.0.11"],
    )
    side = resolve_source(m, "side")
    assert side.container is not None and side.container.name == "web" and side.label == "side"
    assert resolve_source(m, "host").netns is None
    assert resolve_source(m, "hostnet").kind == "host"
    assert resolve_source(m, "alone").loopback_only
    with pytest.raises(ProbeError, match="not running"):
        resolve_source(m, "off")
    with pytest.raises(ProbeError, match="no such container or network namespace"):
        resolve_source(m, "nobody-by-this-name")


def test_outside_is_the_namespace_the_caller_names() -> None:
    """`outside` is no fixed namespace of the lab's: without --outside it says what to give."""
    m = host_model()
    with pytest.raises(ProbeError, match="--outside NETNS"):
        resolve_source(m, "outside")
    with pytest.raises(ProbeError, match="no such network namespace"):
        resolve_source(m, "outside:198.51.100.2", outside="dwtest-no-such-netns")


def test_destination_prefers_a_shared_network_and_never_invents_addresses() -> None:
    m = host_model()
    web = resolve_source(m, "web")
    assert resolve_destination(m, web, "api").address == "10.0.1.3"  # api's address on `front`, shared
    assert resolve_destination(m, web, "host").address == "10.0.1.1"  # web's gateway
    assert resolve_destination(m, web, "side").address == "127.0.0.1"  # same namespace
    assert resolve_destination(m, web, "192.0.2.7").address == "192.0.2.7"
    assert resolve_destination(m, resolve_source(m, "host"), "host").address == "127.0.0.1"
    with pytest.raises(ProbeError, match="uses the host's network"):
        resolve_destination(m, web, "hostnet")
    with pytest.raises(ProbeError, match="not an IP address"):
        resolve_destination(m, web, "unknown-thing")
    alone = resolve_source(m, "alone")
    with pytest.raises(ProbeError, match="no network but loopback"):
        check_outbound(alone, resolve_destination(m, alone, "api"))
    assert GATEWAY.startswith("@")


def test_family_6_picks_the_ipv6_address_gateway_and_loopback() -> None:
    m = host_model()
    dual = resolve_source(m, "dual")
    assert dual.addresses6 == ["fd00:6::2"] and dual.gateways6 == ["fd00:6::1"]
    peer = resolve_destination(m, dual, "dual-peer", 6)
    assert (peer.address, peer.family) == ("fd00:6::3", 6)
    assert resolve_destination(m, dual, "dual-peer").address == "10.0.6.3"  # IPv4 unless asked
    assert resolve_destination(m, dual, "host", 6).address == "fd00:6::1"
    assert resolve_destination(m, dual, "dual", 6).address == "::1"
    literal = resolve_destination(m, dual, "[2001:db8::1]")
    assert (literal.address, literal.family) == ("2001:db8::1", 6)
    with pytest.raises(ProbeError, match="is an IPv6 address, but IPv4 was asked for"):
        resolve_destination(m, dual, "2001:db8::1", 4)
    with pytest.raises(ProbeError, match="none of its networks was created with --ipv6"):
        resolve_destination(m, resolve_source(m, "web"), "api", 6)
    alone = resolve_source(m, "alone")
    check_outbound(alone, resolve_destination(m, alone, "::1"))  # loopback is there without a network
    with pytest.raises(ProbeError, match="no network but loopback"):
        check_outbound(alone, resolve_destination(m, alone, "fd00:6::3"))


def test_dns_goes_only_to_docker_embedded_dns_unless_a_server_is_named() -> None:
    m = host_model()
    web = resolve_source(m, "web")
    assert _dns_target(web, "api", None) == ("127.0.0.11", "")
    assert _hosts_answer(web, "db", 4) == ["10.0.9.9"]
    assert _hosts_answer(web, "db", 6) == ["fd00:9::9"]
    assert _dns_target(web, "api", "[fd00:53::1]") == ("fd00:53::1", "")
    api = resolve_source(m, "api")
    with pytest.raises(ProbeError, match="no resolver is known"):
        _dns_target(api, "web", None)
    assert _dns_target(api, "web", "192.0.2.53") == ("192.0.2.53", "")
    hosty = dataclasses.replace(resolve_source(m, "web"), resolvers=["10.255.255.53"])
    server, reason = _dns_target(hosty, "api", None)
    assert server == "10.255.255.53" and "not Docker's embedded DNS" in reason


# --- reading the sender's report --------------------------------------------------------------------------


def read(proto: str, replies: list[Reply], evidence: Evidence | None = None, **kw: Any) -> ProbeResult:
    m = host_model()
    report = WorkerReport(dst="10.0.1.3", src_ip="10.0.1.2", route="10.0.1.3 dev eth0 src 10.0.1.2",
                          sent=len(replies), replies=replies, **kw)  # fmt: skip
    base = ProbeResult(src="web", dst="api", proto=proto, port=80 if proto in ("tcp", "udp") else None)
    return interpret(base, resolve_source(m, "web"), "10.0.1.3", report, evidence or Evidence(), m)


def test_tcp_outcomes() -> None:
    assert read("tcp", [Reply(seq=1, kind="syn-ack", src="10.0.1.3", rtt_ms=0.2)]).outcome == "open"
    closed = read("tcp", [Reply(seq=1, kind="rst", src="10.0.1.3", rtt_ms=0.2)])
    assert closed.outcome == "closed" and closed.delivered is True
    assert read("tcp", [Reply(seq=1, kind="none")]).outcome == "filtered"
    drop = RuleRef(table="filter", chain="DOCKER", position=3, text="-A DOCKER ! -i br-x -o br-x -j DROP")
    blocked = read("tcp", [Reply(seq=1, kind="none")], Evidence(mode="nftrace", dropped_by=drop))
    assert blocked.outcome == "blocked" and blocked.delivered is False
    assert "filter/DOCKER #3" in blocked.summary


def test_udp_and_icmp_outcomes() -> None:
    refused = read("udp", [Reply(seq=1, kind="icmp-unreachable", src="10.0.1.3", detail="port-unreachable")])
    assert refused.outcome == "closed"
    other = read("udp", [Reply(seq=1, kind="icmp-unreachable", src="10.0.1.1", detail="host-unreachable")])
    assert other.outcome == "unreachable" and other.delivered is False
    assert read("udp", [Reply(seq=1, kind="none")]).outcome == "open|filtered"
    ping = read("icmp", [Reply(seq=1, kind="echo-reply", src="10.0.1.3", rtt_ms=0.5),
                         Reply(seq=2, kind="echo-reply", src="10.0.1.3", rtt_ms=0.25)])  # fmt: skip
    assert ping.outcome == "reached" and ping.received == 2 and ping.rtt_ms_avg == 0.375


def test_no_route_and_failed_arp_are_named() -> None:
    m = host_model()
    report = WorkerReport(dst="192.0.2.7", no_route=True, route="Network is unreachable",
                          routes=["10.0.1.0/24 dev eth0 proto kernel scope link src 10.0.1.2"])  # fmt: skip
    base = ProbeResult(src="web", dst="192.0.2.7", proto="icmp")
    r = interpret(base, resolve_source(m, "web"), "192.0.2.7", report, Evidence(), m)
    assert r.outcome == "no-route" and "never left web" in r.summary and r.routes
    arp = read("icmp", [Reply(seq=1, kind="none")], neighbour="10.0.1.3 dev eth0 FAILED")
    assert any("ARP for 10.0.1.3 got no answer" in w for w in arp.warnings)


def test_exit_codes() -> None:
    assert exit_code("reached") == exit_code("open") == exit_code("answered") == EXIT_OK
    assert exit_code("blocked") == exit_code("no-route") == exit_code("no-docker-dns") == EXIT_BLOCKED
    assert exit_code("open|filtered") == exit_code("no-answer") == EXIT_UNCERTAIN


def test_a_disagreement_is_shown_loudly_with_both_stories() -> None:
    r = read("tcp", [Reply(seq=1, kind="none")])
    static = StaticComparison(
        available=True,
        allowed=True,
        summary="web can reach api on tcp/80",
        agrees=False,
        note="the static verdict says allowed, but the probe did not get through",
    )
    text = render_text(msgspec.structs.replace(r, static=static))
    assert DISAGREE_BANNER in text
    assert "static: web can reach api on tcp/80" in text and f"probe:  {r.summary}" in text


# --- privileges and import cost ---------------------------------------------------------------------------


def test_without_root_the_error_says_what_is_needed() -> None:
    if os.geteuid() != 0:
        with pytest.raises(ProbeError, match="needs root"):
            check_privileges(need_trace=True)
        return
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: drop to nobody, report the error text
        try:
            os.close(read_end)
            os.setgroups([])
            os.setgid(65534)
            os.setuid(65534)
            try:
                check_privileges(need_trace=True)
                msg = "no error"
            except ProbeError as exc:
                msg = str(exc)
            os.write(write_end, msg.encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        msg = pipe.read().decode()
    os.waitpid(pid, 0)
    assert "needs root" in msg and "CAP_NET_RAW" in msg and "CAP_NET_ADMIN" in msg
    assert "\n" not in msg


def test_nothing_imports_scapy_before_sending() -> None:
    code = (
        "import sys, dockwire.cli, dockwire.actions.runner, dockwire.actions.tracing.session;"
        "print('scapy' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "False"
