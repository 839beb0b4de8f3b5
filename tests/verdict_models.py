"""Edits of recorded models for verdict tests: add one rule (parsed by the real parser), swap the firewall."""

from __future__ import annotations

import msgspec

from dockwire.model import Firewall, HostModel, Table
from dockwire.probes.firewall_owner import assign_owners
from dockwire.probes.iptables_save import build_rule


def with_rule(
    model: HostModel,
    table: str,
    chain: str,
    text: str,
    position: int = 1,
    source: str = "iptables-nft",
    family: str = "ip",
) -> HostModel:
    """`model` with an iptables rule (as iptables-save prints it) inserted at `position` of table/chain
    (`family` "ip6": of the ip6tables table)."""
    tables = []
    for t in model.firewall.tables:
        if t.name == table and t.family == family and t.source == source:
            names = {c.name for c in t.chains}
            chains = []
            for c in t.chains:
                if c.name == chain:
                    rules = list(c.rules)
                    rules.insert(position - 1, build_rule(table, position, text, names))
                    rules = [msgspec.structs.replace(r, position=i) for i, r in enumerate(rules, 1)]
                    c = msgspec.structs.replace(c, rules=rules)
                chains.append(c)
            t = msgspec.structs.replace(t, chains=chains)
        tables.append(t)
    return with_tables(model, tables)


def with_policy(
    model: HostModel, table: str, chain: str, policy: str, family: str = "ip", source: str = "iptables-nft"
) -> HostModel:
    """`model` with the policy of a built-in chain set (`ip6tables -P CHAIN DROP` for family "ip6")."""
    tables = []
    for t in model.firewall.tables:
        if t.name == table and t.family == family and t.source == source:
            chains = [msgspec.structs.replace(c, policy=policy) if c.name == chain else c for c in t.chains]
            t = msgspec.structs.replace(t, chains=chains)
        tables.append(t)
    return with_tables(model, tables)


def with_tables(model: HostModel, tables: list[Table], backend: str | None = None) -> HostModel:
    """`model` with its firewall tables replaced (owners assigned as the probe does)."""
    firewall = Firewall(
        iptables_backend=model.firewall.iptables_backend if backend is None else backend,
        tables=assign_owners(tables, [b.name for b in model.bridges]),
        ipsets=model.firewall.ipsets,
    )
    return msgspec.structs.replace(model, firewall=firewall)


def with_counters_moved(model: HostModel, packets: int) -> HostModel:
    """`model` with every rule's and base chain's counters raised by `packets` (60 bytes each): what the next
    poll of a busy host reads, its rules the same."""
    replace = msgspec.structs.replace
    tables = [
        replace(
            t,
            chains=[
                replace(
                    c,
                    packets=c.packets + packets if c.builtin else c.packets,
                    rules=[
                        replace(r, packets=r.packets + packets, bytes=r.bytes + 60 * packets) for r in c.rules
                    ],
                )
                for c in t.chains
            ],
        )
        for t in model.firewall.tables
    ]
    return replace(model, firewall=replace(model.firewall, tables=tables))
