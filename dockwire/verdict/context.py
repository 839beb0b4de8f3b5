"""Everything the engine derives from a model once: compiled rules, routing tables and lookup indexes.

`context_for(model)` caches the last few contexts, so a matrix of thousands of verdicts compiles rules once,
and a model whose rules differ from a cached one's in their counters only takes over its compiled rules;
`forget_context(model)` drops one (a 10,000-rule context and what a matrix remembered in it: some 30 MB).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from dockwire.gc_paused import gc_paused
from dockwire.model import Container, HostModel, Interface, Network, VethPair
from dockwire.verdict.netfilter_eval import HookWalker
from dockwire.verdict.packet import IPAddress, ip
from dockwire.verdict.routing import RoutingTables, primary_address
from dockwire.verdict.ruleset import RuleSet, same_rules
from dockwire.verdict.values import address_predicate, parse_network, port_range
from dockwire.verdict.where import HostFacts

_CACHE: list[tuple[HostModel, EngineContext]] = []
_CACHE_SIZE = 4
_BUILDING = threading.Lock()


@dataclass
class EngineContext:
    model: HostModel
    ruleset: RuleSet
    routing: RoutingTables
    walker: HookWalker
    # br_netfilter passes bridged IPv4 to iptables: True, False, or None when not recorded.
    bridge_nf: bool | None
    # The same for bridged IPv6 and ip6tables (bridge-nf-call-ip6tables).
    bridge_nf6: bool | None = None
    veth_by_host: dict[str, VethPair] = field(default_factory=dict)
    veth_by_container: dict[tuple[str, str], VethPair] = field(default_factory=dict)
    by_id: dict[str, Container] = field(default_factory=dict)
    # Container IP (IPv4 or IPv6, as `str` writes it) -> the container owning the namespace with that address.
    owner_by_ip: dict[str, Container] = field(default_factory=dict)
    host_ifaces: dict[str, Interface] = field(default_factory=dict)
    container_routing: dict[str, RoutingTables] = field(default_factory=dict)
    # Container id -> its namespace view (dockwire.verdict.namespaces.ContainerView), built on first use.
    views: dict[str, Any] = field(default_factory=dict)
    # Names of the host's bridges: those of bridge networks and every recorded Linux bridge.
    bridge_names: frozenset[str] = frozenset()

    def owner(self, container: Container) -> Container:
        """The container whose network namespace `container` uses (itself unless container:X)."""
        seen = {container.id}
        while container.netns_owner:
            nxt = self.by_id.get(container.netns_owner)
            if nxt is None or nxt.id in seen:
                break
            seen.add(nxt.id)
            container = nxt
        return container

    def network(self, ident: str) -> Network | None:
        return self.model.network(ident)

    def routing_of(self, container: Container) -> RoutingTables:
        table = self.container_routing.get(container.id)
        if table is None:
            table = RoutingTables(container.routes, None, container.interfaces)
            self.container_routing[container.id] = table
        return table

    def host_address(self, dev: str, family: int = 4) -> IPAddress | None:
        iface = self.host_ifaces.get(dev)
        return primary_address([iface], dev, family) if iface is not None else None

    def bridge_nf_for(self, family: str) -> bool | None:
        """Whether bridged packets of `family` ("ip", "ip6") pass the iptables hooks (br_netfilter)."""
        return self.bridge_nf6 if family == "ip6" else self.bridge_nf


def _bridge_nf(model: HostModel, setting: int | None) -> bool | None:
    if not model.sysctls.br_netfilter_loaded:
        return False if "sysctls" not in model.stale else None
    return None if setting is None else setting == 1


def build_context(model: HostModel) -> EngineContext:
    routing = RoutingTables(model.host.routes, model.host.rules, model.host.interfaces)
    like = next((ctx.ruleset for cached, ctx in _CACHE if same_rules(cached.firewall, model.firewall)), None)
    with gc_paused():  # tens of thousands of closures, kept as long as the model
        ruleset = RuleSet(model.firewall, like)
    sysctls = model.sysctls
    bridge_nf = _bridge_nf(model, sysctls.bridge_nf_call_iptables)
    ctx = EngineContext(
        model=model,
        ruleset=ruleset,
        routing=routing,
        walker=HookWalker(ruleset, HostFacts(routing), model.host.interfaces),
        bridge_nf=bridge_nf,
        bridge_nf6=_bridge_nf(model, sysctls.bridge_nf_call_ip6tables),
    )
    for pair in model.veths:
        ctx.veth_by_host[pair.host_ifname] = pair
        if pair.container_id:
            ctx.veth_by_container[(pair.container_id, pair.container_ifname)] = pair
    ctx.by_id = {c.id: c for c in model.containers}
    ctx.host_ifaces = {i.name: i for i in model.host.interfaces}
    ctx.bridge_names = frozenset(
        [n.bridge for n in model.networks if n.bridge] + [b.name for b in model.bridges]
    )
    for c in model.containers:
        if c.netns_owner or c.network_mode == "host":
            continue
        for ep in c.endpoints:
            if ep.ip:
                ctx.owner_by_ip.setdefault(ep.ip, c)
            if ep.ipv6:
                ctx.owner_by_ip.setdefault(str(ip(ep.ipv6)), c)
    return ctx


def context_for(model: HostModel) -> EngineContext:
    """The (cached) engine context of a model. Threads asking at once wait for one build (the matrix and
    the highlighted cell's why each compiled 10,000 rules, and both contexts stayed cached)."""
    ctx = cached_context(model)
    if ctx is not None:
        return ctx
    with _BUILDING:
        ctx = cached_context(model)
        if ctx is None:
            ctx = build_context(model)
            _CACHE.insert(0, (model, ctx))
            del _CACHE[_CACHE_SIZE:]
    return ctx


def cached_context(model: HostModel) -> EngineContext | None:
    """The model's context if one is cached (never builds one)."""
    return next((ctx for cached_model, ctx in _CACHE if cached_model is model), None)


def forget_context(model: HostModel) -> None:
    """Drop the model's cached context; with the last one, the compile's memo of rule items too (their parsed
    addresses and ports: a few MB for 10,000 rules, refilled by the next compile)."""
    _CACHE[:] = [(m, ctx) for m, ctx in _CACHE if m is not model]
    if not _CACHE:
        for memo in (address_predicate, parse_network, port_range):
            memo.cache_clear()
