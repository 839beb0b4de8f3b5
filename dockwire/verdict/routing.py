"""Routing decisions from recorded tables: where a packet leaves a namespace, which addresses are local."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_network

from dockwire.model import Interface, Route, RoutingRule
from dockwire.verdict.packet import IPAddress, ip

IPNetwork = IPv4Network | IPv6Network

LOCAL_TABLE, MAIN_TABLE, DEFAULT_TABLE = 255, 254, 253
# Lookups remembered per table (a matrix asks the same few thousand again and again); cleared when full.
MAX_REMEMBERED = 65536
LOOPBACK_NET = IPv4Network("127.0.0.0/8")
LOOPBACK6 = IPv6Address("::1")
ANY: dict[int, IPNetwork] = {4: IPv4Network("0.0.0.0/0"), 6: IPv6Network("::/0")}
UNROUTABLE_TYPES = ("blackhole", "unreachable", "prohibit")
# The policy rules of a namespace nobody changed: local, main, default.
DEFAULT_RULES = (
    RoutingRule(priority=0, table=LOCAL_TABLE),
    RoutingRule(priority=32766, table=MAIN_TABLE),
    RoutingRule(priority=32767, table=DEFAULT_TABLE),
)


def is_loopback(addr: IPAddress) -> bool:
    """127.0.0.0/8 or ::1."""
    return addr in LOOPBACK_NET if addr.version == 4 else addr == LOOPBACK6


@lru_cache(maxsize=4096)
def network_of(text: str, family: int = 4) -> IPNetwork | None:
    """A network of `family` (4 or 6) from route/rule text ("default", "10.0.0.0/8", "fd00::/64"); None for
    the other family or junk."""
    if text in ("", "default"):
        return ANY[family]
    try:
        net = ip_network(text, strict=False)
    except ValueError:
        return None
    return net if net.version == family else None


@dataclass(frozen=True, slots=True)
class RouteResult:
    """The outcome of one lookup: where the packet goes and why."""

    kind: str  # "local", "unicast", "broadcast", "blackhole", "unreachable", "prohibit", "none"
    dev: str = ""
    gateway: str = ""
    prefsrc: str = ""
    route: Route | None = None
    table: int = MAIN_TABLE
    # A policy rule depended on a packet mark that is not known: the lookup may be wrong.
    mark_dependent: bool = False

    @property
    def ok(self) -> bool:
        return self.kind in ("local", "unicast", "broadcast")

    def describe(self) -> str:
        if self.kind == "none":
            return "no route"
        if self.route is None:
            return self.kind
        parts = [self.route.dst or "default"]
        if self.gateway:
            parts.append(f"via {self.gateway}")
        if self.dev:
            parts.append(f"dev {self.dev}")
        if self.kind != "unicast":
            parts.insert(0, self.kind)
        if self.table not in (MAIN_TABLE, LOCAL_TABLE):
            parts.append(f"table {self.table}")
        return " ".join(parts)


class RoutingTables:
    """One namespace's IPv4 and IPv6 routes and policy rules, indexed for lookups (a lookup uses the tables
    of its destination's family)."""

    def __init__(
        self,
        routes: list[Route],
        rules: list[RoutingRule] | None = None,
        interfaces: list[Interface] | None = None,
    ) -> None:
        # (family, table) -> (network, route), longest prefix first.
        self.tables: dict[tuple[int, int], list[tuple[IPNetwork, Route]]] = {}
        for route in routes:
            net = network_of(route.dst, route.family)
            if net is None:
                continue
            self.tables.setdefault((route.family, route.table), []).append((net, route))
        for entries in self.tables.values():
            entries.sort(key=lambda e: (-e[0].prefixlen, e[1].metric or 0))
        self.rules = {
            family: sorted((r for r in rules or [] if r.family == family), key=lambda r: r.priority)
            for family in (4, 6)
        }
        self.local_addresses: set[IPAddress] = set()
        for iface in interfaces or []:
            for addr in iface.addresses:
                self.local_addresses.add(ip(addr.address))
        local_entries = self.tables.get((4, LOCAL_TABLE), []) + self.tables.get((6, LOCAL_TABLE), [])
        for net, route in local_entries:
            if route.type == "local" and net.prefixlen == net.max_prefixlen:
                self.local_addresses.add(net.network_address)
        self.local_nets = [net for net, r in local_entries if r.type == "local"]
        self.broadcasts = {net.network_address for net, r in local_entries if r.type == "broadcast"}
        # A lookup reads the source, input interface and mark only through policy rules that name them, so
        # remembered results are keyed by those only when some rule does.
        every = self.rules[4] + self.rules[6]
        self._by_src = any(r.src for r in every)
        self._by_iif = any(r.iif for r in every)
        self._by_mark = any(r.fwmark for r in every)
        self._lookups: dict[tuple[object, ...], RouteResult] = {}
        self._types: dict[IPAddress, str] = {}

    def is_local(self, addr: IPAddress) -> bool:
        if addr in self.local_addresses or is_loopback(addr):
            return True
        return any(addr in net for net in self.local_nets)

    def addr_type(self, addr: IPAddress) -> str:
        """The kernel's address type (as `-m addrtype` names it) of `addr` in this namespace."""
        found = self._types.get(addr)
        if found is None:
            if len(self._types) >= MAX_REMEMBERED:
                self._types.clear()
            found = self._types[addr] = self._addr_type(addr)
        return found

    def _addr_type(self, addr: IPAddress) -> str:
        if self.is_local(addr):
            return "LOCAL"
        if addr.is_multicast:
            return "MULTICAST"
        if addr == IPv4Address("255.255.255.255") or addr in self.broadcasts:
            return "BROADCAST"
        if addr.is_unspecified:
            return "UNSPEC"
        return "UNICAST"

    def _in_table(self, table: int, dst: IPAddress) -> tuple[IPNetwork, Route] | None:
        for net, route in self.tables.get((dst.version, table), []):
            if dst in net:
                return net, route
        return None

    def lookup(
        self, dst: IPAddress, src: IPAddress | None = None, iif: str = "", mark: int | None = 0
    ) -> RouteResult:
        """The route the kernel would pick for `dst` (policy rules, then longest prefix per table)."""
        key = (
            dst,
            src if self._by_src else None,
            iif if self._by_iif else "",
            mark if self._by_mark else 0,
        )
        found = self._lookups.get(key)
        if found is None:
            if len(self._lookups) >= MAX_REMEMBERED:
                self._lookups.clear()
            found = self._lookups[key] = self._lookup(dst, src, iif, mark)
        return found

    def _lookup(self, dst: IPAddress, src: IPAddress | None, iif: str, mark: int | None) -> RouteResult:
        family = dst.version
        rules = self.rules[family] or DEFAULT_RULES
        mark_dependent = False
        for rule in rules:
            if rule.src and (src is None or src not in (network_of(rule.src, family) or ANY[family])):
                continue
            if rule.dst and dst not in (network_of(rule.dst, family) or ANY[family]):
                continue
            if rule.iif and rule.iif != (iif or "lo"):
                continue
            if rule.fwmark:
                if mark is None:
                    mark_dependent = True
                    continue
                value = int(rule.fwmark.split("/")[0], 0)
                if mark != value:
                    continue
            if rule.action in UNROUTABLE_TYPES:
                return RouteResult(kind=rule.action, table=rule.table, mark_dependent=mark_dependent)
            if rule.action != "lookup":
                continue
            found = self._in_table(rule.table, dst)
            if found is None:
                continue
            _, route = found
            if route.type == "throw":
                continue
            kind = route.type if route.type in ("local", "broadcast", *UNROUTABLE_TYPES) else "unicast"
            return RouteResult(
                kind=kind,
                dev=route.dev,
                gateway=route.gateway,
                prefsrc=route.prefsrc,
                route=route,
                table=rule.table,
                mark_dependent=mark_dependent,
            )
        if self.is_local(dst):
            return RouteResult(kind="local", dev="lo", table=LOCAL_TABLE)
        return RouteResult(kind="none", mark_dependent=mark_dependent)

    def source_for(
        self, result: RouteResult, interfaces: list[Interface], family: int = 4
    ) -> IPAddress | None:
        """The source address the kernel picks for a packet of `family` sent along `result`."""
        if result.prefsrc:
            return ip(result.prefsrc)
        return primary_address(interfaces, result.dev, family)


def primary_address(interfaces: list[Interface], name: str, family: int = 4) -> IPAddress | None:
    """The first address of `family` on interface `name`; for IPv6 its first global one (not fe80::/10)."""
    for iface in interfaces:
        if iface.name != name:
            continue
        for a in iface.addresses:
            if a.family == family and not (family == 6 and ip(a.address).is_link_local):
                return ip(a.address)
    return None
