"""The Docker probe on recorded API documents of the lab (scripts/record-docker-fixtures)."""

import json
from pathlib import Path
from typing import Any

import pytest

from dockwire.model import Container, Network
from dockwire.probes.docker_api import layout_for_version, read_container, read_engine, read_network

FIXTURES = sorted((Path(__file__).parent / "fixtures" / "docker").glob("*.json"))

# The recorded documents, and the containers and networks read from them (by name).
Recorded = tuple[dict[str, Any], dict[str, Container], dict[str, Network]]


@pytest.fixture(params=FIXTURES, ids=[p.stem for p in FIXTURES])
def recorded(request: pytest.FixtureRequest) -> Recorded:
    doc = json.loads(request.param.read_text())
    names_to_ids: dict[str, str] = {}
    for raw in doc["containers"]:
        names_to_ids[raw["Name"].lstrip("/")] = raw["Id"]
        names_to_ids[raw["Id"]] = raw["Id"]
    containers = {c.name: c for c in (read_container(raw, names_to_ids) for raw in doc["containers"])}
    networks = {n.name: n for n in (read_network(raw) for raw in doc["networks"])}
    return doc, containers, networks


def test_engine_version_and_layout(recorded: Recorded) -> None:
    doc, _, _ = recorded
    engine = read_engine(doc["version"], doc["info"])
    assert engine.version == doc["version"]["Version"]
    assert engine.api_version == doc["version"]["ApiVersion"]
    assert engine.layout == layout_for_version(engine.version)


@pytest.mark.parametrize(
    ("version", "layout"),
    [
        ("20.10.24+dfsg1", "<=27"),
        ("27.5.1", "<=27"),
        ("28.5.2+dfsg4", "28"),
        ("29.0.0", "29"),
        ("garbage", "unknown"),
    ],
)
def test_layout_for_version(version: str, layout: str) -> None:
    assert layout_for_version(version) == layout


def test_network_kinds(recorded: Recorded) -> None:
    _, _, networks = recorded
    assert networks["bridge"].bridge == "docker0"
    assert networks["host"].driver == "host" and not networks["host"].bridge
    assert networks["none"].driver == "null"
    user = networks["dwlab-net-a"]
    assert user.driver == "bridge" and user.bridge == f"br-{user.id[:12]}"
    assert networks["dwlab-noicc"].icc is False and networks["dwlab-net-a"].icc is True
    assert networks["dwlab-internal"].internal is True
    custom = networks["dwlab-custom"]
    assert [(s.subnet, s.gateway) for s in custom.subnets] == [("10.123.0.0/24", "10.123.0.254")]
    assert custom.mtu == 1400


def test_network_modes(recorded: Recorded) -> None:
    _, containers, _ = recorded
    web, sidecar = containers["dwlab-web"], containers["dwlab-sidecar"]
    assert sidecar.network_mode == f"container:{web.id}"
    assert sidecar.netns_owner == web.id
    assert sidecar.endpoints == []
    assert containers["dwlab-none"].network_mode == "none"
    assert [e.network for e in containers["dwlab-none"].endpoints] == ["none"]
    assert [e.network for e in containers["dwlab-iso-a"].endpoints] == ["dwlab-net-a"]
    assert containers["dwlab-custom-a"].endpoints[0].ip == "10.123.0.10"
    assert containers["dwlab-custom-a"].endpoints[0].prefixlen == 24


def test_published_ports(recorded: Recorded) -> None:
    _, containers, _ = recorded
    ports = {(p.proto, p.container_port, p.host_ip, p.host_port) for p in containers["dwlab-web"].ports}
    assert ("udp", 5353, "127.0.0.1", 15353) in ports
    assert any(p[:2] == ("tcp", 80) and p[3] == 18080 for p in ports)


def test_links_and_running_state(recorded: Recorded) -> None:
    _, containers, _ = recorded
    linked = containers["dwlab-linked"]
    assert any(link.endswith("/db") and "dwlab-default-a" in link for link in linked.links)
    assert all(c.state == "running" and c.pid for c in containers.values())
