"""The firewall probe on the real host: two own containers on one own bridge, an own DOCKER-USER rule, real
pings between them. Everything created here is named dwtest-fwlive-* and labelled io.dockwire.test=1; the rule
is removed by its exact spec."""

from __future__ import annotations

import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockwire.model import Firewall, Rule
from dockwire.probes.firewall import read_firewall
from dockwire.probes.firewall_diff import diff_firewalls, rule_key
from tests.live_env import IMAGE, TEST_LABEL

pytestmark = pytest.mark.live

PREFIX = f"dwtest-fwlive-{os.getpid()}"


@pytest.fixture(scope="module")
def pair(docker_client: Any) -> Iterator[tuple[Any, str, str]]:
    """Container a, a's address, b's address: both on one new bridge network."""
    br_nf = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
    if not br_nf.exists() or br_nf.read_text().strip() != "1":
        pytest.skip("bridge-nf-call-iptables is not 1: same-bridge traffic does not pass iptables FORWARD")
    labels = {TEST_LABEL: "1"}
    network = docker_client.networks.create(f"{PREFIX}-net", driver="bridge", labels=labels)
    containers: list[Any] = []
    try:
        for side in ("a", "b"):
            c = docker_client.containers.run(
                IMAGE,
                ["sleep", "600"],
                name=f"{PREFIX}-{side}",
                labels=labels,
                network=network.name,
                detach=True,
            )
            c.reload()
            containers.append(c)
        ips = [c.attrs["NetworkSettings"]["Networks"][network.name]["IPAddress"] for c in containers]
        yield containers[0], ips[0], ips[1]
    finally:
        for c in containers:
            c.remove(force=True)
        network.remove()


@pytest.fixture
def user_rule(pair: tuple[Any, str, str]) -> Iterator[tuple[str, str]]:
    """A DOCKER-USER rule counting pings from a to b; yields its iptables-save text and its comment."""
    _, ip_a, ip_b = pair
    comment = f"dwtest-fwlive-{uuid.uuid4().hex[:8]}"
    spec = ["-s", f"{ip_a}/32", "-d", f"{ip_b}/32", "-p", "icmp", "-m", "comment", "--comment", comment]
    spec += ["-j", "RETURN"]
    subprocess.run(["iptables", "-I", "DOCKER-USER", *spec], check=True)
    try:
        yield f"-A DOCKER-USER {' '.join(spec)}", comment
    finally:
        while subprocess.run(["iptables", "-C", "DOCKER-USER", *spec], capture_output=True).returncode == 0:
            subprocess.run(["iptables", "-D", "DOCKER-USER", *spec], check=True)


def nft_tables() -> set[tuple[str, str]]:
    listing = subprocess.run(
        ["nft", "-j", "list", "tables"], capture_output=True, text=True, check=True
    ).stdout
    return {
        (o["table"]["family"], o["table"]["name"]) for o in json.loads(listing)["nftables"] if "table" in o
    }


def find_rule(firewall: Firewall, text: str) -> Rule:
    found = [
        r
        for t in firewall.tables
        if (t.family, t.name) == ("ip", "filter")
        for c in t.chains
        for r in c.rules
    ]
    matching = [r for r in found if r.text == text]
    assert len(matching) == 1, f"{text!r} not read"
    return matching[0]


async def test_own_rule_counts_pings(pair: tuple[Any, str, str], user_rule: tuple[str, str]) -> None:
    container, _, ip_b = pair
    text, comment = user_rule
    before, stale = await read_firewall()
    assert stale == {}
    rule = find_rule(before, text)
    assert (rule.chain, rule.owner, rule.comment) == ("DOCKER-USER", "user", comment)
    assert rule.target is not None and (rule.target.name, rule.target.kind) == ("RETURN", "verdict")

    result = container.exec_run(["ping", "-c", "3", "-W", "2", ip_b])
    assert result.exit_code == 0, result.output

    after, _ = await read_firewall()
    moved = find_rule(after, text)
    assert moved.packets >= rule.packets + 3
    assert moved.bytes > rule.bytes
    table = next(t for t in after.tables if (t.family, t.name) == ("ip", "filter"))
    assert rule_key(table, moved) in diff_firewalls(before, after).moved


async def test_every_kernel_table_is_read_once(docker_client: Any) -> None:
    """Each nftables table of the host appears exactly once: via iptables-save or as a native table."""
    kernel_before = nft_tables()
    firewall, stale = await read_firewall()
    kernel = kernel_before & nft_tables()  # tables other tests create or drop meanwhile are left out
    assert stale == {}
    version = subprocess.run(["iptables", "-V"], capture_output=True, text=True, check=True).stdout
    assert firewall.iptables_backend == ("nft" if "nf_tables" in version else "legacy")
    pairs = [(t.family, t.name) for t in firewall.tables if t.source != "iptables-legacy"]
    assert len(pairs) == len(set(pairs))
    assert kernel <= set(pairs)
    filt = next(
        t for t in firewall.tables if (t.family, t.name) == ("ip", "filter") and t.source != "nftables"
    )
    assert {c.name for c in filt.chains} >= {"FORWARD", "DOCKER-USER", "DOCKER"}
