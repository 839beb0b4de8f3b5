"""Network modes the lab does not build (macvlan, host), and the matrix, on the recorded 28.5.2 snapshot.

The macvlan network and container and the host-mode container are added to the recorded model as Docker would
report them (network driver macvlan with a parent, a container interface of kind macvlan); everything else —
routes, rules, other containers — is the recorded host.
"""

from __future__ import annotations

import json
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from dockwire.cli import main
from dockwire.model import Address, Container, Endpoint, HostModel, Interface, Network, Route, Subnet
from dockwire.snapshot import load
from dockwire.verdict.matrix import build_matrix, render_matrix
from dockwire.verdict.verdict import evaluate
from tests.lab_traffic import OUTSIDE

SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft.json"
MV_NET = Network(
    id="d" * 64,
    name="dwtest-mv",
    driver="macvlan",
    parent="eth0",
    subnets=[Subnet(subnet="192.0.2.0/24", gateway="192.0.2.1")],
    options={"parent": "eth0"},
)


def macvlan_container(name: str, ip: str, index: int) -> Container:
    return Container(
        id=f"{index:02d}" * 32,
        name=name,
        state="running",
        network_mode=MV_NET.name,
        endpoints=[
            Endpoint(network_id=MV_NET.id, network=MV_NET.name, ip=ip, prefixlen=24, gateway="192.0.2.1")
        ],
        interfaces=[
            Interface(name="lo", ifindex=1, addresses=[Address(address="127.0.0.1", prefixlen=8)]),
            Interface(
                name="eth0",
                ifindex=2,
                kind="macvlan",
                parent_ifindex=2,
                addresses=[Address(address=ip, prefixlen=24)],
            ),
        ],
        routes=[
            Route(dst="default", dev="eth0", gateway="192.0.2.1"),
            Route(dst="192.0.2.0/24", dev="eth0", scope="link", prefsrc=ip),
            Route(dst=f"{ip}/32", dev="eth0", table=255, type="local"),
        ],
    )


@pytest.fixture(scope="module")
def model() -> HostModel:
    recorded = load(SNAPSHOT)
    hostnet = Container(id="f" * 64, name="dwtest-hostnet", state="running", network_mode="host")
    extra = [
        macvlan_container("dwtest-mv-a", "192.0.2.50", 1),
        macvlan_container("dwtest-mv-b", "192.0.2.51", 2),
        hostnet,
    ]
    return msgspec.structs.replace(
        recorded, networks=[*recorded.networks, MV_NET], containers=[*recorded.containers, *extra]
    )


def test_host_and_its_macvlan_children_cannot_talk(model: HostModel) -> None:
    to_child = evaluate(model, "host", "dwtest-mv-a")
    assert (to_child.verdict, to_child.missing) == ("blocked", "macvlan-host")
    assert to_child.fix and to_child.fix[0].startswith("ip link add dwshim link eth0 type macvlan")
    from_child = evaluate(model, "dwtest-mv-a", "host")
    assert (from_child.verdict, from_child.missing) == ("blocked", "macvlan-host")
    via_host = evaluate(model, "dwlab-default-a", "dwtest-mv-a")  # routed by the host out of the parent
    assert via_host.missing == "macvlan-host"


def test_macvlan_children_talk_inside_the_driver_and_leave_by_the_parent(model: HostModel) -> None:
    siblings = evaluate(model, "dwtest-mv-a", "dwtest-mv-b", "tcp", 80)
    assert siblings.verdict == "allowed" and not siblings.matched
    out = evaluate(model, "dwtest-mv-a", "outside:203.0.113.9")
    assert out.verdict == "allowed" and not out.matched


def test_host_network_mode_is_the_host(model: HostModel) -> None:
    v = evaluate(model, "dwtest-hostnet", "dwlab-web", "tcp", 80)
    assert v.verdict == "allowed"
    assert v.path[0].text.startswith("dwtest-hostnet uses the host's network namespace")
    assert {h.text.split()[0] for h in v.path if h.kind == "hook" and h.direction == "request"} == {
        "OUTPUT",
        "POSTROUTING",
    }  # sent by the host itself: no PREROUTING, no FORWARD


def test_matrix_cells_name_the_culprit_chain() -> None:
    recorded = load(SNAPSHOT)
    result = build_matrix(recorded)
    lab = [n for n in result.containers if n.startswith("dwlab-")]
    assert set(lab) >= {"dwlab-default-a", "dwlab-web", "dwlab-none"}
    cells = {(c.src, c.dst): c for c in result.cells}
    assert cells[("dwlab-default-a", "dwlab-default-b")].summary == "ok"
    assert cells[("dwlab-iso-a", "dwlab-iso-b")].summary == "raw PREROUTING"
    assert cells[("dwlab-noicc-a", "dwlab-noicc-b")].summary == "filter DOCKER-FORWARD"
    assert cells[("dwlab-none", "dwlab-web")].summary == "network-none"
    web = cells[("dwlab-default-a", "dwlab-web")]
    assert [(c.proto, c.port) for c in web.checks] == [("icmp", None), ("tcp", 80), ("udp", 5353)]
    text = render_matrix(result)
    assert "dwlab-iso-a" in text and "raw PREROUTING" in text


def test_matrix_command_json() -> None:
    result = CliRunner().invoke(main, ["matrix", "--json", "--snapshot", str(SNAPSHOT)])
    assert result.exit_code == 0, result.output
    data = json.loads(result.output)
    assert data["schema_version"] == 1 and data["cells"]
    first = data["cells"][0]
    assert set(first) == {"src", "dst", "checks", "error"}
    assert {"proto", "port", "verdict", "culprit", "reason"} == set(first["checks"][0])


def test_outside_without_an_address_is_assumed_and_said_so() -> None:
    v = evaluate(load(SNAPSHOT), "outside", "dwlab-web", "tcp", 80)
    assert v.src.address == "203.0.113.10"
    assert v.verdict == "blocked"
    assert evaluate(load(SNAPSHOT), OUTSIDE, "host").verdict == "allowed"
