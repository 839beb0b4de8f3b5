"""A packet's way through the host's network stack: netfilter hooks, routing decision, forwarding.

Three ways in: from an interface and routed (PREROUTING, routing, INPUT or FORWARD+POSTROUTING), bridged
between two ports of one bridge (br_netfilter hands it to PREROUTING, FORWARD, POSTROUTING), or sent by a
host process (OUTPUT, POSTROUTING, and back in through `lo` when it is for the host itself).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from dockwire.verdict.context import EngineContext
from dockwire.verdict.netfilter_eval import Hit, HookResult
from dockwire.verdict.notebook import HitRecord, Stop, Trace
from dockwire.verdict.packet import IPAddress, Packet, ip
from dockwire.verdict.routing import RouteResult
from dockwire.verdict.where import Where


@dataclass(frozen=True, slots=True)
class Conn:
    """A connection's NAT as conntrack remembers it: the first packet before and after translation."""

    before: Packet
    after: Packet

    def undo_snat(self, pkt: Packet) -> Packet:
        """Reply packets: give back the original source (as destination) where SNAT changed it."""
        if self.after.src != self.before.src and pkt.dst == self.after.src:
            return pkt.evolve(dst=self.before.src, dport=self.before.sport)
        return pkt

    def undo_dnat(self, pkt: Packet) -> Packet:
        """Reply packets: give back the original destination (as source) where DNAT changed it."""
        if (self.after.dst, self.after.dport) != (
            self.before.dst,
            self.before.dport,
        ) and pkt.src == self.after.dst:
            return pkt.evolve(src=self.before.dst, sport=self.before.dport)
        return pkt


@dataclass(frozen=True, slots=True)
class Exit:
    """Where a packet leaves the host stack: delivered locally, or sent out of an interface."""

    kind: str  # "local" or "iface"
    packet: Packet
    oif: str = ""
    next_hop: IPAddress | None = None
    physdev_out: str = ""


def _same(a: HookResult, b: HookResult) -> bool:
    return a.verdict == b.verdict and a.packet == b.packet


class HostStack:
    """Runs packets through the host stack of one engine context, writing into a Trace."""

    def __init__(self, ctx: EngineContext, trace: Trace) -> None:
        self.ctx = ctx
        self.trace = trace

    # --- hooks ----------------------------------------------------------------------------------------------

    def hook(
        self,
        where: Where,
        pkt: Packet,
        nat_point: Callable[[Packet], Packet] | None = None,
        family: str = "",
    ) -> Packet:
        """Run one hook (of the packet's own family unless `family` says "bridge"); return the packet as it
        leaves, or raise Stop (blocked / uncertain)."""
        family = family or pkt.family
        outcomes = self.ctx.walker.run(family, where, pkt, nat_point)
        first = outcomes[0]
        if any(not _same(first, other) for other in outcomes[1:]):
            unknown = [hit for o in outcomes for hit, _ in o.assumptions]
            rules = _unique_rules(unknown)
            verdicts = sorted({o.verdict for o in outcomes})
            raise Stop(
                "uncertain",
                f"at {where.hook.upper()} the outcome ({' or '.join(verdicts)}) depends on "
                f"{len(rules)} rule(s) dockwire cannot evaluate",
                unknown=rules,
            )
        self.trace.add_hits(first.hits)
        unknown_here = _unique_rules([hit for hit, _ in first.assumptions])
        if unknown_here:
            self.trace.harmless_unknowns.extend(
                HitRecord(self.trace.direction, h, self.trace.host) for h in unknown_here
            )
        label = f"{family} " if family != "ip" else ""
        if first.verdict == "UNKNOWN":
            culprit = first.culprit
            raise Stop(
                "uncertain",
                first.note or "a rule's action is not understood",
                unknown=[culprit] if culprit else [],
            )
        if first.verdict in ("DROP", "REJECT"):
            culprit = first.culprit
            assert culprit is not None
            what = "policy" if culprit.rule is None else "rule"
            self.trace.hop(
                "hook",
                f"{label}{where.describe()}: {first.verdict} by {what} "
                f"{culprit.chain.table.name}/{culprit.chain.chain.name}",
            )
            verb = "rejected" if first.verdict == "REJECT" else "dropped"
            raise Stop(
                "blocked", f"{verb} at {where.hook.upper()} by {_describe_hit(culprit)}", culprit=culprit
            )
        self.trace.hop("hook", f"{label}{where.describe()}: ACCEPT")
        for hit in first.nat:
            self.trace.hop("nat", f"{hit.effect} ({_describe_hit(hit)})")
        return first.packet

    # --- routing ----------------------------------------------------------------------------------------

    def route(self, pkt: Packet, iif: str = "") -> RouteResult:
        result = self.ctx.routing.lookup(pkt.dst, pkt.src, iif, pkt.mark)
        if result.mark_dependent:
            self.trace.note("a policy routing rule depends on the packet mark, which is not known here")
        return result

    def _no_route(self, pkt: Packet, result: RouteResult, where: str) -> Stop:
        if result.kind == "none":
            return Stop(
                "blocked",
                f"the host has no route to {pkt.dst} ({where})",
                missing="route",
                facts={"dst": str(pkt.dst)},
            )
        return Stop(
            "blocked",
            f"the host routes {pkt.dst} to {result.kind} ({result.describe()})",
            missing="route",
            facts={"dst": str(pkt.dst), "route": result.describe()},
        )

    def _check_forwarding(self, pkt: Packet) -> None:
        sysctls = self.ctx.model.sysctls
        v6 = pkt.family == "ip6"
        forward = sysctls.ipv6_forwarding if v6 else sysctls.ip_forward
        name = "net.ipv6.conf.all.forwarding" if v6 else "net.ipv4.ip_forward"
        if forward == 1:
            return
        if forward is None:
            raise Stop("uncertain", f"{name} was not recorded; the packet must be forwarded")
        family = "IPv6 " if v6 else ""
        raise Stop(
            "blocked",
            f"{name}=0: the host does not forward {family}packets between interfaces",
            missing="ipv6_forwarding" if v6 else "ip_forward",
        )

    def _check_ipv6_enabled(self, pkt: Packet, *devs: str) -> None:
        """An interface with disable_ipv6=1 neither takes nor sends IPv6 packets."""
        if pkt.family != "ip6":
            return
        sysctls = self.ctx.model.sysctls
        for dev in devs:
            if dev and sysctls.ipv6_disabled(dev):
                raise Stop(
                    "blocked",
                    f"IPv6 is disabled on {dev} (net.ipv6.conf.{dev}.disable_ipv6=1): it drops IPv6 packets",
                    missing="disable_ipv6",
                    facts={"dev": dev},
                )

    def _check_rp_filter(self, pkt: Packet, iif: str) -> None:
        if pkt.family == "ip6":
            return  # rp_filter is IPv4's; IPv6 checks the reverse path only by a rule (rpfilter, fib)
        rp = self.ctx.model.sysctls.rp_filter
        mode = max(rp.get("all", 0), rp.get(iif, 0))
        if mode != 1:
            return
        back = self.ctx.routing.lookup(pkt.src, None, "", pkt.mark)
        if back.ok and back.kind != "local" and back.dev and back.dev != iif:
            raise Stop(
                "blocked",
                f"strict reverse-path filter on {iif}: replies to {pkt.src} would leave by {back.dev}",
                missing="rp_filter",
                facts={"iface": iif},
            )

    def _check_route_localnet(self, pkt: Packet, oif: str) -> None:
        """A 127.x source may leave by another interface than lo only with route_localnet=1 there."""
        if oif == "lo" or not pkt.src.is_loopback or pkt.family == "ip6":
            return
        values = self.ctx.model.sysctls.route_localnet
        if values.get(oif, values.get("all", 0)) == 1 or values.get("all", 0) == 1:
            return
        raise Stop(
            "blocked",
            f"a packet from {pkt.src} would leave by {oif}, and route_localnet is off there",
            missing="route_localnet",
            facts={"iface": oif},
        )

    # --- ways through the host -----------------------------------------------------------------------------

    def from_iface(
        self,
        pkt: Packet,
        iif: str,
        physdev_in: str = "",
        conn: Conn | None = None,
        skip_prerouting: bool = False,
    ) -> Exit:
        """A packet arriving on `iif` (a bridge, when it came from a container's veth) and routed."""
        arrived = pkt
        if not skip_prerouting:
            pkt = self.hook(
                Where("prerouting", iif=iif, physdev_in=physdev_in), pkt, conn.undo_snat if conn else None
            )
        result = self.route(pkt, iif)
        self.trace.hop("route", f"host routing: {pkt.dst} -> {result.describe()}")
        if result.kind in ("local", "broadcast"):
            pkt = self.hook(
                Where("input", iif=iif, physdev_in=physdev_in), pkt, conn.undo_dnat if conn else None
            )
            return Exit("local", pkt, oif="lo")
        if not result.ok:
            raise self._no_route(pkt, result, f"arriving on {iif}")
        self._check_forwarding(pkt)
        self._check_ipv6_enabled(pkt, iif, result.dev)
        self._check_rp_filter(pkt, iif)
        if pkt is not arrived and conn is None:
            self.trace.detour(arrived, pkt, Where("input", iif=iif, physdev_in=physdev_in))
        oif = result.dev
        pkt = self.hook(Where("forward", iif=iif, oif=oif, physdev_in=physdev_in), pkt)
        pkt = self.hook(Where("postrouting", iif=iif, oif=oif), pkt, conn.undo_dnat if conn else None)
        next_hop = ip(result.gateway) if result.gateway else pkt.dst
        return Exit("iface", pkt, oif=oif, next_hop=next_hop)

    def bridged(
        self, pkt: Packet, bridge: str, port_in: str, port_out: str, conn: Conn | None = None
    ) -> Exit:
        """A frame between two ports of one bridge; netfilter sees it only through br_netfilter."""
        bridge_chains = any(
            self.ctx.ruleset.base_chains("bridge", h) for h in ("prerouting", "forward", "postrouting")
        )
        if bridge_chains:
            for hook in ("prerouting", "forward", "postrouting"):
                pkt = self.hook(
                    Where(
                        hook,
                        iif=port_in if hook != "postrouting" else "",
                        oif=port_out if hook != "prerouting" else "",
                        bridge=bridge,
                        physdev_in=port_in,
                        physdev_out=port_out,
                        bridged=True,
                    ),
                    pkt,
                    family="bridge",
                )
        nf = self.ctx.bridge_nf_for(pkt.family)
        if nf is False:
            self.trace.hop("bridge", f"bridged on {bridge}: br_netfilter off, iptables does not see it")
            return Exit("iface", pkt, oif=bridge, next_hop=pkt.dst, physdev_out=port_out)
        if nf is None:
            self.trace.note(
                "whether br_netfilter passes bridged traffic to iptables was not recorded; "
                "assumed it does (Docker turns it on)"
            )
        self.trace.hop(
            "bridge", f"bridged on {bridge} ({port_in} -> {port_out}); br_netfilter hands it to iptables"
        )
        before = pkt
        pkt = self.hook(
            Where("prerouting", iif=bridge, physdev_in=port_in), pkt, conn.undo_snat if conn else None
        )
        if pkt.dst != before.dst:
            # DNAT on a bridged frame: br_netfilter routes it instead.
            self.trace.hop("route", f"destination rewritten to {pkt.dst}: routed instead of bridged")
            return self.from_iface(pkt, bridge, port_in, conn, skip_prerouting=True)
        pkt = self.hook(
            Where("forward", iif=bridge, oif=bridge, physdev_in=port_in, physdev_out=port_out, bridged=True),
            pkt,
        )
        pkt = self.hook(
            Where("postrouting", oif=bridge, physdev_out=port_out), pkt, conn.undo_dnat if conn else None
        )
        return Exit("iface", pkt, oif=bridge, next_hop=pkt.dst, physdev_out=port_out)

    def from_host(self, pkt: Packet, conn: Conn | None = None) -> Exit:
        """A packet sent by a process on the host."""
        result = self.route(pkt)
        if not result.ok:
            raise self._no_route(pkt, result, "from the host")
        oif = "lo" if result.kind == "local" else result.dev
        self.trace.hop("route", f"host routing: {pkt.dst} -> {result.describe()}")
        before = pkt
        pkt = self.hook(Where("output", oif=oif), pkt, conn.undo_snat if conn else None)
        if (pkt.dst, pkt.mark) != (before.dst, before.mark):
            result = self.route(pkt)
            if not result.ok:
                raise self._no_route(pkt, result, "after OUTPUT")
            oif = "lo" if result.kind == "local" else result.dev
            self.trace.hop("route", f"rerouted: {pkt.dst} -> {result.describe()}")
        self._check_route_localnet(before, oif)
        pkt = self.hook(Where("postrouting", oif=oif), pkt, conn.undo_dnat if conn else None)
        if oif == "lo" or result.kind == "local":
            pkt = self.hook(Where("prerouting", iif="lo"), pkt)
            pkt = self.hook(Where("input", iif="lo"), pkt)
            return Exit("local", pkt, oif="lo")
        next_hop = ip(result.gateway) if result.gateway else pkt.dst
        return Exit("iface", pkt, oif=oif, next_hop=next_hop)


def _unique_rules(hits: list[Hit]) -> list[Hit]:
    seen: set[int] = set()
    out = []
    for hit in hits:
        key = id(hit.rule) if hit.rule is not None else id(hit.chain)
        if key not in seen:
            seen.add(key)
            out.append(hit)
    return out


def _describe_hit(hit: Hit) -> str:
    table = hit.chain.table
    family = "" if table.family == "ip" else f"{table.family} "
    where = f"{family}{table.name} {hit.chain.chain.name}"
    if hit.rule is None:
        return f"the policy of {where}"
    return f"{where} rule {hit.rule.rule.position}: {hit.rule.rule.text}"
