"""A flow across hosts: a packet that leaves one host for an address of another known host goes on there.

Each host is walked with its own model (`FlowFollower` on its own engine context); the packet crosses as it
left the first host (after its NAT, e.g. MASQUERADE to that host's address) and enters the next one on the
interface that holds the next hop (PREROUTING raw/mangle/nat, routing, FORWARD, delivery). Each host's
conntrack is its own: the reply is un-NATed on a host with what that host did to the request.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from dockwire.fleet import Fleet
from dockwire.verdict.context import context_for
from dockwire.verdict.crossing_fixes import Entry
from dockwire.verdict.endpoints import container_by_ip, host_addresses
from dockwire.verdict.fleet_ends import HostEnd
from dockwire.verdict.hostpath import Conn, Exit
from dockwire.verdict.notebook import Stop, Trace
from dockwire.verdict.packet import IPAddress, Packet, ipv4, reply_to
from dockwire.verdict.path import Arrival, FlowFollower, Place, check_reply

# More crossings than this on one packet's way is a routing loop between the hosts.
MAX_CROSSINGS = 8
# Parts of a host's model without which a packet cannot be followed through it.
HOST_PARTS = ("netlink", "firewall")


@dataclass
class Leg:
    """One host on a request's way: the packet as it entered and as it left (or arrived)."""

    host: str
    entered: Packet
    left: Packet | None = None

    def conn(self) -> Conn:
        return Conn(self.entered, self.left or self.entered)


def stamped(place: Place, host: str) -> Place:
    return place if place.host else replace(place, host=host)


class FleetWalk:
    """Follows one flow over several host models, writing into one Trace."""

    def __init__(self, fleet: Fleet, trace: Trace) -> None:
        self.fleet = fleet
        self.trace = trace
        self.followers: dict[str, FlowFollower] = {}
        self.legs: list[Leg] | None = None
        self.conns: dict[str, Conn] = {}
        self.crossings = 0
        # Host -> how the request came into it from another host.
        self.entries: dict[str, Entry] = {}

    def on(self, host: str) -> FlowFollower:
        """The follower of `host`, made current in the trace."""
        follower = self.followers.get(host)
        if follower is None:
            ctx = context_for(self.fleet.model(host))
            follower = FlowFollower(ctx, self.trace, host=host, beyond=self.cross)
            self.followers[host] = follower
        self.trace.host = host
        return follower

    def place_of(self, end: HostEnd, role: str) -> Place:
        return stamped(self.on(end.host).place_of(end.end, role), end.host)

    def send(self, origin: Place, pkt: Packet, conn: Conn | None = None) -> Arrival:
        arrival = self.on(origin.host).send(origin, pkt, conn)
        return Arrival(stamped(arrival.place, origin.host), arrival.packet)

    # --- from one host to the next -------------------------------------------------------------------

    def _host_with(self, addr: IPAddress, leaving: str) -> str | None:
        for name, model in self.fleet:
            if name != leaving and addr in host_addresses(model):
                return name
        return None

    def _host_owning(self, addr: IPAddress, leaving: str) -> str | None:
        """Another host whose container has `addr` (reached through a network dockwire does not see); read
        from the models, so no other host's rules are compiled to find it."""
        for name, model in self.fleet:
            if name != leaving and container_by_ip(model, str(addr)) is not None:
                return name
        return None

    def on_quietly(self, host: str) -> FlowFollower:
        current = self.trace.host
        follower = self.on(host)
        self.trace.host = current
        return follower

    def _iface_with(self, host: str, addr: IPAddress) -> str:
        for iface in self.fleet.model(host).host.interfaces:
            if any(a.family == addr.version and a.address == str(addr) for a in iface.addresses):
                return iface.name
        return ""

    def cross(self, leaving: FlowFollower, exit_: Exit) -> Arrival | None:
        """Go on with a packet that leaves `leaving`'s host, when its next hop or destination is another
        known host; None when it goes somewhere no model covers."""
        pkt = exit_.packet
        next_hop = exit_.next_hop or pkt.dst
        target = self._host_with(next_hop, leaving.host)
        iface = self._iface_with(target, next_hop) if target is not None else ""
        assumed = False
        if target is None:
            target = self._host_owning(pkt.dst, leaving.host)
            if target is None:
                return None
            assumed = True
            back = self.on_quietly(target).ctx.routing.lookup(pkt.src)
            iface = back.dev if back.ok else ""
        self.crossings += 1
        if self.crossings > MAX_CROSSINGS:
            raise Stop("uncertain", f"the packet goes round between hosts ({self.crossings} crossings)")
        self.trace.hop(
            "deliver", f"leaves host {leaving.host} on {exit_.oif} towards {next_hop} (host {target})"
        )
        model = self.fleet.model(target)
        unread = [part for part in HOST_PARTS if part in model.stale]
        self.trace.host = target
        if unread:
            raise Stop(
                "uncertain",
                f"the packet reaches host {target}, whose {unread[0]} could not be read "
                f"({model.stale[unread[0]]})",
                facts={"host": target},
            )
        how = (
            f"assumed the network between delivers it to host {target} (its next hop {next_hop} is no "
            "known host's)"
            if assumed
            else f"on {iface}"
        )
        self.trace.hop("link", f"arrives at host {target} {how}: {pkt.describe()}")
        if self.legs is not None:
            self.legs[-1].left = pkt
            self.legs.append(Leg(target, pkt))
            if self.trace.direction == "request":
                self.entries.setdefault(target, Entry(target, pkt, iface))
        follower = self.on(target)
        if not iface:
            raise Stop(
                "uncertain", f"host {target} has no interface towards {pkt.src}", facts={"host": target}
            )
        arrival = follower.arrive(follower.stack.from_iface(pkt, iface, conn=self.conns.get(target)))
        return Arrival(stamped(arrival.place, target), arrival.packet)

    # --- a connection: request, then reply --------------------------------------------------------------

    def connection(self, origin: Place, pkt: Packet, label: str) -> tuple[Arrival, list[Leg]]:
        """Follow a connection's first packet; returns where it arrived and each host it went through."""
        self.trace.direction = label
        self.legs = legs = [Leg(origin.host, pkt)]
        try:
            arrival = self.send(origin, pkt)
        finally:
            self.legs = None
        legs[-1].left = arrival.packet
        return arrival, legs

    def answer(self, origin: Place, first: Packet, arrival: Arrival, legs: list[Leg], label: str) -> None:
        """Follow the reply back to `origin`; each host undoes the NAT it did to the request."""
        self.trace.direction = label
        self.conns = {}
        for leg in legs:
            self.conns.setdefault(leg.host, leg.conn())
        try:
            back = self.send(arrival.place, reply_to(arrival.packet), self.conns.get(arrival.place.host))
        finally:
            self.conns = {}
        check_reply(back, origin, first)

    def address_of_host(self, host: str, seen_from: str) -> IPAddress:
        """The address of `host` a sender on `seen_from` uses: one its routing sends out, not to itself."""
        routing = self.on_quietly(seen_from).ctx.routing
        model = self.fleet.model(host)
        bridges = {b.name for b in model.bridges} | {n.bridge for n in model.networks if n.bridge}
        for iface in model.host.interfaces:
            if iface.name == "lo" or iface.name in bridges:
                continue
            for a in iface.addresses:
                if a.family != 4:
                    continue
                addr = ipv4(a.address)
                result = routing.lookup(addr)
                if result.ok and result.kind != "local":
                    return addr
        raise Stop(
            "blocked",
            f"host {seen_from} has no route to any address of host {host}",
            missing="route",
            facts={"host": seen_from},
        )


__all__ = ["FleetWalk", "Leg", "stamped"]
