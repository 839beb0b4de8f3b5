"""Follow a flow end to end: out of the source namespace, through the host, into the destination, and back.

The request is followed first; once it arrives, its reply (conntrack ESTABLISHED, NAT undone) is followed
back the same way, since a connection needs both. A published port reached on the host itself hands over to
docker-proxy, whose own connection to the container is followed too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address

from dockwire.model import Container, PortBinding
from dockwire.verdict import ndp
from dockwire.verdict.context import EngineContext
from dockwire.verdict.endpoints import FlowEnd
from dockwire.verdict.hostpath import Conn, Exit, HostStack
from dockwire.verdict.namespaces import MACVLAN_KINDS, Attachment, ContainerView, container_view
from dockwire.verdict.notebook import Stop, Trace
from dockwire.verdict.packet import IPAddress, Packet, address_text, first_packet, ip, reply_to
from dockwire.verdict.routing import is_loopback

LOCALHOST = IPv4Address("127.0.0.1")
LOCALHOST6 = IPv6Address("::1")


@dataclass(frozen=True, slots=True)
class Place:
    """A network namespace a packet can start or end in."""

    kind: str  # "container", "host", "outside"
    container: Container | None = None  # the namespace owner
    address: IPAddress | None = None
    # For "outside": the host interface the client is reached through.
    iface: str = ""
    # The host the namespace is on, when a flow crosses several hosts; "" for one host.
    host: str = ""

    def same(self, other: Place) -> bool:
        if self.kind != other.kind or self.host != other.host:
            return False
        if self.kind == "container":
            assert self.container is not None and other.container is not None
            return self.container.id == other.container.id
        return self.kind == "host" or self.address == other.address

    def label(self) -> str:
        at = f"@{self.host}" if self.host else ""
        if self.kind == "container" and self.container is not None:
            return self.container.name + at
        if self.kind == "outside":
            return f"outside {self.address}" + (f" (via {self.iface}{at})" if self.iface else "")
        return "host" + at


@dataclass(frozen=True, slots=True)
class Arrival:
    place: Place
    packet: Packet


def published_bindings(ctx: EngineContext, port: int, proto: str) -> list[tuple[Container, PortBinding]]:
    found = []
    for c in ctx.model.containers:
        for b in c.ports:
            if b.host_port == port and b.proto == proto:
                found.append((c, b))
    return found


def _binding_listens_on(binding: PortBinding, addr: IPAddress) -> bool:
    host_ip = binding.host_ip or "0.0.0.0"
    if host_ip in ("0.0.0.0", "::"):
        return True
    return host_ip == str(addr)


def check_reply(back: Arrival, origin: Place, first: Packet) -> None:
    """Stop unless the reply came back to the request's sender, at its own address."""
    if not back.place.same(origin):
        raise Stop(
            "blocked",
            f"the reply goes to {back.place.label()}, not back to {origin.label()}",
            missing="reply-route",
        )
    if back.packet.dst != first.src:
        raise Stop("uncertain", f"the reply reaches {back.packet.dst}, not the sender's {first.src}")


class FlowFollower:
    """Follows one flow through a model; raises Stop when it is blocked or cannot be decided."""

    def __init__(
        self,
        ctx: EngineContext,
        trace: Trace,
        host: str = "",
        beyond: Callable[[FlowFollower, Exit], Arrival | None] | None = None,
        family: int = 4,
    ) -> None:
        self.ctx = ctx
        # The flow's address family (4 or 6): which of each container's addresses it uses.
        self.family = family
        self.trace = trace
        self.stack = HostStack(ctx, trace)
        # Several hosts: this one's name, and who takes a packet that leaves it for another known host.
        self.host = host
        self.beyond = beyond

    def view(self, container: Container) -> ContainerView:
        found: ContainerView | None = self.ctx.views.get(container.id)
        if found is None:
            found = container_view(self.ctx, container)
            self.ctx.views[container.id] = found
        if found.inferred and container.state == "running":
            self.trace.note(
                f"{container.name}'s network namespace was not read: its interfaces and routes "
                "are inferred from Docker's settings"
            )
        return found

    # --- endpoints to places ----------------------------------------------------------------------------

    def check_container(self, ep: FlowEnd, role: str) -> Container:
        """The namespace owner of a container endpoint, or Stop when it cannot send or receive at all."""
        c = ep.container
        assert c is not None
        if c.state and c.state != "running":
            raise Stop(
                "blocked",
                f"{c.name} is not running (state {c.state})",
                missing="not-running",
                facts={"container": c.name},
            )
        owner = self.ctx.owner(c)
        if owner is not c:
            self.trace.hop(
                "netns", f"{c.name} uses {owner.name}'s network namespace (container:{owner.name})"
            )
            if owner.state and owner.state != "running":
                raise Stop(
                    "blocked",
                    f"{c.name} shares the namespace of {owner.name}, which is not running",
                    missing="not-running",
                    facts={"container": owner.name},
                )
        if owner.network_mode == "none" or (
            not any(ep.ip for ep in owner.endpoints)
            and owner.network_mode != "host"
            and not any(i.name != "lo" for i in owner.interfaces)
        ):
            raise Stop(
                "blocked",
                f"{c.name} has network mode none: only a loopback interface, no way in or out",
                missing="network-none",
                facts={"container": c.name, "role": role},
            )
        return owner

    def place_of(self, ep: FlowEnd, role: str) -> Place:
        if ep.kind == "container":
            owner = self.check_container(ep, role)
            if owner.network_mode == "host":
                self.trace.hop("netns", f"{owner.name} uses the host's network namespace (network mode host)")
                return Place("host")
            return Place("container", owner)
        if ep.kind == "outside":
            addr = ip(ep.address)
            if ep.assumed_address:
                self.trace.note(
                    f"no address given for `outside`: assumed a client at {addr}, reached through the "
                    "host's default route (give outside:ADDR for another)"
                )
            route = self.ctx.routing.lookup(addr)
            if route.kind == "local":
                raise Stop(
                    "blocked",
                    f"{addr} is an address of the host itself, not an outside client",
                    missing="bad-endpoint",
                )
            return Place("outside", address=addr, iface=route.dev)
        return Place("host", address=ip(ep.address) if ep.address else None)

    def _own(self, ep_ip: str, ep_ipv6: str) -> IPAddress | None:
        """An endpoint's address of the flow's family."""
        text = ep_ipv6 if self.family == 6 else ep_ip
        return ip(text) if text else None

    def pick_address(self, dst: FlowEnd, dst_place: Place, src_place: Place) -> IPAddress:
        """The address the source uses for the destination (the same network's address when there is one)."""
        if dst.address:
            return ip(dst.address)
        if dst_place.kind == "container" and dst_place.container is not None:
            target = dst_place.container
            if src_place.kind == "container" and src_place.container is not None:
                src_nets = {e.network_id for e in src_place.container.endpoints}
                for ep in target.endpoints:
                    if ep.network_id in src_nets and (addr := self._own(ep.ip, ep.ipv6)) is not None:
                        return addr
            for ep in sorted(target.endpoints, key=lambda e: e.network):
                if (addr := self._own(ep.ip, ep.ipv6)) is not None:
                    return addr
            for att in self.view(target).attachments.values():
                if (addr := att.address_for(self.family)) is not None:
                    return addr
            raise Stop(
                "blocked",
                f"{target.name} has no IPv{self.family} address",
                missing="no-address",
                facts={"container": target.name, "family": str(self.family)},
            )
        # The host (or a published port on it) as the source sees it: its gateway on the container's network.
        if src_place.kind == "container" and src_place.container is not None:
            for ep in src_place.container.endpoints:
                gateway = self._own(ep.gateway, ep.ipv6_gateway)
                if gateway is not None and self.ctx.routing.is_local(gateway):
                    return gateway
            for att in self.view(src_place.container).attachments.values():
                host_addr = self.ctx.host_address(att.parent or att.bridge, self.family)
                if host_addr is not None:
                    return host_addr
        if src_place.kind == "outside":
            addr = self.ctx.host_address(src_place.iface, self.family)
            if addr is not None:
                return addr
        return LOCALHOST6 if self.family == 6 else LOCALHOST

    # --- sending -------------------------------------------------------------------------------------

    def source_address(self, place: Place, dst: IPAddress) -> IPAddress:
        if place.kind == "outside":
            assert place.address is not None
            return place.address
        if place.kind == "host":
            if is_loopback(dst):
                return LOCALHOST if dst.version == 4 else LOCALHOST6
            result = self.ctx.routing.lookup(dst)
            if result.kind == "local":
                return dst
            src = self.ctx.routing.source_for(result, self.ctx.model.host.interfaces, dst.version)
            if src is None:
                unspecified = "0.0.0.0" if dst.version == 4 else "::"
                raise self.stack._no_route(
                    first_packet(unspecified, str(dst), "icmp", None), result, "from the host"
                )
            return src
        assert place.container is not None
        view = self.view(place.container)
        result, att = view.egress(dst)
        if result.kind == "local":
            return dst
        own = att.address_for(dst.version) if att is not None else None
        if not result.ok or own is None:
            raise self.container_no_route(place.container, dst)
        if result.prefsrc:
            return ip(result.prefsrc)
        return own

    def container_no_route(self, container: Container, dst: IPAddress) -> Stop:
        internal = [
            e.network
            for e in container.endpoints
            if (n := self.ctx.network(e.network_id) or self.ctx.network(e.network)) and n.internal
        ]
        why = f" ({', '.join(internal)} is --internal: no default route)" if internal else ""
        return Stop(
            "blocked",
            f"{container.name} has no route to {dst}{why}",
            missing="container-route",
            facts={"container": container.name, "internal": ",".join(internal), "dst": str(dst)},
        )

    def send(self, origin: Place, pkt: Packet, conn: Conn | None = None) -> Arrival:
        """Follow `pkt` from `origin` until it arrives in some namespace."""
        if origin.kind == "host":
            self.trace.hop("netns", f"host sends {pkt.describe()}")
            return self.arrive(self.stack.from_host(pkt, conn))
        if origin.kind == "outside":
            child = self.macvlan_child(origin.iface, pkt.dst)
            if child is not None:
                container, att = child
                self.trace.hop(
                    "link",
                    f"{origin.label()} sends {pkt.describe()} straight to {container.name} on "
                    f"{att.kind} network {att.network} (the host's netfilter does not see it)",
                )
                return Arrival(Place("container", container), pkt)
            self.trace.hop("link", f"{origin.label()} sends {pkt.describe()}; it arrives on {origin.iface}")
            return self.arrive(self.stack.from_iface(pkt, origin.iface, conn=conn))
        assert origin.container is not None
        return self.send_from_container(origin.container, pkt, conn)

    def send_from_container(self, container: Container, pkt: Packet, conn: Conn | None) -> Arrival:
        view = self.view(container)
        result, att = view.egress(pkt.dst)
        if result.kind == "local":
            self.trace.hop("netns", f"{pkt.dst} is {container.name}'s own address: loopback")
            return Arrival(Place("container", container), pkt)
        if not result.ok or att is None:
            raise self.container_no_route(container, pkt.dst)
        self.trace.hop("netns", f"{container.name} sends {pkt.describe()}: route {result.describe()}")
        next_hop = ip(result.gateway) if result.gateway else pkt.dst
        if att.kind in MACVLAN_KINDS:
            return self.macvlan_egress(container, att, pkt, next_hop)
        if not att.bridge:
            raise Stop(
                "uncertain",
                f"{container.name}'s {att.ifname} is not attached to a known bridge",
                facts={"container": container.name},
            )
        veth = att.host_veth or "?"
        self.trace.hop("link", f"{att.ifname} -> veth {veth} on bridge {att.bridge}")
        neighbour = self.neighbour_on_bridge(att.bridge, next_hop)
        if neighbour is not None:
            peer_att = self.attachment_on_bridge(neighbour, att.bridge)
            peer_veth = peer_att.host_veth if peer_att else "?"
            if pkt.family == "ip6":
                self.discovered(
                    lambda: ndp.check_bridged(self.ctx, pkt.src, next_hop, att.bridge, veth, peer_veth)
                )
            exit_ = self.stack.bridged(pkt, att.bridge, veth, peer_veth, conn)
            return self.arrive(exit_)
        if self.ctx.routing.is_local(next_hop) and self.ctx.routing.lookup(next_hop).kind == "local":
            if pkt.family == "ip6":
                self.discovered(lambda: ndp.check_to_host(self.ctx, pkt.src, next_hop, att.bridge, veth))
            return self.arrive(self.stack.from_iface(pkt, att.bridge, physdev_in=veth, conn=conn))
        raise Stop(
            "blocked",
            f"nothing on bridge {att.bridge} answers for {next_hop} (no container or host address)",
            missing="neighbour",
            facts={"dst": str(next_hop), "bridge": att.bridge},
        )

    def macvlan_egress(self, container: Container, att: object, pkt: Packet, next_hop: IPAddress) -> Arrival:
        from dockwire.verdict.namespaces import Attachment

        assert isinstance(att, Attachment)
        if self.ctx.routing.is_local(pkt.dst):
            raise Stop(
                "blocked",
                f"{container.name} is on {att.kind} network {att.network}: a {att.kind} child "
                "and its parent host cannot talk to each other",
                missing="macvlan-host",
                facts={"network": att.network, "parent": att.parent, "kind": att.kind},
            )
        owner = self.ctx.owner_by_ip.get(address_text(pkt.dst))
        if owner is not None:
            other = self.view(owner)
            if any(a.kind in MACVLAN_KINDS and a.network == att.network for a in other.attachments.values()):
                self.trace.hop(
                    "link",
                    f"{att.kind} {att.network}: switched to {owner.name} inside the driver "
                    "(the host's netfilter does not see it)",
                )
                return Arrival(Place("container", owner), pkt)
            raise Stop(
                "uncertain",
                f"{container.name} sends through {att.kind} parent {att.parent or '?'}; "
                f"whether it comes back to {owner.name} depends on the network outside the host",
                facts={"network": att.network},
            )
        self.trace.hop(
            "link",
            f"{att.kind} {att.network}: leaves through parent {att.parent or '?'} "
            "(the host's netfilter does not see it)",
        )
        return Arrival(Place("outside", address=pkt.dst, iface=att.parent), pkt)

    def neighbour_on_bridge(self, bridge: str, addr: IPAddress) -> Container | None:
        owner = self.ctx.owner_by_ip.get(address_text(addr))
        if owner is None or self.attachment_on_bridge(owner, bridge) is None:
            return None
        return owner

    def attachment_on_bridge(self, container: Container, bridge: str) -> Attachment | None:
        for att in self.view(container).attachments.values():
            if att.bridge == bridge:
                return att
        return None

    def arrive(self, exit_: Exit) -> Arrival:
        """Which namespace a packet leaving the host stack ends up in."""
        pkt = exit_.packet
        if exit_.kind == "local":
            self.trace.hop("deliver", f"delivered to the host ({pkt.describe()})")
            return Arrival(Place("host"), pkt)
        oif = exit_.oif
        next_hop = exit_.next_hop or pkt.dst
        if oif in self.ctx.bridge_names:
            owner = self.neighbour_on_bridge(oif, next_hop)
            if owner is None:
                raise Stop(
                    "blocked",
                    f"nothing on bridge {oif} has address {next_hop}",
                    missing="neighbour",
                    facts={"dst": str(next_hop), "bridge": oif},
                )
            if pkt.family == "ip6" and not exit_.physdev_out:  # routed onto the bridge by the host itself
                self.discover_from_host(oif, owner, next_hop)
            self.trace.hop("deliver", f"delivered to {owner.name} through {oif}")
            return Arrival(Place("container", owner), pkt)
        pair = self.ctx.veth_by_host.get(oif)
        if pair is not None and pair.container_id and pair.container_id in self.ctx.by_id:
            owner = self.ctx.by_id[pair.container_id]
            self.trace.hop("deliver", f"delivered to {owner.name} through veth {oif}")
            return Arrival(Place("container", owner), pkt)
        child = self.macvlan_child(oif, next_hop)
        if child is not None:
            container, att = child
            raise Stop(
                "blocked",
                f"the host sends it out of {oif}, the parent of {att.kind} network {att.network}; "
                f"a parent interface cannot reach its own {att.kind} children such as {container.name}",
                missing="macvlan-host",
                facts={"network": att.network, "parent": oif, "kind": att.kind, "container": container.name},
            )
        if self.beyond is not None:
            onward = self.beyond(self, exit_)
            if onward is not None:
                return onward
        self.trace.hop("deliver", f"leaves the host on {oif} towards {next_hop}")
        return Arrival(Place("outside", address=pkt.dst, iface=oif), pkt)

    def discovered(self, check: Callable[[], None]) -> None:
        """Run an IPv6 neighbour discovery check; when it stops the flow, path and rules met say so."""
        try:
            check()
        except Stop as stop:
            if stop.culprit is not None:
                self.trace.add_hits([stop.culprit])
            self.trace.hop("ndp", stop.reason)
            raise

    def discover_from_host(self, bridge: str, owner: Container, addr: IPAddress) -> None:
        host = self.ctx.host_address(bridge, 6)
        att = self.attachment_on_bridge(owner, bridge)
        if host is not None and att is not None:
            port = att.host_veth or "?"
            self.discovered(lambda: ndp.check_from_host(self.ctx, host, addr, bridge, port))

    def macvlan_child(self, parent: str, addr: IPAddress) -> tuple[Container, Attachment] | None:
        """The container with `addr` on a macvlan/ipvlan network whose parent is `parent`, if any."""
        owner = self.ctx.owner_by_ip.get(address_text(addr))
        if owner is None:
            return None
        for att in self.view(owner).attachments.values():
            own = addr in (att.address, att.address6)
            if att.kind in MACVLAN_KINDS and own and att.parent in (parent, ""):
                return owner, att
        return None

    # --- the whole flow ------------------------------------------------------------------------------

    def connection(self, origin: Place, pkt: Packet, label: str) -> tuple[Arrival, Packet]:
        """Follow one connection's first packet; returns where it arrived and the reply it will get."""
        self.trace.direction = label
        arrival = self.send(origin, pkt)
        return arrival, reply_to(arrival.packet)

    def answer(self, origin: Place, first: Packet, arrival: Arrival, label: str) -> None:
        """Follow the reply from where the request arrived back to `origin`."""
        self.trace.direction = label
        conn = Conn(first, arrival.packet)
        reply = reply_to(arrival.packet)
        check_reply(self.send(arrival.place, reply, conn), origin, first)

    def proxy(self, src_place: Place, dst_port: int, pkt: Packet, arrival: Arrival) -> Place:
        """A published port answered on the host: docker-proxy's own connection to the container."""
        bindings = [
            (c, b)
            for c, b in published_bindings(self.ctx, dst_port, pkt.proto)
            if _binding_listens_on(b, arrival.packet.dst)
        ]
        if not bindings:
            other = published_bindings(self.ctx, dst_port, pkt.proto)
            if other:
                c, b = other[0]
                raise Stop(
                    "blocked",
                    f"{pkt.proto}/{dst_port} is published by {c.name} only on "
                    f"{b.host_ip}, not on {arrival.packet.dst}",
                    missing="not-published",
                    facts={
                        "container": c.name,
                        "port": str(dst_port),
                        "host_ip": b.host_ip,
                        "proto": pkt.proto,
                    },
                )
            raise Stop(
                "blocked",
                f"no container publishes {pkt.proto}/{dst_port}; the packet reaches the host "
                "itself (whether a host process listens there is out of scope)",
                missing="not-published",
                facts={"port": str(dst_port), "proto": pkt.proto},
            )
        container, binding = bindings[0]
        engine = self.ctx.model.engine
        if engine is not None and engine.userland_proxy is False:
            raise Stop(
                "blocked",
                f"{pkt.proto}/{dst_port} is published by {container.name}, but no DNAT rule "
                "applies on this path and the userland proxy is disabled",
                missing="no-proxy",
                facts={"container": container.name, "port": str(dst_port)},
            )
        owner = self.ctx.owner(container)
        target_place = Place("container", owner)
        target_addr = self.pick_address(
            FlowEnd("container", container.name, container=owner), target_place, Place("host")
        )
        self.trace.hop(
            "proxy",
            f"docker-proxy listening on {binding.host_ip or '0.0.0.0'}:{dst_port}/{pkt.proto} "
            f"connects to {container.name} {target_addr}:{binding.container_port}",
        )
        inner = first_packet(
            str(self.source_address(Place("host"), target_addr)),
            str(target_addr),
            pkt.proto,
            binding.container_port,
        )
        inner_arrival, _ = self.connection(Place("host"), inner, "proxy request")
        if not inner_arrival.place.same(target_place):
            raise Stop(
                "uncertain",
                f"docker-proxy's connection ends at {inner_arrival.place.label()}, not {container.name}",
            )
        self.answer(Place("host"), inner, inner_arrival, "proxy reply")
        return target_place
