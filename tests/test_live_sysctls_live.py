"""The live model follows the sysctls, which no notification announces: in a network namespace of the test's
own (sysctls such as ip_forward are per namespace), a live model without Docker runs in a child process while
the test changes the namespace's settings.

Needs root (a network namespace); no Docker, no traffic; the host's own settings are not touched.
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytestmark = pytest.mark.live

NAME = f"dwtest-sc-{os.getpid()}"
#: The child: a live model of its own namespace, one JSON line per update.
CHILD = """
import asyncio, json, sys
from dockwire.live import LiveModel

async def main():
    async for update in LiveModel(None, poll_interval=0.2).updates():
        s = update.model.sysctls
        print(json.dumps({"ip_forward": s.ip_forward, "rp_filter": s.rp_filter, "events": update.events}),
              flush=True)

asyncio.run(main())
"""
#: Seconds the model may take: the host-wide settings come with the next poll tick (0.2 s here, backing off
#: to 5 s while nothing moves), the per-interface ones with the netlink check 5 s after a link change.
WAIT = 15.0


@pytest.fixture
def child() -> Iterator[subprocess.Popen[str]]:
    if os.geteuid() != 0:
        pytest.skip("needs root (a network namespace)")
    subprocess.run(["ip", "netns", "add", NAME], check=True)
    proc = None
    try:
        sysctl("net.ipv4.ip_forward=0")
        proc = subprocess.Popen(
            ["nsenter", f"--net=/run/netns/{NAME}", sys.executable, "-c", CHILD],
            stdout=subprocess.PIPE,
            text=True,
        )
        yield proc
    finally:
        if proc is not None:
            proc.kill()
            proc.wait()
        subprocess.run(["ip", "netns", "del", NAME], check=False)


def sysctl(setting: str) -> None:
    subprocess.run(["ip", "netns", "exec", NAME, "sysctl", "-qw", setting], check=True)


def until(proc: subprocess.Popen[str], check: Any) -> list[dict[str, Any]]:
    """The child's updates up to the first that passes `check` (a failure after WAIT seconds)."""
    assert proc.stdout is not None
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + WAIT
    while time.monotonic() < deadline:
        if not select.select([proc.stdout], [], [], 0.5)[0]:
            continue
        line = proc.stdout.readline()
        assert line, f"the live model ended; it had sent {seen}"
        seen.append(json.loads(line))
        if check(seen[-1]):
            return seen
    raise AssertionError(f"not seen in {WAIT} s; the updates were {seen}")


def test_ip_forward_and_a_new_links_rp_filter_reach_the_live_model(child: subprocess.Popen[str]) -> None:
    assert until(child, lambda u: True)[0]["ip_forward"] == 0

    sysctl("net.ipv4.ip_forward=1")
    seen = until(child, lambda u: u["ip_forward"] == 1)
    assert "sysctl net.ipv4.ip_forward: 0 → 1" in seen[-1]["events"]

    veth = ["link", "add", "dw0", "type", "veth", "peer", "name", "dw0p"]
    subprocess.run(["ip", "-n", NAME, *veth], check=True)
    sysctl("net.ipv4.conf.dw0.rp_filter=2")
    until(child, lambda u: u["rp_filter"].get("dw0") == 2)

    sysctl("net.ipv4.conf.dw0.rp_filter=0")
    sysctl("net.ipv4.ip_forward=0")
    seen = until(child, lambda u: u["ip_forward"] == 0)
    assert "sysctl net.ipv4.ip_forward: 1 → 0" in seen[-1]["events"]
