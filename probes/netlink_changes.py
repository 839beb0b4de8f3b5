"""Keep a namespace's links, addresses, routes and policy rules current from netlink notifications.

A full dump of a busy host (hundreds of veths, each with its IPv6 routes) costs pyroute2 half a second to
decode; a container start changes a handful of objects and the kernel announces each one. `NetlinkState`
starts from one dump (a HostNet) and applies the announcements (the messages a socket bound to
`MONITOR_GROUPS` receives, decoded by pyroute2), so the live model follows the host at the cost of the
change, not of the host.

The kernel does not announce everything: IPv4 routes through a link that goes down, or through a link that
is deleted, go without a word, and both are applied here as the kernel does them. What else goes unsaid (a
route flushed with a removed preferred source, a lost message when the socket's buffer overflowed) is why
the live model still compares a full dump with this state now and then (`same_host`).
"""

from __future__ import annotations

import contextlib
import socket
from typing import Any

import msgspec
from pyroute2.netlink.rtnl import (
    RTMGRP_IPV4_IFADDR,
    RTMGRP_IPV4_ROUTE,
    RTMGRP_IPV4_RULE,
    RTMGRP_IPV6_IFADDR,
    RTMGRP_IPV6_ROUTE,
    RTMGRP_IPV6_RULE,
    RTMGRP_LINK,
)
from pyroute2.netlink.rtnl.marshal import MarshalRtnl

from dockwire.model import Address, HostNet, Interface, Route
from dockwire.probes.netlink import address_of, interface_of, netlink_socket_in, route_of, rules_of

#: What a monitoring socket joins: links, addresses, routes and policy rules of both families.
MONITOR_GROUPS = (
    RTMGRP_LINK
    | RTMGRP_IPV4_IFADDR
    | RTMGRP_IPV6_IFADDR
    | RTMGRP_IPV4_ROUTE
    | RTMGRP_IPV6_ROUTE
    | RTMGRP_IPV4_RULE
    | RTMGRP_IPV6_RULE
)
IFF_UP = 0x1
NLM_F_REPLACE = 0x100
#: A route the kernel cloned (an IPv6 exception, a cached PMTU): not in a dump, so not in the model.
RTM_F_CLONED = 0x200
AF_INET = 2
AF_INET6 = 10
#: The monitoring socket's receive buffer: a burst (a hundred containers started at once) fits in it.
RECEIVE_BUFFER = 8 << 20
SO_RCVBUFFORCE = 33

RouteKey = tuple[int, int, str, int, int | None, str, str]
AddressKey = tuple[int, str, int]


def open_monitor(netns_path: str | None = None) -> socket.socket:
    """A netlink socket of the host (or of the namespace at `netns_path`) joined to `MONITOR_GROUPS`.

    Its `recv` raises OSError(ENOBUFS) when the kernel had to drop messages: then only a dump is right."""
    sock = (
        netlink_socket_in(netns_path)
        if netns_path
        else socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    )
    with contextlib.suppress(OSError):  # without CAP_NET_ADMIN the kernel's cap (rmem_max) applies
        sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, RECEIVE_BUFFER)
    sock.bind((0, MONITOR_GROUPS))
    return sock


def decoded(data: bytes) -> list[Any]:
    """The messages in what one `recv` of a monitoring socket returned, decoded by pyroute2."""
    return list(MarshalRtnl().parse(data))


def _route_key(route: Route, oif: int) -> RouteKey:
    return (route.family, route.table, route.dst, oif, route.metric, route.type, route.gateway)


def _address_key(address: Address) -> AddressKey:
    return (address.family, address.address, address.prefixlen)


class NetlinkState:
    """One namespace's HostNet, kept by applying netlink messages to it."""

    def __init__(self, start: HostNet) -> None:
        index = {i.name: i.ifindex for i in start.interfaces}
        #: The links without addresses or master (kept apart: a link message carries neither's final form).
        self._links: dict[int, Interface] = {}
        self._masters: dict[int, int] = {}
        self._addresses: dict[int, dict[AddressKey, Address]] = {}
        for iface in start.interfaces:
            self._links[iface.ifindex] = msgspec.structs.replace(iface, addresses=[], master="")
            self._masters[iface.ifindex] = index.get(iface.master, 0) if iface.master else 0
            self._addresses[iface.ifindex] = {_address_key(a): a for a in iface.addresses}
        self._routes: dict[RouteKey, tuple[Route, int]] = {}
        for route in start.routes:
            oif = index.get(route.dev, 0) if route.dev else 0
            self._routes[_route_key(route, oif)] = (route, oif)
        self._rules = list(start.rules)
        self._built: HostNet | None = start

    def apply(self, messages: list[Any]) -> bool:
        """Apply notifications in the order they came; whether anything in the HostNet changed."""
        before = self._built
        for msg in messages:
            self._apply_one(msg)
        return self.hostnet() != before

    def hostnet(self) -> HostNet:
        if self._built is None:
            names = {i: link.name for i, link in self._links.items()}
            interfaces = [
                msgspec.structs.replace(
                    link,
                    addresses=list(self._addresses.get(i, {}).values()),
                    master=names.get(self._masters.get(i, 0), ""),
                )
                for i, link in sorted(self._links.items())
            ]
            routes = [_on_device(route, names.get(oif, "")) for route, oif in self._routes.values()]
            self._built = HostNet(interfaces=interfaces, routes=routes, rules=list(self._rules))
        return self._built

    # --- one message ------------------------------------------------------------------------------------

    def _apply_one(self, msg: Any) -> None:
        handler = _HANDLERS.get(_event(msg))
        if handler is not None:
            handler(self, msg)

    def _new_link(self, msg: Any) -> None:
        if msg["family"] != 0:  # AF_BRIDGE: a bridge port's state, not the link itself
            return
        index = msg["index"]
        self._links[index] = interface_of(msg, {}, [])
        self._masters[index] = msg.get("master") or 0
        self._addresses.setdefault(index, {})
        if not msg["flags"] & IFF_UP:  # a downed link's IPv4 routes go unannounced (its local ones stay)
            self._drop_routes(index, families=(4,), keep_local=True)
        self._built = None

    def _del_link(self, msg: Any) -> None:
        if msg["family"] != 0:  # AF_BRIDGE: the port left its bridge; the link stays
            return
        index = msg["index"]
        self._links.pop(index, None)
        self._masters.pop(index, None)
        self._addresses.pop(index, None)
        self._drop_routes(index, families=(4, 6), keep_local=False)
        for port, master in self._masters.items():
            if master == index:
                self._masters[port] = 0
        self._built = None

    def _drop_routes(self, index: int, families: tuple[int, ...], keep_local: bool) -> None:
        gone = [
            key
            for key, (route, oif) in self._routes.items()
            if oif == index and route.family in families and not (keep_local and route.type == "local")
        ]
        for key in gone:
            del self._routes[key]

    def _address(self, msg: Any) -> None:
        address = address_of(msg)
        held = self._addresses.setdefault(msg["index"], {})
        if msg["event"] == "RTM_NEWADDR":
            held[_address_key(address)] = address
        else:
            held.pop(_address_key(address), None)
        self._built = None

    def _route(self, msg: Any) -> None:
        if msg["family"] not in (AF_INET, AF_INET6) or msg["flags"] & RTM_F_CLONED:
            return
        route = route_of(msg, {})  # its device's name is filled in by `hostnet`, from the link it names
        oif = msg.get("oif") or 0
        key = _route_key(route, oif)
        if msg["event"] == "RTM_NEWROUTE":
            if msg["header"]["flags"] & NLM_F_REPLACE:
                same = key[:3] + key[4:5]
                for old in [k for k in self._routes if k[:3] + k[4:5] == same]:
                    del self._routes[old]
            self._routes[key] = (route, oif)
        else:
            self._routes.pop(key, None)
        self._built = None

    def _rule(self, msg: Any) -> None:
        if msg["family"] not in (AF_INET, AF_INET6):  # multicast routing's rules
            return
        for rule in rules_of([msg]):
            if msg["event"] == "RTM_NEWRULE":
                if rule not in self._rules:  # a message the seeding dump already held (rules are unique)
                    self._rules.append(rule)
            elif rule in self._rules:
                self._rules.remove(rule)
        self._rules.sort(key=lambda r: (r.family, r.priority))
        self._built = None


_HANDLERS = {
    "RTM_NEWLINK": NetlinkState._new_link,
    "RTM_DELLINK": NetlinkState._del_link,
    "RTM_NEWADDR": NetlinkState._address,
    "RTM_DELADDR": NetlinkState._address,
    "RTM_NEWROUTE": NetlinkState._route,
    "RTM_DELROUTE": NetlinkState._route,
    "RTM_NEWRULE": NetlinkState._rule,
    "RTM_DELRULE": NetlinkState._rule,
}


def _event(msg: Any) -> str:
    """The message's kind ("RTM_NEWLINK"). Not `msg.get("event")`: pyroute2 looks for an attribute of that
    name first, and a link message may carry IFLA_EVENT (a number)."""
    try:
        return str(msg["event"])
    except KeyError:
        return ""


#: How an operational state reads in an event line (the others as they are: up, down, unknown).
_STATE_WORDS = {"lowerlayerdown": "down (its lower layer is down)"}


def link_changes(before: list[Interface], after: list[Interface]) -> list[str]:
    """One event line per link change between two reads of the host's links, by ifindex: added (with its
    kind), removed, renamed, up or down, into or out of a bridge."""
    old = {i.ifindex: i for i in before}
    new = {i.ifindex: i for i in after}
    lines = []
    for index, link in new.items():
        was = old.get(index)
        if was is None:
            kind = f" ({link.kind})" if link.kind else ""
            port = f", port of {link.master}" if link.master else ""
            lines.append(f"link {link.name}: added{kind}{port}")
            continue
        if was.name != link.name:
            lines.append(f"link {was.name}: renamed {link.name}")
        if was.state != link.state and link.state:
            lines.append(f"link {link.name}: {_STATE_WORDS.get(link.state, link.state)}")
        if was.master != link.master:
            lines.append(
                f"link {link.name}: " + (f"port of {link.master}" if link.master else f"left {was.master}")
            )
    lines += [f"link {link.name}: removed" for index, link in old.items() if index not in new]
    return lines


def _on_device(route: Route, dev: str) -> Route:
    """`route` naming its device as it is called now (a link may have been renamed since)."""
    return route if route.dev == dev else msgspec.structs.replace(route, dev=dev)


def canonical(host: HostNet) -> HostNet:
    """`host` with its lists in one order (a dump's order and the order changes came in may differ)."""
    interfaces = [
        msgspec.structs.replace(i, addresses=sorted(i.addresses, key=_address_key)) for i in host.interfaces
    ]
    return HostNet(
        interfaces=sorted(interfaces, key=lambda i: i.ifindex),
        routes=sorted(host.routes, key=msgspec.json.encode),
        rules=sorted(host.rules, key=msgspec.json.encode),
    )


def same_host(one: HostNet, other: HostNet) -> bool:
    """Whether two reads of a namespace hold the same links, addresses, routes and rules, in any order."""
    return canonical(one) == canonical(other)
