"""nf_tables notifications name the tables a change touched, and a read narrowed to iptables' own families
sees the change as a full read does. Real rules: a chain and a table of the test's own, removed after.

Needs root and nf_tables; no Docker, no traffic.
"""

from __future__ import annotations

import asyncio
import os
import select
import shutil
import socket
import subprocess
from collections.abc import Iterator

import pytest

pytestmark = pytest.mark.live

CHAIN = f"dwtest-nft-{os.getpid()}"
TABLE = f"dwtest_nft_{os.getpid()}"


def _iptables_nft() -> str:
    tool = shutil.which("iptables-nft") or ""
    if os.geteuid() != 0 or not tool:
        pytest.skip("needs root and iptables-nft")
    return tool


@pytest.fixture
def monitor() -> Iterator[socket.socket]:
    from dockwire.probes.nft_notifications import open_monitor

    _iptables_nft()
    try:
        sock = open_monitor()
    except OSError as exc:
        pytest.skip(f"no nf_tables notifications here: {exc}")
    try:
        yield sock
    finally:
        sock.close()
        subprocess.run(["iptables-nft", "-w", "5", "-F", CHAIN], capture_output=True, check=False)
        subprocess.run(["iptables-nft", "-w", "5", "-X", CHAIN], capture_output=True, check=False)
        subprocess.run(["nft", "delete", "table", "ip", TABLE], capture_output=True, check=False)


def _changes(sock: socket.socket) -> set[tuple[int, str | None]]:
    from dockwire.probes.nft_notifications import changed_tables

    found: set[tuple[int, str | None]] = set()
    while select.select([sock], [], [], 0.3)[0]:
        found |= changed_tables(sock.recv(1 << 20))
    return found


def test_notifications_name_the_family_and_table(monitor: socket.socket) -> None:
    subprocess.run(["iptables-nft", "-w", "5", "-N", CHAIN], check=True)
    subprocess.run(["iptables-nft", "-w", "5", "-A", CHAIN, "-s", "198.18.0.1", "-j", "RETURN"], check=True)
    assert _changes(monitor) == {(2, "filter")}
    if not shutil.which("nft"):
        return
    subprocess.run(["nft", "add", "table", "ip", TABLE], check=True)
    subprocess.run(["nft", "add", "chain", "ip", TABLE, "c"], check=True)
    assert _changes(monitor) == {(2, TABLE)}


def test_a_narrowed_read_sees_what_a_full_read_sees(monitor: socket.socket) -> None:
    from dockwire.probes.firewall_diff import FirewallPoller

    async def run() -> None:
        poller = FirewallPoller()
        await poller.poll()
        # A table iptables does not print, or a family it does not program: only a full read is right.
        assert poller.iptables_families({(2, "filter"), (2, TABLE)}) is None
        assert poller.iptables_families({(1, "filter")}) is None
        assert poller.iptables_families({(2, None)}) is None
        assert poller.iptables_families({(2, "filter")}) == {"ip"}

        subprocess.run(["iptables-nft", "-w", "5", "-N", CHAIN], check=True)
        subprocess.run(
            ["iptables-nft", "-w", "5", "-A", CHAIN, "-s", "198.18.0.1", "-j", "RETURN"], check=True
        )
        narrowed = await poller.poll(families={"ip"})
        full = await FirewallPoller().poll()
        assert narrowed.delta is not None and narrowed.delta.rules_changed
        assert any(key[3] == CHAIN for key in narrowed.delta.added)

        def chain(result: object) -> list[str]:
            tables = result.firewall.tables  # type: ignore[attr-defined]
            return [
                r.text
                for t in tables
                if t.family == "ip"
                for c in t.chains
                if c.name == CHAIN
                for r in c.rules
            ]

        assert chain(narrowed) == chain(full) == [f"-A {CHAIN} -s 198.18.0.1/32 -j RETURN"]

    asyncio.run(run())
