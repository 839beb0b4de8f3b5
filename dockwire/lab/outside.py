"""The lab's "outside" client: a network namespace joined to the host by a veth pair, driven with `ip`.

Namespaces and links cannot carry Docker labels, so the lab keeps no state file for them: it recognises them
strictly by their fixed names, `dwlab-outside` (the namespace) and `dwlab-out0` (the host end of the veth),
and touches nothing else. The namespace holds the other end as `eth0` with 198.51.100.2/24 (TEST-NET-2) and a
default route via the host's 198.51.100.1, so it reaches published ports on the host's addresses like a
client on another machine would. The link has IPv6 too (2001:db8:100::/64, the documentation prefix), with
the namespace's IPv6 default route via the host, so it can reach a routed IPv6 network.
"""

from __future__ import annotations

import ipaddress
import json
import subprocess
import time
from typing import Any

from dockwire.lab.report import LabError, LabObject

NETNS = "dwlab-outside"
HOST_IF = "dwlab-out0"
PEER_IF = "eth0"
HOST_ADDR = "198.51.100.1"
NS_ADDR = "198.51.100.2"
PREFIXLEN = 24
SUBNET = "198.51.100.0/24"
HOST_ADDR6 = "2001:db8:100::1"
NS_ADDR6 = "2001:db8:100::2"
PREFIXLEN6 = 64
SCENARIO = "outside"


def ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    """Run `ip ARGS`; on failure raise LabError with ip's own message."""
    proc = subprocess.run(["ip", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError(f"ip {' '.join(args)}: {msg[0] if msg else f'exit {proc.returncode}'}")
    return proc


def ip_json(*args: str) -> list[dict[str, Any]]:
    """`ip -j ARGS` as data; [] when it fails or prints nothing."""
    proc = ip("-j", *args, check=False)
    if proc.returncode != 0 or not proc.stdout.strip():
        return []
    data = json.loads(proc.stdout)
    return data if isinstance(data, list) else []


def netns_exists(name: str = NETNS) -> bool:
    proc = ip("netns", "list", check=False)
    return any(line.split()[0] == name for line in proc.stdout.splitlines() if line.strip())


def _addresses(link: list[dict[str, Any]], family: str = "inet") -> list[str]:
    """ADDR/PREFIXLEN of a link's addresses of one family ("inet", "inet6")."""
    return [
        f"{a['local']}/{a['prefixlen']}"
        for entry in link
        for a in entry.get("addr_info", [])
        if a.get("family") == family
    ]


def host_link() -> list[dict[str, Any]]:
    """`ip -j addr show dev dwlab-out0`, or [] when there is no such link."""
    return ip_json("addr", "show", "dev", HOST_IF)


def _healthy() -> bool:
    if not netns_exists():
        return False
    link = host_link()
    if not link or f"{HOST_ADDR}/{PREFIXLEN}" not in _addresses(link) or "UP" not in link[0].get("flags", []):
        return False
    if f"{HOST_ADDR6}/{PREFIXLEN6}" not in _addresses(link, "inet6"):
        return False
    inner = ip_json("-n", NETNS, "addr", "show", "dev", PEER_IF)
    if f"{NS_ADDR}/{PREFIXLEN}" not in _addresses(inner):
        return False
    if f"{NS_ADDR6}/{PREFIXLEN6}" not in _addresses(inner, "inet6"):
        return False
    routes = ip_json("-n", NETNS, "route", "show", "default")
    routes6 = ip_json("-n", NETNS, "-6", "route", "show", "default")
    return any(r.get("gateway") == HOST_ADDR for r in routes) and any(
        r.get("gateway") == HOST_ADDR6 for r in routes6
    )


def overlapping_routes(subnet: str, skip_devs: set[str]) -> list[str]:
    """Routes of the host's main table that overlap `subnet`, except those through `skip_devs`."""
    wanted = ipaddress.ip_network(subnet)
    found = []
    for route in ip_json("-4", "route", "show"):
        dst, dev = route.get("dst", ""), route.get("dev", "")
        if dst in ("", "default") or dev in skip_devs:
            continue
        if ipaddress.ip_network(dst if "/" in dst else f"{dst}/32", strict=False).overlaps(wanted):
            found.append(f"{dst} dev {dev or '?'}")
    return found


def _objects(state_ns: str, state_if: str) -> list[LabObject]:
    return [
        LabObject(
            "netns",
            NETNS,
            state_ns,
            SCENARIO,
            f"{PEER_IF} {NS_ADDR}/{PREFIXLEN} {NS_ADDR6}/{PREFIXLEN6} via {HOST_ADDR} / {HOST_ADDR6}",
        ),
        LabObject(
            "veth",
            HOST_IF,
            state_if,
            SCENARIO,
            f"{HOST_ADDR}/{PREFIXLEN} {HOST_ADDR6}/{PREFIXLEN6} <-> {NETNS}:{PEER_IF}",
        ),
    ]


def ensure_outside() -> list[LabObject]:
    """Create the namespace and veth, or keep them when they are already exactly as wanted."""
    if _healthy():
        return _objects("reused", "reused")
    existed = netns_exists() or bool(host_link())
    remove_outside()
    ip("netns", "add", NETNS)
    ip("link", "add", HOST_IF, "type", "veth", "peer", "name", PEER_IF, "netns", NETNS)
    ip("addr", "add", f"{HOST_ADDR}/{PREFIXLEN}", "dev", HOST_IF)
    ip("link", "set", HOST_IF, "up")
    ip("-n", NETNS, "link", "set", "lo", "up")
    ip("-n", NETNS, "addr", "add", f"{NS_ADDR}/{PREFIXLEN}", "dev", PEER_IF)
    ip("-n", NETNS, "link", "set", PEER_IF, "up")
    ip("-n", NETNS, "route", "add", "default", "via", HOST_ADDR)
    # nodad: the addresses are usable at once (no duplicate-address detection on a link of our own).
    ip("addr", "add", f"{HOST_ADDR6}/{PREFIXLEN6}", "dev", HOST_IF, "nodad")
    ip("-n", NETNS, "addr", "add", f"{NS_ADDR6}/{PREFIXLEN6}", "dev", PEER_IF, "nodad")
    ip("-n", NETNS, "-6", "route", "add", "default", "via", HOST_ADDR6)
    state = "recreated" if existed else "created"
    return _objects(state, state)


def remove_outside() -> list[LabObject]:
    """Delete the veth (which takes its peer in the namespace) and then the namespace.

    The link goes first: a namespace's veth ends are destroyed asynchronously after `ip netns delete`, so a
    host end seen just after it may already be gone when it is deleted."""
    had_link = bool(host_link())
    if had_link:
        ip("link", "delete", HOST_IF, check=False)
    ns_state = "absent"
    if netns_exists():
        ip("netns", "delete", NETNS)
        ns_state = "removed"
    deadline = time.monotonic() + 3
    while host_link():
        if time.monotonic() > deadline:
            raise LabError(f"{HOST_IF} is still there after deleting it and {NETNS}")
        ip("link", "delete", HOST_IF, check=False)
        time.sleep(0.1)
    return _objects(ns_state, "removed" if had_link else "absent")


def outside_status() -> list[LabObject]:
    ns = "present" if netns_exists() else "missing"
    link = host_link()
    veth = ("up" if "UP" in link[0].get("flags", []) else "down") if link else "missing"
    return _objects(ns, veth)
