"""A container's own network view: its interfaces, routes, and which host veth and bridge each interface uses.

When a container's namespace was not read (no root, stopped container), the view is inferred from Docker's
endpoint data (one interface per network, connected routes, default route via the first non-internal
network's gateway) and the engine says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Interface

from dockwire.model import Address, Container, Interface, Route
from dockwire.verdict.context import EngineContext
from dockwire.verdict.packet import ipv4
from dockwire.verdict.routing import RouteResult, RoutingTables

MACVLAN_KINDS = ("macvlan", "ipvlan", "macvtap")


@dataclass(frozen=True, slots=True)
class Attachment:
    """One container interface and where it plugs into the host."""

    ifname: str
    address: IPv4Address | None
    kind: str  # "veth", "macvlan", "ipvlan", ...
    host_veth: str = ""
    bridge: str = ""
    network: str = ""
    parent: str = ""


@dataclass(frozen=True, slots=True)
class ContainerView:
    container: Container
    routing: RoutingTables
    attachments: dict[str, Attachment]
    inferred: bool

    def egress(self, dst: IPv4Address) -> tuple[RouteResult, Attachment | None]:
        result = self.routing.lookup(dst)
        return result, self.attachments.get(result.dev)


def _network_for(ctx: EngineContext, container: Container, addr: IPv4Address | None) -> tuple[str, str, str]:
    """(network name, bridge, parent) of the endpoint whose IP or subnet holds `addr`."""
    for ep in container.endpoints:
        net = ctx.network(ep.network_id) or ctx.network(ep.network)
        if net is None:
            continue
        if addr is not None and ep.ip == str(addr):
            return net.name, net.bridge, net.parent
    return "", "", ""


def _inferred(container: Container, ctx: EngineContext) -> tuple[list[Interface], list[Route]]:
    ifaces: list[Interface] = [Interface(name="lo", ifindex=1, kind="", addresses=[Address("127.0.0.1", 8)])]
    routes: list[Route] = []
    default_set = False
    for index, ep in enumerate(sorted(container.endpoints, key=lambda e: e.network)):
        if not ep.ip:
            continue
        name = f"eth{index}"
        prefix = ep.prefixlen or 16
        net = ctx.network(ep.network_id) or ctx.network(ep.network)
        kind = net.driver if net is not None and net.driver in MACVLAN_KINDS else "veth"
        ifaces.append(Interface(name=name, ifindex=index + 2, kind=kind, addresses=[Address(ep.ip, prefix)]))
        subnet = IPv4Interface(f"{ep.ip}/{prefix}").network
        routes.append(Route(dst=str(subnet), dev=name, scope="link", prefsrc=ep.ip))
        internal = net is not None and net.internal
        if not default_set and ep.gateway and not internal:
            routes.append(Route(dst="default", dev=name, gateway=ep.gateway))
            default_set = True
    return ifaces, routes


def container_view(ctx: EngineContext, container: Container) -> ContainerView:
    """The namespace view of `container` (pass the namespace owner for container:X containers)."""
    ifaces, routes = container.interfaces, container.routes
    inferred = not ifaces
    if inferred:
        ifaces, routes = _inferred(container, ctx)
        routing = RoutingTables(routes, None, ifaces)
    else:
        routing = ctx.routing_of(container)
    attachments: dict[str, Attachment] = {}
    for iface in ifaces:
        if iface.name == "lo":
            continue
        first = iface.first_address(4)
        addr = ipv4(first) if first is not None else None
        network, bridge, parent = _network_for(ctx, container, addr)
        pair = ctx.veth_by_container.get((container.id, iface.name))
        host_veth = pair.host_ifname if pair else ""
        if pair and pair.bridge:
            bridge = pair.bridge
        attachments[iface.name] = Attachment(
            iface.name, addr, iface.kind or "veth", host_veth, bridge, network, parent
        )
    return ContainerView(container, routing, attachments, inferred)
