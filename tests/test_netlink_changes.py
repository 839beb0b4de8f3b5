"""NetlinkState against the kernel: a namespace of the test's own is changed step by step with `ip`, the
notifications its monitoring socket received are applied, and the result must equal a fresh dump.

Needs root (a network namespace); no Docker, no traffic.
"""

from __future__ import annotations

import asyncio
import os
import select
import socket
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.live

NAME = f"dwtest-nl-{os.getpid()}"
PATH = f"/run/netns/{NAME}"

#: Each step is a few `ip` commands in the namespace; after each, the state must match a dump.
STEPS = {
    "links, addresses and routes appear": [
        "link add dw0 type veth peer name dw0p",
        "link set dw0p up",
        "link set dw0 up",
        "addr add 192.0.2.1/24 dev dw0",
        "addr add 192.0.2.9/24 dev dw0",
        "addr add 2001:db8::1/64 dev dw0 nodad",
        "route add 198.51.100.0/24 via 192.0.2.254",
        "route add 2001:db8:1::/64 via 2001:db8::fe",
    ],
    "a bridge with a veth port": [
        "link add dwbr type bridge",
        "link add dwva type veth peer name dwvb",
        "link set dwva master dwbr",
        "link set dwbr up",
        "link set dwva up",
        "link set dwvb up",
        "addr add 203.0.113.1/24 dev dwbr",
        "addr add 2001:db8:2::1/64 dev dwbr nodad",
        "route add 2001:db8:3::/64 via 2001:db8:2::fe",
    ],
    "a route replaced": ["route replace 198.51.100.0/24 via 192.0.2.253"],
    "a policy rule and its table": [
        "rule add from 192.0.2.0/24 table 100 priority 100",
        "route add default via 192.0.2.254 table 100",
    ],
    # Down, a link loses its IPv4 routes but its local ones, unannounced; its IPv6 addresses and routes,
    # announced.
    "a link downed and renamed": [
        "link set dw0 down",
        "link set dw0 name dw1",
    ],
    "the renamed link back up, an address taken off": [
        "link set dw1 up",
        "route add 198.51.100.0/24 via 192.0.2.254",
        "addr del 192.0.2.9/24 dev dw1",
    ],
    "a port leaves its bridge, then things are deleted": [
        "link set dwva nomaster",
        "rule del from 192.0.2.0/24 table 100 priority 100",
        "route del 2001:db8:3::/64 via 2001:db8:2::fe",
        "addr del 2001:db8:2::1/64 dev dwbr",
        "link del dwvb",
        "link del dwbr",
    ],
}

#: Event lines some steps make (`link_changes` of the state before and after; others may come too).
LINES = {
    "links, addresses and routes appear": {"link dw0: added (veth)", "link dw0p: added (veth)"},
    "a bridge with a veth port": {
        "link dwbr: added (bridge)",
        "link dwva: added (veth), port of dwbr",
        "link dwvb: added (veth)",
    },
    "a link downed and renamed": {"link dw0: renamed dw1", "link dw1: down"},
    "the renamed link back up, an address taken off": {"link dw1: up"},
    # dwva goes with its peer dwvb.
    "a port leaves its bridge, then things are deleted": {
        "link dwva: removed",
        "link dwvb: removed",
        "link dwbr: removed",
    },
}


def ip(*commands: str) -> None:
    for command in commands:
        subprocess.run(["ip", "-n", NAME, *command.split()], check=True, capture_output=True)


@pytest.fixture
def namespace() -> Iterator[str]:
    if os.geteuid() != 0:
        pytest.skip("needs root (a network namespace)")
    subprocess.run(["ip", "netns", "add", NAME], check=True)
    try:
        ip("link set lo up")
        # IPv6 announces a link-local address once duplicate detection is done (a second or two later):
        # without it, each step's announcements are all in when the step's commands return.
        for scope in ("all", "default"):
            sysctl = f"net.ipv6.conf.{scope}.accept_dad=0"
            subprocess.run(["ip", "netns", "exec", NAME, "sysctl", "-qw", sysctl], check=True)
        yield PATH
    finally:
        subprocess.run(["ip", "netns", "del", NAME], check=False)


def _dump(path: str) -> Any:
    from dockwire.model import HostNet
    from dockwire.probes.netlink import read_namespace

    interfaces, routes, rules = asyncio.run(read_namespace(path, True))
    return HostNet(interfaces=interfaces, routes=routes, rules=rules)


def _received(monitor: socket.socket) -> list[Any]:
    """Every message the monitor has, waiting until none came for a moment."""
    from dockwire.probes.netlink_changes import decoded

    messages: list[Any] = []
    while select.select([monitor], [], [], 0.3)[0]:
        messages.extend(decoded(monitor.recv(1 << 20)))
    return messages


def _differences(kept: Any, dumped: Any) -> list[str]:
    """What one side holds and the other does not, one line each (a readable failure)."""
    lines = []
    for part in ("interfaces", "routes", "rules"):
        ours, theirs = getattr(kept, part), getattr(dumped, part)
        lines += [f"only kept: {x}" for x in ours if x not in theirs]
        lines += [f"only dumped: {x}" for x in theirs if x not in ours]
    return lines


def test_the_state_follows_the_kernel_step_by_step(namespace: str) -> None:
    from dockwire.probes.netlink_changes import NetlinkState, canonical, link_changes, open_monitor, same_host

    monitor = open_monitor(namespace)
    try:
        state = NetlinkState(_dump(namespace))
        for step, commands in STEPS.items():
            ip(*commands)
            messages = _received(monitor)
            before = state.hostnet().interfaces
            changed = state.apply(messages)
            lines = link_changes(before, state.hostnet().interfaces)
            assert LINES.get(step, set()) <= set(lines), f"{step}: {lines}"
            dumped = _dump(namespace)
            assert changed, step
            # Messages applied again (as those that came while the seeding dump ran are) change nothing.
            kept = state.hostnet()
            state.apply(messages)
            assert same_host(state.hostnet(), kept), step
            differences = _differences(canonical(state.hostnet()), canonical(dumped))
            assert not differences, f"{step}:\n" + "\n".join(differences)
            assert same_host(state.hostnet(), dumped), step
    finally:
        monitor.close()


def test_a_missed_change_shows_as_a_difference(namespace: str) -> None:
    """The comparison the live model reconciles with does see what the messages did not say."""
    from dockwire.probes.netlink_changes import NetlinkState, same_host

    state = NetlinkState(_dump(namespace))
    ip("link add dw0 type veth peer name dw0p")
    assert not state.apply([])
    assert not same_host(state.hostnet(), _dump(namespace))
