"""`dockwire snapshot` of the lab holds every container with its veth, Docker's rules, sysctls and DNS config:
checked on the recorded snapshots of each engine and backend, and live."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dockwire.collect import collect, match_veths
from dockwire.model import HostModel
from dockwire.snapshot import load
from tests.lab_model_checks import check_lab_model

# Recorded from the real lab (scripts/record-snapshots); the docs-* ones are built from documented layouts.
FIXTURES = Path(__file__).parent / "fixtures" / "snapshots"
SNAPSHOTS = sorted(p for p in FIXTURES.glob("engine-*.json") if ".observed" not in p.name)


@pytest.fixture(params=SNAPSHOTS, ids=[p.stem for p in SNAPSHOTS])
def recorded(request: pytest.FixtureRequest) -> HostModel:
    return load(request.param)


def test_recorded_snapshot_holds_the_lab(recorded: HostModel) -> None:
    check_lab_model(recorded)


def test_veth_matching_rederived_from_recorded_links(recorded: HostModel) -> None:
    """Pairing the recorded interfaces again gives the recorded pairs."""
    assert match_veths(recorded.host.interfaces, recorded.containers) == recorded.veths


def test_veth_matching_needs_both_sides_to_agree(recorded: HostModel) -> None:
    """A host veth whose peer index points elsewhere is not paired with a container."""
    web = recorded.container("dwlab-web")
    assert web is not None
    pair = next(v for v in recorded.veths if v.container_id == web.id)
    host_ifaces = [
        msgspec.structs.replace(i, peer_ifindex=(i.peer_ifindex or 0) + 1000)
        if i.ifindex == pair.host_ifindex
        else i
        for i in recorded.host.interfaces
    ]
    pairs = match_veths(host_ifaces, recorded.containers)
    assert not any(v.container_id == web.id for v in pairs)
    assert any(v.host_ifname == pair.host_ifname and not v.container_id for v in pairs)


@pytest.mark.live
def test_live_snapshot_holds_the_lab(lab: Any, docker_client: Any) -> None:
    model = asyncio.run(collect(docker_client))
    assert model.stale == {}, model.stale
    check_lab_model(model)


@pytest.mark.live
def test_namespace_reads_match_pyroute2s_and_leave_the_thread_home(lab: Any, docker_client: Any) -> None:
    """The namespace socket opened from this thread reads what pyroute2's forked NetNS reads, and the thread
    is back in its own namespace after every read (a host read after it still sees the host)."""
    from pyroute2 import NetNS

    from dockwire.probes.netlink import _interfaces, read_namespace

    home = os.stat("/proc/thread-self/ns/net").st_ino
    host_before = [i.name for i in asyncio.run(read_namespace(None))[0]]
    pids = [c.attrs["State"]["Pid"] for c in docker_client.containers.list(filters={"name": "dwlab-"})]
    assert len(pids) >= 5
    for pid in pids:
        path = f"/proc/{pid}/ns/net"
        ours = asyncio.run(read_namespace(path))[0]
        reference = NetNS(path)
        try:
            theirs = _interfaces(list(reference.get_links()), list(reference.get_addr()))
        finally:
            reference.close()
        assert ours == theirs
        assert os.stat("/proc/thread-self/ns/net").st_ino == home
    assert [i.name for i in asyncio.run(read_namespace(None))[0]] == host_before
