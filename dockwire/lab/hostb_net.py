"""The wire between host A (this host) and host B: the namespace, the veth pair, the static routes and the
FORWARD accepts of the classic two-host recipe.

Nothing here can carry a Docker label, so the lab knows its objects by their fixed names (namespace, veth),
their exact destination and gateway (routes) and the comment `second_host.RULE_COMMENT` (rules). Rules are
found in the whole `iptables-save` output of either host and deleted one by one by their exact spec.
"""

from __future__ import annotations

import itertools
import shlex
from dataclasses import dataclass
from typing import Any

from dockwire.lab import outside
from dockwire.lab.hostb_proc import in_hostb, run
from dockwire.lab.outside import ip, ip_json
from dockwire.lab.report import LabObject
from dockwire.lab.second_host import (
    A_ADDR,
    A_IF,
    B_ADDR,
    B_IF,
    B_SUBNET,
    LINK_SUBNET,
    NETNS,
    PREFIXLEN,
    RULE_COMMENT,
    SCENARIO,
)

HOSTS = ("hosta", "hostb")


# --- namespace and veth ---------------------------------------------------------------------------------


def netns_exists() -> bool:
    return outside.netns_exists(NETNS)


def _has_addr(link: list[dict[str, Any]], addr: str) -> bool:
    want = (addr, PREFIXLEN)
    return any((a.get("local"), a.get("prefixlen")) == want for e in link for a in e.get("addr_info", []))


def link_healthy() -> bool:
    if not netns_exists():
        return False
    host, inner = ip_json("addr", "show", "dev", A_IF), ip_json("-n", NETNS, "addr", "show", "dev", B_IF)
    up = bool(host) and "UP" in host[0].get("flags", []) and bool(inner) and "UP" in inner[0].get("flags", [])
    return up and _has_addr(host, A_ADDR) and _has_addr(inner, B_ADDR)


def _link_objects(ns_state: str, if_state: str) -> list[LabObject]:
    return [
        LabObject("netns", NETNS, ns_state, SCENARIO, f"host B: {B_IF} {B_ADDR}/{PREFIXLEN}"),
        LabObject("veth", A_IF, if_state, SCENARIO, f"{A_ADDR}/{PREFIXLEN} <-> {NETNS}:{B_IF}"),
    ]


def ensure_link() -> list[LabObject]:
    """Keep a healthy namespace and veth, else make them afresh (stop B's daemons first: they hold it)."""
    if link_healthy():
        return _link_objects("reused", "reused")
    existed = netns_exists() or bool(ip_json("link", "show", "dev", A_IF))
    remove_link()
    ip("netns", "add", NETNS)
    ip("link", "add", A_IF, "type", "veth", "peer", "name", B_IF, "netns", NETNS)
    ip("addr", "add", f"{A_ADDR}/{PREFIXLEN}", "dev", A_IF)
    ip("link", "set", A_IF, "up")
    ip("-n", NETNS, "link", "set", "lo", "up")
    ip("-n", NETNS, "addr", "add", f"{B_ADDR}/{PREFIXLEN}", "dev", B_IF)
    ip("-n", NETNS, "link", "set", B_IF, "up")
    state = "recreated" if existed else "created"
    return _link_objects(state, state)


def remove_link() -> list[LabObject]:
    had_link = bool(ip_json("link", "show", "dev", A_IF))
    ns_state = "absent"
    if netns_exists():
        ip("netns", "delete", NETNS)
        ns_state = "removed"
    if ip_json("link", "show", "dev", A_IF):  # left when its peer never reached the namespace
        ip("link", "delete", A_IF)
    return _link_objects(ns_state, "removed" if had_link else "absent")


def link_status() -> list[LabObject]:
    host = ip_json("link", "show", "dev", A_IF)
    veth = ("up" if "UP" in host[0].get("flags", []) else "down") if host else "missing"
    return _link_objects("present" if netns_exists() else "missing", veth)


# --- routes ---------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Route:
    host: str  # "hosta" or "hostb"
    dst: str
    via: str

    @property
    def name(self) -> str:
        return f"{self.host}:{self.dst}"

    def ip_args(self, verb: str) -> list[str]:
        """`ip` arguments that add or delete exactly this route."""
        netns = ["-n", NETNS] if self.host == "hostb" else []
        dev = A_IF if self.host == "hosta" else B_IF
        return [*netns, "route", verb, self.dst, "via", self.via, "dev", dev]


def _ip_route(route: Route, verb: str, check: bool = True) -> None:
    ip(*route.ip_args(verb), check=check)


def wanted_routes(a_subnet: str) -> list[Route]:
    """A reaches B's containers via B's link address, B reaches A's via A's."""
    return [Route("hosta", B_SUBNET, B_ADDR), Route("hostb", a_subnet, A_ADDR)]


def present_routes() -> list[Route]:
    """The routes this scenario may have added: through the veth, via the other host's link address."""
    found = [Route("hosta", r["dst"], B_ADDR) for r in ip_json("route", "show", "via", B_ADDR, "dev", A_IF)]
    if netns_exists():
        inner = ip_json("-n", NETNS, "route", "show", "via", A_ADDR, "dev", B_IF)
        found += [Route("hostb", r["dst"], A_ADDR) for r in inner]
    return found


def _route_object(route: Route, state: str) -> LabObject:
    where = f"dev {A_IF} (host A)" if route.host == "hosta" else f"in {NETNS} (host B)"
    return LabObject("route", route.name, state, SCENARIO, f"via {route.via} {where}")


def ensure_routes(a_subnet: str) -> list[LabObject]:
    want, have = wanted_routes(a_subnet), present_routes()
    for stale in set(have) - set(want):
        _ip_route(stale, "del", check=False)
    objects = []
    for route in want:
        if route not in have:
            _ip_route(route, "add")
        objects.append(_route_object(route, "reused" if route in have else "created"))
    return objects


def remove_routes() -> list[LabObject]:
    removed = []
    for route in present_routes():
        _ip_route(route, "del", check=False)
        removed.append(_route_object(route, "removed"))
    return removed


def route_status(a_subnet: str) -> list[LabObject]:
    have = present_routes()
    return [_route_object(r, "present" if r in have else "missing") for r in wanted_routes(a_subnet)]


# --- FORWARD accepts ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rule:
    host: str
    table: str
    chain: str
    spec: tuple[str, ...]

    @property
    def name(self) -> str:
        return f"{self.host}:{self.chain}/{RULE_COMMENT}"


def _iptables(host: str, *args: str, check: bool = True) -> str:
    argv = ["iptables", "-w", "5", *args]
    return run(in_hostb(*argv) if host == "hostb" else argv, check=check).stdout


def _saved(host: str) -> list[Rule]:
    """Every rule of HOST's ruleset, in order, as (table, chain, spec tokens)."""
    argv = in_hostb("iptables-save") if host == "hostb" else ["iptables-save"]
    rules, table = [], ""
    for line in run(argv).stdout.splitlines():
        if line.startswith("*"):
            table = line[1:].strip()
        elif line.startswith("-A "):
            tokens = shlex.split(line)
            rules.append(Rule(host, table, tokens[1], tuple(tokens[2:])))
    return rules


def _is_ours(rule: Rule) -> bool:
    return any(a == "--comment" and b == RULE_COMMENT for a, b in itertools.pairwise(rule.spec))


def lab_rules(host: str) -> list[Rule]:
    """HOST's rules carrying the scenario's comment, in any table and chain."""
    if host == "hostb" and not netns_exists():
        return []
    return [r for r in _saved(host) if _is_ours(r)]


def wanted_rule(host: str, link_subnet: str = LINK_SUBNET) -> Rule:
    """The classic accept for traffic from the other host, as iptables-save prints it: the other host
    masquerades its containers, so their packets arrive from its address on the hosts' link."""
    spec = ("-s", link_subnet, "-m", "comment", "--comment", RULE_COMMENT, "-j", "ACCEPT")
    return Rule(host, "filter", "FORWARD", spec)


def _after_docker(host: str, rule: Rule) -> bool:
    """Whether RULE sits after Docker's jumps in FORWARD (where an appended rule lands)."""
    forward = [r.spec for r in _saved(host) if r.table == "filter" and r.chain == "FORWARD"]
    jumps = [i for i, spec in enumerate(forward) if spec[:1] == ("-j",) and spec[1].startswith("DOCKER")]
    return rule.spec in forward and forward.index(rule.spec) > max(jumps, default=-1)


def _describe(rule: Rule) -> str:
    return f"-A {rule.chain} {shlex.join(rule.spec)} (appended)"


def ensure_rules() -> list[LabObject]:
    objects = []
    for host in HOSTS:
        want, have = wanted_rule(host), lab_rules(host)
        if have == [want] and _after_docker(host, want):
            objects.append(LabObject("rule", want.name, "reused", SCENARIO, _describe(want)))
            continue
        for rule in have:
            _iptables(host, "-t", rule.table, "-D", rule.chain, *rule.spec)
        _iptables(host, "-t", want.table, "-A", want.chain, *want.spec)
        state = "recreated" if have else "created"
        objects.append(LabObject("rule", want.name, state, SCENARIO, _describe(want)))
    return objects


def remove_rules() -> list[LabObject]:
    objects = []
    for host in HOSTS:
        found = lab_rules(host)
        for rule in found:
            _iptables(host, "-t", rule.table, "-D", rule.chain, *rule.spec)
            objects.append(LabObject("rule", rule.name, "removed", SCENARIO, _describe(rule)))
        if not found:
            objects.append(LabObject("rule", f"{host}:FORWARD/{RULE_COMMENT}", "absent", SCENARIO))
    return objects


def rule_status() -> list[LabObject]:
    objects = []
    for host in HOSTS:
        want, have = wanted_rule(host), lab_rules(host)
        state = "present" if have == [want] else ("missing" if not have else f"stale x{len(have)}")
        objects.append(LabObject("rule", want.name, state, SCENARIO, _describe(want)))
    return objects
