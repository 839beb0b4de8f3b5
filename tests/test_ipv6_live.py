"""IPv6 on the real lab: a native nftables inet table drops IPv4 and IPv6 alike, and `why` says so.

Real traffic (connections, and dockwire's own probes) only between the lab's dual-stack pair
(dwlab-v6-b -> dwlab-v6-a). The table
(tests/inet_table.py) is limited to the lab's dual-stack bridge and deleted by name afterwards, also when a
test fails.
"""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

from dockwire.model import HostModel
from dockwire.verdict.render import render_verdict
from tests import inet_table
from tests.lab_traffic import Case, ask, docker_destination, inspect_by_name, tcp_connect

pytestmark = pytest.mark.live


def _nft_available() -> bool:
    return subprocess.run(["nft", "list", "tables"], capture_output=True, check=False).returncode == 0


@pytest.fixture
def inet_drop(lab: Any, docker_client: Any) -> Iterator[None]:
    if not _nft_available():
        pytest.skip("nft is not usable here")
    bridge = "br-" + docker_client.networks.get("dwlab-v6").id[:12]
    inet_table.remove()
    inet_table.load(bridge)
    try:
        yield
    finally:
        inet_table.remove()


def _model(docker_client: Any) -> HostModel:
    from dockwire.collect import collect

    return asyncio.run(collect(docker_client))


def _address(docker_client: Any, case: Case) -> str:
    containers = inspect_by_name([c.attrs for c in docker_client.containers.list(all=True)])
    return docker_destination(containers, [n.attrs for n in docker_client.networks.list(greedy=True)], case)


@pytest.mark.parametrize("family", [4, 6])
def test_an_inet_table_drop_stops_both_families(inet_drop: None, docker_client: Any, family: int) -> None:
    case = Case("dwlab-v6-b", "dwlab-v6-a", "tcp", inet_table.PORT, family=family)
    verdict = ask(_model(docker_client), case)
    address = _address(docker_client, case)
    assert verdict.dst.address == address
    assert verdict.verdict == "blocked", render_verdict(verdict)
    culprit = verdict.culprit
    assert culprit is not None and (culprit.family, culprit.table) == ("inet", inet_table.TABLE)
    assert not tcp_connect(case.src, address, inet_table.PORT), "the inet drop let the connection through"


@pytest.mark.parametrize("family", [4, 6])
def test_a_probe_names_the_inet_drop_for_both_families(
    inet_drop: None, docker_client: Any, family: int
) -> None:
    """Real packets of each family; on iptables-nft the kernel's trace names the inet table's rule. A legacy
    host's TRACE log does not see native nft tables: there the probe only hears silence (filtered), which
    the static verdict explains as the inet table's drop."""
    from dockwire.actions.runner import run_probe
    from dockwire.actions.tracing.base import iptables_backend

    model = _model(docker_client)
    r = asyncio.run(
        run_probe(
            model,
            docker_client,
            "dwlab-v6-b",
            "dwlab-v6-a",
            "tcp",
            inet_table.PORT,
            family=family,
            timeout=0.5,
        )
    )
    assert r.family == family and r.delivered is not True, r.summary
    assert r.static.rule is not None and (r.static.rule.family, r.static.rule.table) == (
        "inet",
        inet_table.TABLE,
    )
    if iptables_backend() != "nft":
        assert r.outcome == "filtered" and r.static.allowed is False, r.summary
        return
    assert r.outcome == "blocked" and r.static.agrees is True, r.static
    drop = r.evidence.dropped_by
    assert drop is not None and (drop.family, drop.table) == ("inet", inet_table.TABLE), r.evidence
    assert f"dport {inet_table.PORT}" in drop.text


@pytest.mark.parametrize("family", [4, 6])
def test_without_the_table_both_families_get_an_answer(lab: Any, docker_client: Any, family: int) -> None:
    inet_table.remove()
    case = Case("dwlab-v6-b", "dwlab-v6-a", "tcp", inet_table.PORT, family=family)
    verdict = ask(_model(docker_client), case)
    assert verdict.verdict == "allowed", render_verdict(verdict)
    assert tcp_connect(case.src, _address(docker_client, case), inet_table.PORT)  # refused: the RST came back


NDP_COMMENT = "dwtest-ndp"


@pytest.fixture
def icmpv6_dropped_on_the_v6_bridge(lab: Any, docker_client: Any) -> Iterator[str]:
    """An ip6tables DOCKER-USER rule dropping all ICMPv6 bridged on dwlab-v6 only, removed by its exact spec;
    the pair's neighbour caches are flushed so that the next packet needs neighbour discovery."""
    chains = subprocess.run(["ip6tables", "-w", "5", "-S", "DOCKER-USER"], capture_output=True, check=False)
    if chains.returncode != 0:
        pytest.skip("no ip6tables DOCKER-USER chain (ip6tables off on this engine)")
    bridge = "br-" + docker_client.networks.get("dwlab-v6").id[:12]
    spec = [
        "-i",
        bridge,
        "-o",
        bridge,
        "-p",
        "ipv6-icmp",
        "-m",
        "comment",
        "--comment",
        NDP_COMMENT,
        "-j",
        "DROP",
    ]
    subprocess.run(["ip6tables", "-w", "5", "-I", "DOCKER-USER", "1", *spec], check=True)
    try:
        for name in ("dwlab-v6-a", "dwlab-v6-b"):  # `docker exec` has no CAP_NET_ADMIN: enter the namespace
            pid = docker_client.containers.get(name).attrs["State"]["Pid"]
            netns = f"--net=/proc/{pid}/ns/net"
            subprocess.run(["nsenter", netns, "ip", "-6", "neigh", "flush", "all"], check=True)
        yield bridge
    finally:
        while (
            subprocess.run(["ip6tables", "-w", "5", "-C", "DOCKER-USER", *spec], check=False).returncode == 0
        ):
            subprocess.run(["ip6tables", "-w", "5", "-D", "DOCKER-USER", *spec], check=False)


def test_dropping_icmpv6_on_the_bridge_stops_tcp_over_ipv6_through_neighbour_discovery(
    icmpv6_dropped_on_the_v6_bridge: str, docker_client: Any
) -> None:
    case = Case("dwlab-v6-a", "dwlab-v6-b", "tcp", 81, family=6)
    verdict = ask(_model(docker_client), case)
    assert verdict.verdict == "blocked" and verdict.missing == "ndp", render_verdict(verdict)
    assert verdict.culprit is not None and NDP_COMMENT in verdict.culprit.text
    assert not tcp_connect(case.src, _address(docker_client, case), 81), "TCP got through without NDP"
    v4 = Case("dwlab-v6-a", "dwlab-v6-b", "tcp", 81)
    assert ask(_model(docker_client), v4).verdict == "allowed"
    assert tcp_connect(v4.src, _address(docker_client, v4), 81)  # refused: IPv4 is not concerned
