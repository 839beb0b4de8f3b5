"""Read links, addresses, routes and policy rules over netlink (pyroute2), on the host or in a namespace.

The reads are coroutines (pyroute2's `AsyncIPRoute` on the running event loop), so the collector reads a
hundred namespaces at once without a thread each. A container's namespace is read through a netlink socket
opened in it: the calling thread enters the namespace (`/proc/PID/ns/net`) only for the `socket()` call and
returns at once (setns moves one thread, not the process). pyroute2's own `NetNS` forks a helper process per
namespace for the same socket, three times slower at a hundred containers.
"""

from __future__ import annotations

import os
import socket
import sys
from typing import Any

from pyroute2 import AsyncIPRoute, netns
from pyroute2.netlink.rtnl import RTM_GETADDR, RTM_GETLINK, RTM_GETROUTE, RTM_GETRULE
from pyroute2.netlink.rtnl.fibmsg import fibmsg
from pyroute2.netlink.rtnl.ifaddrmsg import ifaddrmsg
from pyroute2.netlink.rtnl.ifinfmsg import ifinfmsg
from pyroute2.netlink.rtnl.rtmsg import rtmsg

from dockwire.model import Address, Interface, Route, RoutingRule

RT_PROTOS = {0: "unspec", 1: "redirect", 2: "kernel", 3: "boot", 4: "static", 16: "dhcp"}
RT_SCOPES = {0: "global", 200: "site", 253: "link", 254: "host", 255: "nowhere"}
RT_TYPES = {
    1: "unicast",
    2: "local",
    3: "broadcast",
    4: "anycast",
    5: "multicast",
    6: "blackhole",
    7: "unreachable",
    8: "prohibit",
    9: "throw",
    10: "nat",
}
OPER_STATES = {"UP": "up", "DOWN": "down", "UNKNOWN": "unknown", "LOWERLAYERDOWN": "lowerlayerdown"}
#: AF_INET, AF_INET6: the families the model keeps.
_FAMILIES = (2, 10)
FR_ACTIONS = {1: "lookup", 2: "goto", 3: "nop", 6: "blackhole", 7: "unreachable", 8: "prohibit"}


def _attrs(msg: Any, prefix: str) -> dict[str, Any]:
    """The attributes of a message the model keeps (`_WANTED`), by lower-case name without `prefix`
    ("IFLA_IFNAME" -> "ifname"), the first of each name. One pass, and only these are decoded: pyroute2's
    `get` walks every attribute for each name asked."""
    wanted = _WANTED[prefix]
    found: dict[str, Any] = {}
    for slot in msg["attrs"]:
        name = slot.name
        if name in wanted and name not in found:
            found[name] = slot.value
    return {name[len(prefix) :].lower(): value for name, value in found.items()}


def _names(prefix: str, *names: str) -> frozenset[str]:
    return frozenset(f"{prefix}{name.upper()}" for name in names)


#: The attributes the model keeps, per message type.
_WANTED = {
    "IFLA_": _names(
        "IFLA_", "ifname", "mtu", "operstate", "address", "link", "master", "link_netnsid", "linkinfo"
    ),
    "IFA_": _names("IFA_", "address"),
    "RTA_": _names("RTA_", "dst", "oif", "gateway", "table", "prefsrc", "priority"),
    "FRA_": _names("FRA_", "src", "dst", "fwmark", "priority", "table", "iifname", "oifname"),
}


def interface_of(link: Any, names: dict[int, str], addresses: list[Address]) -> Interface:
    """One link message as an Interface; `names` gives the names of the other links (for its master)."""
    return _interface(link, _attrs(link, "IFLA_"), names, addresses)


def _interface(
    link: Any, attrs: dict[str, Any], names: dict[int, str], addresses: list[Address]
) -> Interface:
    info = attrs.get("linkinfo")
    kind = (info.get_attr("IFLA_INFO_KIND") if info is not None else None) or ""
    peer = attrs.get("link")
    master = attrs.get("master")
    operstate = attrs.get("operstate")
    return Interface(
        name=attrs.get("ifname") or "",
        ifindex=link["index"],
        kind=kind,
        mtu=attrs.get("mtu"),
        state=OPER_STATES.get(str(operstate), str(operstate or "").lower()),
        mac=attrs.get("address") or "",
        addresses=addresses,
        master=names.get(master, "") if master else "",
        peer_ifindex=peer if kind == "veth" and peer else None,
        peer_netnsid=attrs.get("link_netnsid") if kind == "veth" else None,
        parent_ifindex=peer if kind in ("macvlan", "ipvlan", "vlan") and peer else None,
    )


def address_of(addr: Any) -> Address:
    family = 4 if addr["family"] == 2 else 6
    return Address(
        address=_attrs(addr, "IFA_").get("address") or "", prefixlen=addr["prefixlen"], family=family
    )


def _interfaces(links: list[Any], addrs: list[Any]) -> list[Interface]:
    addresses: dict[int, list[Address]] = {}
    for addr in addrs:
        addresses.setdefault(addr["index"], []).append(address_of(addr))
    decoded = [(link, _attrs(link, "IFLA_")) for link in links]
    names = {link["index"]: attrs.get("ifname") or "" for link, attrs in decoded}
    result = [_interface(link, attrs, names, addresses.get(link["index"], [])) for link, attrs in decoded]
    return sorted(result, key=lambda i: i.ifindex)


def route_of(msg: Any, names: dict[int, str]) -> Route:
    """One route message as a Route; `names` gives link names by index (for its device)."""
    attrs = _attrs(msg, "RTA_")
    dst = attrs.get("dst")
    dst_text = f"{dst}/{msg['dst_len']}" if dst else ("default" if msg["dst_len"] == 0 else "")
    return Route(
        dst=dst_text,
        dev=names.get(attrs.get("oif"), ""),  # type: ignore[arg-type]
        gateway=attrs.get("gateway") or "",
        table=attrs.get("table") or msg["table"],
        protocol=RT_PROTOS.get(msg["proto"], str(msg["proto"])),
        scope=RT_SCOPES.get(msg["scope"], str(msg["scope"])),
        prefsrc=attrs.get("prefsrc") or "",
        metric=attrs.get("priority"),
        type=RT_TYPES.get(msg["type"], str(msg["type"])),
        family=4 if msg["family"] == 2 else 6,
    )


def _routes(msgs: list[Any], names: dict[int, str]) -> list[Route]:
    return [route_of(msg, names) for msg in msgs]


def rules_of(msgs: list[Any]) -> list[RoutingRule]:
    rules = []
    for msg in msgs:
        attrs = _attrs(msg, "FRA_")
        src, dst = attrs.get("src"), attrs.get("dst")
        mark = attrs.get("fwmark")
        rules.append(
            RoutingRule(
                priority=attrs.get("priority") or 0,
                table=attrs.get("table") or msg["table"],
                src=f"{src}/{msg['src_len']}" if src else "",
                dst=f"{dst}/{msg['dst_len']}" if dst else "",
                iif=attrs.get("iifname") or "",
                oif=attrs.get("oifname") or "",
                fwmark=hex(mark) if mark else "",
                action=FR_ACTIONS.get(msg["action"], str(msg["action"])),
                family=4 if msg["family"] == 2 else 6,
            )
        )
    return sorted(rules, key=lambda r: (r.family, r.priority))


def netlink_socket_in(netns_path: str) -> socket.socket:
    """A NETLINK_ROUTE socket that belongs to the namespace at `netns_path`; the thread stays where it was."""
    target = os.open(netns_path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        own = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
        try:
            netns.setns(target, flags=0)  # an fd: pyroute2 never creates or names anything
            try:
                return socket.socket(socket.AF_NETLINK, socket.SOCK_DGRAM, 0)
            finally:
                _return_to(own)
        finally:
            os.close(own)
    finally:
        os.close(target)


def _return_to(own_fd: int) -> None:
    """Back to this thread's namespace. A thread that cannot return would read the wrong host: stop."""
    try:
        netns.setns(own_fd, flags=0)
    except OSError as exc:
        sys.stderr.write(f"dockwire: cannot return to its own network namespace: {exc}\n")
        os._exit(70)


async def _dump_all(ipr: AsyncIPRoute, msg: Any, kind: int) -> list[Any]:
    """Every object of one kind in the namespace by one plain dump request: of every family for addresses
    and rules (AF_UNSPEC), of the request's family for routes (where AF_UNSPEC means IPv4 alone).
    pyroute2's `get_*` helpers prepare each request through their filters, a fifth of a small namespace's
    read. Messages of other families (multicast routing, MPLS) are left out."""
    return [m async for m in await ipr.nlm_request(msg, kind) if m["family"] in _FAMILIES]


def _of_family(msg: Any, family: int) -> Any:
    msg["family"] = family
    return msg


async def read_namespace(
    netns_path: str | None = None, with_rules: bool = False
) -> tuple[list[Interface], list[Route], list[RoutingRule]]:
    """Interfaces, routes (all tables) and optionally policy rules of the host or of a namespace path."""
    ipr = AsyncIPRoute(fileno=netlink_socket_in(netns_path).detach()) if netns_path else AsyncIPRoute()
    async with ipr:
        links = [m async for m in await ipr.nlm_request(ifinfmsg(), RTM_GETLINK)]
        addrs = await _dump_all(ipr, ifaddrmsg(), RTM_GETADDR)
        routes = [
            m for family in _FAMILIES for m in await _dump_all(ipr, _of_family(rtmsg(), family), RTM_GETROUTE)
        ]
        rules = await _dump_all(ipr, fibmsg(), RTM_GETRULE) if with_rules else []
    interfaces = _interfaces(links, addrs)
    names = {i.ifindex: i.name for i in interfaces}
    return interfaces, _routes(routes, names), rules_of(rules)
