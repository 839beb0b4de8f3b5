"""Active probes against the live lab: real packets from inside lab containers and the outside namespace,
with the kernel's own trace naming the rule that judged them (nft backend on this host).

Only lab containers, the lab's namespace and the host's addresses on the lab's links are probed. The one
change to the lab (connecting dwlab-iso-a to dwlab-net-b) is undone in that test's teardown, and after the
module no dockwire trace table or rule may be left on the host.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockwire.actions.endpoints import ProbeError
from dockwire.actions.result import ProbeResult
from dockwire.actions.runner import run_probe
from dockwire.actions.tracing.base import PREFIX, Marker, iptables_backend, new_run_id
from dockwire.actions.tracing.leftovers import list_trace_objects, sweep_leftovers
from dockwire.actions.tracing.legacy_log import LegacyLogTracer
from dockwire.actions.tracing.nft import NftTracer
from dockwire.actions.tracing.session import TraceSession
from dockwire.collect import collect
from dockwire.model import HostModel

pytestmark = pytest.mark.live
if os.geteuid() != 0:
    pytest.skip("probes need root", allow_module_level=True)

FAST = {"timeout": 0.5}


@pytest.fixture(scope="module", autouse=True)
def no_trace_rules_left() -> Iterator[None]:
    """After every probe of this module, nothing of dockwire's tracing may remain (asserted at teardown)."""
    yield
    left = list_trace_objects()
    assert left == [], f"trace rules left behind: {[o.describe() for o in left]}"


@pytest.fixture(scope="module")
def model(lab: Any, docker_client: Any) -> HostModel:
    return asyncio.run(collect(docker_client))


def probe(model: HostModel, client: Any, src: str, dst: str, **kw: Any) -> ProbeResult:
    return asyncio.run(run_probe(model, client, src, dst, **{**FAST, **kw}))


def layout(model: HostModel) -> str:
    """Docker's firewall layout generation on this host ("<=27", "28", "29")."""
    assert model.engine is not None
    return model.engine.layout


def ip_of(model: HostModel, name: str) -> str:
    c = model.container(name)
    assert c is not None and c.endpoints
    return c.endpoints[0].ip


def test_between_user_bridges_the_raw_prerouting_drop_is_named_then_connect_lets_it_pass(
    model: HostModel, docker_client: Any
) -> None:
    r = probe(model, docker_client, "dwlab-iso-a", "dwlab-iso-b")
    assert r.outcome == "blocked" and r.delivered is False
    drop = r.evidence.dropped_by
    assert drop is not None
    if layout(model) == "<=27":  # before 28.0 the isolation chains drop it, in FORWARD
        assert (drop.table, drop.chain) == ("filter", "DOCKER-ISOLATION-STAGE-2")
        assert re.fullmatch(r"-A DOCKER-ISOLATION-STAGE-2 -o br-\w+ -j DROP", drop.text)
    else:  # 28.x: the per-container raw PREROUTING drop fires before any FORWARD chain
        assert (drop.table, drop.chain) == ("raw", "PREROUTING")
        assert re.fullmatch(
            rf"-A PREROUTING -d {re.escape(ip_of(model, 'dwlab-iso-b'))}/32 ! -i br-\w+ -j DROP", drop.text
        )
    assert r.static.available and r.static.agrees is True
    assert r.static.rule is not None and r.static.rule.position == drop.position

    net_b = docker_client.networks.get("dwlab-net-b")
    net_b.connect("dwlab-iso-a")
    try:
        connected = asyncio.run(collect(docker_client))
        r2 = probe(connected, docker_client, "dwlab-iso-a", "dwlab-iso-b")
        assert r2.outcome == "reached" and r2.delivered is True
        assert r2.rtt_ms_avg is not None and r2.evidence.dropped_by is None
        assert r2.evidence.request_traced and r2.evidence.reply_traced
    finally:
        net_b.disconnect("dwlab-iso-a")


def test_docker_user_rule_is_named_for_its_port_and_icmp_passes(model: HostModel, docker_client: Any) -> None:
    r = probe(model, docker_client, "dwlab-default-a", "dwlab-default-b", proto="tcp", port=80)
    assert r.outcome == "blocked"
    drop = r.evidence.dropped_by
    assert drop is not None and (drop.table, drop.chain) == ("filter", "DOCKER-USER")
    assert "--comment dockwire-lab" in drop.text
    assert r.static.agrees is True

    ok = probe(model, docker_client, "dwlab-default-a", "dwlab-default-b", count=2)
    assert ok.outcome == "reached" and ok.received == 2 and ok.rtt_ms_avg is not None
    assert ok.evidence.reply_traced and ok.static.agrees is True


def test_icc_false_names_its_drop_rule(model: HostModel, docker_client: Any) -> None:
    r = probe(model, docker_client, "dwlab-noicc-a", "dwlab-noicc-b")
    drop = r.evidence.dropped_by
    assert r.outcome == "blocked" and drop is not None
    chain = "FORWARD" if layout(model) == "<=27" else "DOCKER-FORWARD"
    assert re.fullmatch(rf"-A {chain} -i (br-\w+) -o \1 -j DROP", drop.text)
    assert r.static.agrees is True


def test_published_port_from_outside_shows_the_dnat_rule(model: HostModel, docker_client: Any) -> None:
    r = probe(
        model, docker_client, "outside", "198.51.100.1", proto="tcp", port=18080, outside="dwlab-outside"
    )
    assert r.src == "dwlab-outside"
    assert r.outcome == "open" and r.delivered is True
    web = ip_of(model, "dwlab-web")
    assert f"destination 198.51.100.1:18080 -> {web}:80 (DNAT)" in r.evidence.nat
    assert any("--dport 18080 -j DNAT" in n for n in r.evidence.nat)
    assert r.evidence.reply_traced


def test_dns_by_name_works_on_a_user_network_and_not_on_the_default_bridge(
    model: HostModel, docker_client: Any
) -> None:
    r = probe(model, docker_client, "dwlab-noicc-a", "dwlab-noicc-b", proto="dns")
    assert r.outcome == "answered" and r.answers == [ip_of(model, "dwlab-noicc-b")]
    assert r.evidence.mode == "none"  # the embedded resolver lives in the container's own namespace
    default = probe(model, docker_client, "dwlab-default-a", "dwlab-default-b", proto="dns")
    assert default.outcome == "no-docker-dns" and default.sent == 0


def test_container_mode_reaches_its_owner_on_loopback(model: HostModel, docker_client: Any) -> None:
    r = probe(model, docker_client, "dwlab-sidecar", "dwlab-web", proto="tcp", port=80)
    assert r.dst_ip == "127.0.0.1" and r.outcome == "open"


def test_internal_network_cannot_route_out_and_shows_its_routes(model: HostModel, docker_client: Any) -> None:
    r = probe(model, docker_client, "dwlab-internal-a", "198.51.100.2")
    if layout(model) == "<=27":
        # Before 28.0 an internal network's containers still get a default route: the packet leaves and
        # the isolation chain drops it.
        assert r.outcome == "blocked" and r.delivered is False
        assert r.evidence.dropped_by is not None and r.evidence.dropped_by.chain == "DOCKER-ISOLATION-STAGE-1"
        assert r.static.agrees is True
        return
    assert r.outcome == "no-route" and r.delivered is False and r.sent == 0
    assert r.routes and all("default" not in line for line in r.routes)
    assert r.evidence.dropped_by is None


def test_trace_lists_gateway_then_destination(model: HostModel, docker_client: Any) -> None:
    r = probe(model, docker_client, "dwlab-iso-a", "198.51.100.2", proto="trace", max_hops=4)
    assert r.outcome == "reached"
    assert [h.role for h in r.hops] == ["gateway", "destination"]
    assert any("masquerade undone" in n for n in r.evidence.nat)


def test_read_only_mode_adds_nothing(model: HostModel, docker_client: Any) -> None:
    r = probe(model, docker_client, "dwlab-iso-a", "dwlab-iso-b", trace=False)
    assert r.evidence.mode == "none" and r.evidence.packets == []
    assert r.outcome == "no-answer"  # without the trace, silence is all the probe knows


def test_errors_are_one_line(model: HostModel, docker_client: Any) -> None:
    with pytest.raises(ProbeError, match="no network but loopback"):
        probe(model, docker_client, "dwlab-none", "dwlab-iso-b")
    with pytest.raises(ProbeError, match="needs --port"):
        probe(model, docker_client, "dwlab-iso-a", "dwlab-iso-b", proto="tcp")


def test_sweep_removes_a_crashed_runs_table_only() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"{PREFIX}{dead.pid}-0dead0"
    subprocess.run(["nft", "add", "table", "ip", name], check=True)
    try:
        assert any(o.name == name for o in list_trace_objects())
        removed = sweep_leftovers()
        assert f"nft table ip {name}" in removed
        assert not any(o.name == name for o in list_trace_objects())
    finally:
        subprocess.run(["nft", "delete", "table", "ip", name], capture_output=True)


def test_sigterm_removes_the_trace_table(lab: Any) -> None:
    """A probe killed with SIGTERM while it waits for answers still removes its trace table."""
    if iptables_backend() != "nft":
        pytest.skip("the nft trace table exists only on iptables-nft hosts")
    cmd = [str(Path(sys.executable).parent / "dockwire"), "probe", "dwlab-iso-a", "dwlab-iso-b",
           "--count", "3", "--timeout", "5", "--no-static"]  # fmt: skip
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 20
        mine = f"{PREFIX}{proc.pid}-"
        while time.monotonic() < deadline and not any(o.name.startswith(mine) for o in list_trace_objects()):
            time.sleep(0.1)
        assert any(o.name.startswith(mine) for o in list_trace_objects()), (
            "the probe never added its trace table"
        )
        os.kill(proc.pid, signal.SIGTERM)
        _, err = proc.communicate(timeout=15)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert not any(o.name.startswith(mine) for o in list_trace_objects())
    assert proc.returncode != 0 and "Traceback" not in err


def test_legacy_trace_rules_go_in_and_out_by_exact_spec() -> None:
    """The legacy path's rule handling, run through whichever iptables is active (raw PREROUTING only, so an
    iptables-nft host gets no new base chain). The kernel-log reading itself needs a legacy host."""

    class PreroutingOnly(LegacyLogTracer):
        CHAINS = ("PREROUTING",)

    run_id = new_run_id()
    tracer = PreroutingOnly(run_id, Marker("icmp", 0x1092))

    async def round_trip() -> list[str]:
        async with TraceSession(tracer):
            return [o.describe() for o in list_trace_objects() if o.run_id == run_id]

    inside = asyncio.run(round_trip())
    assert len(inside) == 1 and "-j TRACE" in inside[0] and f"{PREFIX}{run_id}" in inside[0]
    assert not any(o.run_id == run_id for o in list_trace_objects())


def test_a_trace_rule_the_kernel_refuses_falls_back_to_counters_and_leaves_nothing() -> None:
    tracer = NftTracer(new_run_id(), Marker("nonsense", 1))  # nft rejects `nonsense sport 1`

    async def run() -> tuple[str, str]:
        async with TraceSession(tracer) as session:
            return session.tracer.mode, session.error

    mode, error = asyncio.run(run())
    assert mode == "counters" and "nft could not add the trace table" in error
    assert not any(o.run_id == tracer.run_id for o in list_trace_objects())


# --- IPv6: the lab's dual-stack pair on dwlab-v6 (the DOCKER-USER drop of tcp/80 is an ip6tables rule) ------


def ip6_of(model: HostModel, name: str) -> str:
    c = model.container(name)
    assert c is not None and c.endpoints and c.endpoints[0].ipv6
    return c.endpoints[0].ipv6


def lab_rule6(model: HostModel) -> bool:
    """Whether the lab's ip6tables DOCKER-USER rule is there (the lab skips it without ip6tables)."""
    return any(
        r.comment == "dockwire-lab"
        for t in model.firewall.tables
        if t.family == "ip6"
        for c in t.chains
        for r in c.rules
    )


def test_icmpv6_echo_crosses_the_dual_stack_bridge_both_ways_traced(
    model: HostModel, docker_client: Any
) -> None:
    r = probe(model, docker_client, "dwlab-v6-a", "dwlab-v6-b", family=6, count=2)
    assert r.family == 6 and r.dst_ip == ip6_of(model, "dwlab-v6-b")
    assert r.outcome == "reached" and r.received == 2 and r.rtt_ms_avg is not None
    assert r.src_ip == ip6_of(model, "dwlab-v6-a")
    assert r.evidence.request_traced and r.evidence.reply_traced, r.evidence
    assert r.static.agrees is True, r.static


def test_the_ip6tables_docker_user_drop_is_named_and_matches_the_static_culprit(
    model: HostModel, docker_client: Any
) -> None:
    r = probe(model, docker_client, "dwlab-v6-a", "dwlab-v6-b", proto="tcp", port=80, family=6)
    if not lab_rule6(model):  # ip6tables off (Docker 20.10's default): IPv6 is not filtered at all
        assert r.outcome == "open" and r.static.agrees is True, r.summary
        return
    assert r.outcome == "blocked" and r.delivered is False
    drop = r.evidence.dropped_by
    assert drop is not None and (drop.family, drop.table, drop.chain) == ("ip6", "filter", "DOCKER-USER")
    assert "--comment dockwire-lab" in drop.text and ip6_of(model, "dwlab-v6-b") in drop.text
    assert r.static.agrees is True and r.static.rule is not None
    assert (r.static.rule.family, r.static.rule.position) == ("ip6", drop.position)
    # The same port over IPv4 is open: the rule is IPv6's only, and dwlab-v6-b listens there.
    v4 = probe(model, docker_client, "dwlab-v6-a", "dwlab-v6-b", proto="tcp", port=80, family=4)
    assert v4.family == 4 and v4.outcome == "open" and v4.static.agrees is True


def test_ipv6_tcp_and_udp_to_a_closed_port_are_refused_by_the_destination(
    model: HostModel, docker_client: Any
) -> None:
    dst = f"[{ip6_of(model, 'dwlab-v6-b')}]:81"
    tcp = probe(model, docker_client, "dwlab-v6-a", dst)
    assert tcp.family == 6 and tcp.proto == "tcp" and tcp.outcome == "closed"
    assert tcp.replies[0].kind == "rst" and tcp.static.agrees is True
    udp = probe(model, docker_client, "dwlab-v6-a", "dwlab-v6-b", proto="udp", port=9, family=6)
    assert udp.outcome == "closed" and udp.replies[0].detail == "port-unreachable"


def test_dns_asks_for_aaaa_with_family_6(model: HostModel, docker_client: Any) -> None:
    aaaa = probe(model, docker_client, "dwlab-v6-a", "name:dwlab-v6-b", family=6)
    assert aaaa.outcome == "answered" and aaaa.answers == [ip6_of(model, "dwlab-v6-b")]
    a = probe(model, docker_client, "dwlab-v6-a", "name:dwlab-v6-b")
    assert a.answers == [ip_of(model, "dwlab-v6-b")]


def test_ipv6_errors_are_one_line(model: HostModel, docker_client: Any) -> None:
    with pytest.raises(ProbeError, match="none of its networks was created with --ipv6"):
        probe(model, docker_client, "dwlab-iso-a", "dwlab-iso-b", family=6)
    with pytest.raises(ProbeError, match="is an IPv6 address, but IPv4 was asked for"):
        probe(model, docker_client, "dwlab-v6-a", ip6_of(model, "dwlab-v6-b"), family=4)


def test_sweep_removes_a_crashed_runs_ip6_table_and_rule() -> None:
    dead = subprocess.Popen(["true"])
    dead.wait()
    name = f"{PREFIX}{dead.pid}-0dead6"
    spec = ["-p", "ipv6-icmp", "-m", "comment", "--comment", name, "-j", "TRACE"]
    subprocess.run(["nft", "add", "table", "ip6", name], check=True)
    subprocess.run(["ip6tables", "-w", "5", "-t", "raw", "-I", "PREROUTING", "1", *spec], check=True)
    try:
        removed = sweep_leftovers()
        assert f"nft table ip6 {name}" in removed
        assert any(r.startswith("ip6tables -t raw -A PREROUTING") and name in r for r in removed), removed
        assert not any(o.name == name or name in " ".join(o.spec) for o in list_trace_objects())
    finally:
        subprocess.run(["nft", "delete", "table", "ip6", name], capture_output=True)
        subprocess.run(["ip6tables", "-w", "5", "-t", "raw", "-D", "PREROUTING", *spec], capture_output=True)


def test_outside_reaches_the_routed_ipv6_network_on_its_published_port_only(
    model: HostModel, docker_client: Any
) -> None:
    """gateway_mode_ipv6=routed: no NAT, the container's own address is reached from the outside namespace;
    a port that is not published is dropped in ip6 filter DOCKER (28.x; 20.10 has no such mode)."""
    web = ip6_of(model, "dwlab-v6r-web")
    # Two neighbour discoveries may come first (the outside's for the host, the host's for the container).
    ok = probe(model, docker_client, "outside", f"[{web}]:80", outside="dwlab-outside", timeout=2.0)
    assert ok.family == 6 and ok.outcome == "open" and ok.src_ip == "2001:db8:100::2", ok.summary
    assert ok.evidence.nat == [] and ok.static.agrees is True, ok.static
    closed = probe(model, docker_client, "outside", f"[{web}]:81", outside="dwlab-outside", timeout=2.0)
    assert closed.static.agrees is True, closed.static
    if layout(model) == "<=27":
        return
    assert closed.outcome == "blocked"
    drop = closed.evidence.dropped_by
    assert drop is not None and (drop.family, drop.table, drop.chain) == ("ip6", "filter", "DOCKER"), drop
    assert drop.text.endswith("-j DROP") and "--dport" not in drop.text
