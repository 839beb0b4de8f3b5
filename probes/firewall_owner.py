"""Who put a table, chain or rule there: "docker", "user", "ufw", "firewalld", "dockwire" or "other".

Decided from names and rule shapes only (see /work/shared/docker-firewall.md for Docker's layouts):
- "dockwire": any rule whose comment starts with "dockwire", chains/tables named dockwire*/DOCKWIRE*.
- "docker": chains DOCKER and DOCKER-*, the nft tables docker-bridges and docker-dns, and Docker's rules in
  built-in chains (jumps to DOCKER*, MASQUERADE/SNAT of docker bridges, hairpin MASQUERADE, raw PREROUTING
  direct-access and loopback drops, the <=27 per-bridge FORWARD rules, 28.0.0's docker-ext-bridges rules).
- "user": the rules inside DOCKER-USER, and native nft tables that no known tool wrote (hand-written).
- "ufw": ufw-*/ufw6-* chains and jumps to them.
- "firewalld": firewalld tables, its iptables chains, and jumps to them.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable

from msgspec.structs import replace

from dockwire.model import Chain, Rule, Table

_DOCKER_BRIDGE = re.compile(r"(docker0|docker_gwbridge|br-[0-9a-f]{12})")
_DOCKER_NFT_TABLES = frozenset({"docker-bridges", "docker-dns"})
# Tables other tools create (not hand-written); left as "other".
_TOOL_NFT_TABLES = frozenset(
    {
        "libvirt_network",
        "kube-proxy",
        "netavark",
        "lxd",
        "incus",
        "cilium",
        "crowdsec",
        "crowdsec6",
        "fail2ban-table",
    }
)
# Table names iptables-nft uses (read from iptables-save normally; from nft only as a fallback).
_IPTABLES_TABLES = frozenset({"filter", "nat", "raw", "mangle", "security"})
_FIREWALLD_PREFIXES = ("IN_", "FWDI_", "FWDO_", "FWD_", "PRE_", "POST_", "OUT_", "FWD_IN_", "FWD_OUT_")


def is_docker_chain(name: str) -> bool:
    return name == "DOCKER" or name.startswith("DOCKER-")


def _is_dockwire_name(name: str) -> bool:
    return name.lower().startswith("dockwire")


def _is_ufw_chain(name: str) -> bool:
    return name.startswith(("ufw-", "ufw6-"))


def _is_firewalld_chain(name: str, firewalld_layout: bool) -> bool:
    if name.endswith("_direct") or "_ZONES" in name:
        return True
    return firewalld_layout and name.startswith(_FIREWALLD_PREFIXES)


def table_owner(table: Table) -> str:
    """Owner of a whole table: only native nftables tables belong to one party."""
    if table.source != "nftables":
        return "other"
    if _is_dockwire_name(table.name):
        return "dockwire"
    if table.name in _DOCKER_NFT_TABLES:
        return "docker"
    if table.name == "firewalld":
        return "firewalld"
    if table.name in _TOOL_NFT_TABLES or (table.family in ("ip", "ip6") and table.name in _IPTABLES_TABLES):
        return "other"
    return "user"


def chain_owner(table: Table, chain: Chain, firewalld_layout: bool = False) -> str:
    owner = table_owner(table)
    if owner != "other":
        return owner
    name = chain.name
    if _is_dockwire_name(name):
        return "dockwire"
    if is_docker_chain(name):
        return "docker"
    if _is_ufw_chain(name):
        return "ufw"
    if _is_firewalld_chain(name, firewalld_layout):
        return "firewalld"
    return "other"


class _Shape:
    """The few facts about a rule that ownership needs, for iptables and nft rules alike."""

    def __init__(self, rule: Rule) -> None:
        self.ifaces: list[tuple[str, bool]] = []  # (name, negated) of -i/-o
        self.in_ifaces: list[tuple[str, bool]] = []
        self.src = ""
        self.dst = ""
        self.other_options: set[str] = set()
        self.has_dport = False
        self.match_sets: list[str] = []
        for m in rule.matches:
            arg = m.args[0] if m.args else ""
            option = m.option
            if option in ("-i", "meta iifname", "-o", "meta oifname"):
                self.ifaces.append((arg, m.negated))
                if option in ("-i", "meta iifname"):
                    self.in_ifaces.append((arg, m.negated))
            elif option in ("-s", "ip saddr", "ip6 saddr") and not m.negated:
                self.src = arg
            elif option in ("-d", "ip daddr", "ip6 daddr") and not m.negated:
                self.dst = arg
            else:
                self.other_options.add(option)
            if option in ("--dport", "tcp dport", "udp dport", "sctp dport"):
                self.has_dport = True
            if option == "--match-set" and m.args:
                self.match_sets.append(m.args[0])


def is_docker_bridge(name: str, extra: Collection[str] = ()) -> bool:
    """docker0, br-<12 hex>, docker_gwbridge, or one of the extra names."""
    return name in extra or _DOCKER_BRIDGE.fullmatch(name) is not None


def _docker_builtin_rule(table: str, chain: str, rule: Rule, extra_bridges: Collection[str]) -> bool:
    """Docker's own rules in built-in chains, by their shapes."""

    def is_bridge(name: str) -> bool:
        return is_docker_bridge(name, extra_bridges)

    target = rule.target.name.upper() if rule.target else ""
    shape = _Shape(rule)
    bridge_refs = [name for name, _ in shape.ifaces if is_bridge(name)]
    if any(s.startswith("docker-ext-bridges") for s in shape.match_sets):  # 28.0.0
        return True
    if table == "nat" and chain == "POSTROUTING" and target in ("MASQUERADE", "SNAT"):
        if bridge_refs:
            return True
        # Hairpin MASQUERADE of a container talking to its own published port.
        return bool(shape.src) and shape.src == shape.dst and shape.src.endswith(("/32", "/128"))
    if table == "raw" and chain == "PREROUTING" and target in ("DROP", "ACCEPT"):
        if shape.dst and any(is_bridge(n) for n, _ in shape.in_ifaces):
            return True  # direct-access drop (and trusted-interface accept) for a container address
        loopback = shape.dst.startswith("127.") and ("lo", True) in shape.in_ifaces
        return loopback and shape.has_dport and target == "DROP"
    if table == "filter" and chain == "FORWARD" and target in ("ACCEPT", "DROP") and bridge_refs:
        # <=27: per-bridge rules straight in FORWARD; only interface and conntrack conditions.
        allowed = {"--ctstate", "--state", "ct state"}
        return len(bridge_refs) == len(shape.ifaces) and shape.other_options <= allowed
    return False


def rule_owner(
    table: Table,
    chain: Chain,
    rule: Rule,
    docker_bridges: Collection[str] = (),
    firewalld_layout: bool = False,
) -> str:
    """Owner of one rule; see the module docstring for the rules of thumb."""
    if rule.comment.lower().startswith("dockwire"):
        return "dockwire"
    owner = table_owner(table)
    if owner != "other":
        return owner
    if chain.name == "DOCKER-USER":
        bare_return = not rule.matches and rule.target is not None and rule.target.name == "RETURN"
        return "docker" if bare_return else "user"
    owner = chain_owner(table, chain, firewalld_layout)
    if owner != "other":
        return owner
    target = rule.target
    if target is not None and target.kind in ("jump", "goto"):
        if _is_dockwire_name(target.name):
            return "dockwire"
        if is_docker_chain(target.name):
            return "docker"
        if _is_ufw_chain(target.name):
            return "ufw"
        if _is_firewalld_chain(target.name, firewalld_layout):
            return "firewalld"
    if _docker_builtin_rule(table.name, chain.name, rule, docker_bridges):
        return "docker"
    return "other"


def assign_owners(tables: Iterable[Table], docker_bridges: Collection[str] = ()) -> list[Table]:
    """Copies of the tables with `owner` filled in on every table, chain and rule.

    `docker_bridges` adds bridge names Docker uses beyond docker0/br-<id12> (com.docker.network.bridge.name).
    """
    bridges = frozenset(docker_bridges)
    out: list[Table] = []
    for table in tables:
        firewalld_layout = any("_ZONES" in c.name for c in table.chains)
        chains = []
        for chain in table.chains:
            rules = [
                replace(r, owner=rule_owner(table, chain, r, bridges, firewalld_layout)) for r in chain.rules
            ]
            chains.append(replace(chain, owner=chain_owner(table, chain, firewalld_layout), rules=rules))
        out.append(replace(table, owner=table_owner(table), chains=chains))
    return out
