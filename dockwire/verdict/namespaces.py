"""A container's own network view: its interfaces, routes, and which host veth and bridge each interface uses.

When a container's namespace was not read (no root, stopped container), the view is inferred from Docker's
endpoint data (one interface per network, connected routes, default route via the first non-internal
network's gateway) and the engine says so.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_interface

from dockwire.model import Address, Container, Interface, Route
from dockwire.verdict.context import EngineContext
from dockwire.verdict.packet import IPAddress, ip
from dockwire.verdict.routing import RouteResult, RoutingTables, primary_address

MACVLAN_KINDS = ("macvlan", "ipvlan", "macvtap")


@dataclass(frozen=True, slots=True)
class Attachment:
    """One container interface and where it plugs into the host."""

    ifname: str
    address: IPAddress | None
    kind: str  # "veth", "macvlan", "ipvlan", ...
    host_veth: str = ""
    bridge: str = ""
    network: str = ""
    parent: str = ""
    # The interface's first global IPv6 address (`address` is its IPv4 one).
    address6: IPAddress | None = None

    def address_for(self, family: int) -> IPAddress | None:
        """The interface's own address of `family` (4 or 6)."""
        return self.address6 if family == 6 else self.address


@dataclass(frozen=True, slots=True)
class ContainerView:
    container: Container
    routing: RoutingTables
    attachments: dict[str, Attachment]
    inferred: bool

    def egress(self, dst: IPAddress) -> tuple[RouteResult, Attachment | None]:
        result = self.routing.lookup(dst)
        return result, self.attachments.get(result.dev)


def _network_for(ctx: EngineContext, container: Container, addr: IPAddress | None) -> tuple[str, str, str]:
    """(network name, bridge, parent) of the endpoint whose IPv4 or IPv6 address is `addr`."""
    for ep in container.endpoints:
        net = ctx.network(ep.network_id) or ctx.network(ep.network)
        if net is None or addr is None:
            continue
        if ep.ip == str(addr) or (ep.ipv6 and addr.version == 6 and ip(ep.ipv6) == addr):
            return net.name, net.bridge, net.parent
    return "", "", ""


def _inferred(container: Container, ctx: EngineContext) -> tuple[list[Interface], list[Route]]:
    ifaces: list[Interface] = [Interface(name="lo", ifindex=1, kind="", addresses=[Address("127.0.0.1", 8)])]
    routes: list[Route] = []
    default_set = False
    default6_set = False
    for index, ep in enumerate(sorted(container.endpoints, key=lambda e: e.network)):
        if not ep.ip and not ep.ipv6:
            continue
        name = f"eth{index}"
        net = ctx.network(ep.network_id) or ctx.network(ep.network)
        kind = net.driver if net is not None and net.driver in MACVLAN_KINDS else "veth"
        internal = net is not None and net.internal
        addresses = []
        if ep.ip:
            prefix = ep.prefixlen or 16
            addresses.append(Address(ep.ip, prefix))
            subnet = ip_interface(f"{ep.ip}/{prefix}").network
            routes.append(Route(dst=str(subnet), dev=name, scope="link", prefsrc=ep.ip))
            if not default_set and ep.gateway and not internal:
                routes.append(Route(dst="default", dev=name, gateway=ep.gateway))
                default_set = True
        if ep.ipv6:
            prefix6 = ep.ipv6_prefixlen or 64
            addresses.append(Address(ep.ipv6, prefix6, family=6))
            subnet6 = ip_interface(f"{ep.ipv6}/{prefix6}").network
            routes.append(Route(dst=str(subnet6), dev=name, family=6))
            if not default6_set and ep.ipv6_gateway and not internal:
                routes.append(Route(dst="default", dev=name, gateway=ep.ipv6_gateway, family=6))
                default6_set = True
        ifaces.append(Interface(name=name, ifindex=index + 2, kind=kind, addresses=addresses))
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
        addr4 = primary_address([iface], iface.name, 4)
        addr6 = primary_address([iface], iface.name, 6)
        network, bridge, parent = _network_for(ctx, container, addr4 or addr6)
        pair = ctx.veth_by_container.get((container.id, iface.name))
        host_veth = pair.host_ifname if pair else ""
        if pair and pair.bridge:
            bridge = pair.bridge
        attachments[iface.name] = Attachment(
            iface.name, addr4, iface.kind or "veth", host_veth, bridge, network, parent, addr6
        )
    return ContainerView(container, routing, attachments, inferred)
