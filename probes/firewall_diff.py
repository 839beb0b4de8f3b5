"""Change detection for the 1 s firewall poll.

`diff_firewalls(old, new)` says which rules' counters moved (by a stable key) and whether the rule set
changed. `FirewallPoller` re-runs the firewall commands on each poll but skips parsing when their output is
byte for byte what it was last time (a hash comparison), so an idle host costs only the commands.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass, field
from typing import TypeVar

from dockwire.model import Firewall, Rule, Table

from .firewall import DEFAULT_TIMEOUT, RawFirewall, build_firewall, collect_raw, iptables_tables, reread_raw

# (source, family, table, chain, position, text): stable while the rule stays where it is.
RuleKey = tuple[str, str, str, str, int, str]
# (source, family, table, chain)
ChainKey = tuple[str, str, str, str]
K = TypeVar("K")
#: nf_tables families (nfgen_family) iptables-nft programs.
_NFGEN_FAMILIES = {2: "ip", 10: "ip6"}


def rule_key(table: Table, rule: Rule) -> RuleKey:
    return (table.source, table.family, table.name, rule.chain, rule.position, rule.text)


def chain_key(table: Table, chain_name: str) -> ChainKey:
    return (table.source, table.family, table.name, chain_name)


@dataclass(frozen=True)
class CounterMove:
    """How much a counter grew since the last read (negative when the counters were zeroed meanwhile)."""

    packets: int
    bytes: int


@dataclass(frozen=True)
class FirewallDelta:
    # Rules present in both reads whose counters differ.
    moved: dict[RuleKey, CounterMove] = field(default_factory=dict)
    # Base-chain policy counters that moved (packets that fell off the end of a chain).
    policy_moved: dict[ChainKey, CounterMove] = field(default_factory=dict)
    added: frozenset[RuleKey] = frozenset()
    removed: frozenset[RuleKey] = frozenset()
    # Anything besides counters: rules, chains, policies, hooks, nft sets, ipsets, warnings, backend.
    rules_changed: bool = False

    @property
    def changed(self) -> bool:
        return self.rules_changed or bool(self.moved or self.policy_moved)


def _structure(fw: Firewall) -> tuple[object, ...]:
    """Everything in a Firewall except counters, as a comparable value."""
    tables = tuple(
        (
            t.source,
            t.family,
            t.name,
            tuple(sorted((k, tuple(v)) for k, v in t.sets.items())),
            tuple(
                (c.name, c.policy, c.hook, c.priority, c.type, tuple((r.position, r.text) for r in c.rules))
                for c in t.chains
            ),
        )
        for t in fw.tables
    )
    ipsets = tuple(sorted((k, tuple(v)) for k, v in fw.ipsets.items()))
    return (fw.iptables_backend, tables, ipsets, tuple(fw.warnings))


def _rule_counters(fw: Firewall) -> dict[RuleKey, tuple[int, int]]:
    return {rule_key(t, r): (r.packets, r.bytes) for t in fw.tables for c in t.chains for r in c.rules}


def _policy_counters(fw: Firewall) -> dict[ChainKey, tuple[int, int]]:
    return {chain_key(t, c.name): (c.packets, c.bytes) for t in fw.tables for c in t.chains if c.builtin}


def _moves(old: dict[K, tuple[int, int]], new: dict[K, tuple[int, int]]) -> dict[K, CounterMove]:
    return {
        key: CounterMove(now[0] - before[0], now[1] - before[1])
        for key, now in new.items()
        if (before := old.get(key)) is not None and before != now
    }


@dataclass(frozen=True)
class _Digest:
    """What a diff compares of one Firewall, computed once per read (the poller keeps the last one)."""

    rules: dict[RuleKey, tuple[int, int]]
    policies: dict[ChainKey, tuple[int, int]]
    structure: tuple[object, ...]

    @classmethod
    def of(cls, fw: Firewall) -> _Digest:
        return cls(_rule_counters(fw), _policy_counters(fw), _structure(fw))


def _diff(old: _Digest, new: _Digest) -> FirewallDelta:
    return FirewallDelta(
        moved=_moves(old.rules, new.rules),
        policy_moved=_moves(old.policies, new.policies),
        added=frozenset(new.rules.keys() - old.rules.keys()),
        removed=frozenset(old.rules.keys() - new.rules.keys()),
        rules_changed=old.structure != new.structure,
    )


def diff_firewalls(old: Firewall, new: Firewall) -> FirewallDelta:
    """Counter moves and rule-set changes from `old` to `new`."""
    return _diff(_Digest.of(old), _Digest.of(new))


@dataclass(frozen=True)
class PollResult:
    firewall: Firewall
    stale: dict[str, str]
    # False when the commands printed exactly what they printed last time (nothing was parsed).
    changed: bool
    # Compared with the previous poll; None on the first poll or when nothing changed.
    delta: FirewallDelta | None = None


class FirewallPoller:
    """Reads the firewall on demand (e.g. every second) and re-parses only when the raw output changed."""

    def __init__(
        self,
        docker_bridges: Collection[str] = (),
        timeout: float = DEFAULT_TIMEOUT,
        collect: Callable[[float], Awaitable[RawFirewall]] = collect_raw,
    ) -> None:
        """`collect` runs the commands (collect_raw); replays of recorded output can stand in for it."""
        self.docker_bridges = frozenset(docker_bridges)
        self.timeout = timeout
        self._collect = collect
        self._fingerprint = ""
        self._last: PollResult | None = None
        self._digest: _Digest | None = None
        self._raw: RawFirewall | None = None

    def iptables_families(self, tables: Collection[tuple[int, str | None]]) -> set[str] | None:
        """The families ("ip", "ip6") whose iptables-nft rules hold every one of these nf_tables tables
        (nfgen family, name) as the last read saw them; None when some table is not iptables' (a native
        nftables table, a table new since, a change without a table): then only a full read is right."""
        owned = iptables_tables(self._raw) if self._raw is not None else set()
        families = set()
        for family, name in tables:
            text = _NFGEN_FAMILIES.get(family)
            if text is None or name is None or (text, name) not in owned:
                return None
            families.add(text)
        return families

    def start_read(self) -> asyncio.Task[RawFirewall]:
        """Start the firewall commands now; hand the task to `poll` once the Docker bridges are known."""
        return asyncio.ensure_future(self._collect(self.timeout))

    async def poll(
        self,
        docker_bridges: Collection[str] | None = None,
        started: asyncio.Task[RawFirewall] | None = None,
        families: Collection[str] = (),
    ) -> PollResult:
        """One read (or the one `start_read` began). Pass `docker_bridges` when the set of Docker bridges
        changed (forces a re-parse). With `families` ("ip", "ip6") only their iptables-nft rules are read
        again (`reread_raw`), the rest kept from the previous read."""
        if docker_bridges is not None and frozenset(docker_bridges) != self.docker_bridges:
            self.docker_bridges = frozenset(docker_bridges)
            self._fingerprint = ""
        if started is not None:
            raw = await started
        elif families and self._raw is not None:
            raw = await reread_raw(self._raw, families, self.timeout)
        else:
            raw = await self._collect(self.timeout)
        self._raw = raw
        fingerprint = raw.fingerprint()
        if self._last is not None and fingerprint == self._fingerprint:
            return PollResult(self._last.firewall, self._last.stale, changed=False)
        firewall, stale = build_firewall(raw, self.docker_bridges)
        digest = _Digest.of(firewall)
        delta = _diff(self._digest, digest) if self._digest is not None else None
        self._fingerprint = fingerprint
        self._last = PollResult(firewall, stale, changed=True, delta=delta)
        self._digest = digest
        return self._last


#: The most rule lines one change gives the events pane (Docker rewrites hundreds at once); then a count.
EVENT_LINES = 8


def rule_changes(old: Firewall, new: Firewall, limit: int = EVENT_LINES) -> list[str]:
    """Event lines for the rules added and removed, chain by chain ("firewall ip filter DOCKER-USER: added
    -A DOCKER-USER -j DROP"), by text: a rule that only moved (another inserted above it) is no change. At
    most `limit` lines, then one with the count of the others."""
    before = {chain_key(t, c.name): c for t in old.tables for c in t.chains}
    lines: list[str] = []
    for table in new.tables:
        for chain in table.chains:
            key = chain_key(table, chain.name)
            was = before.pop(key, None)
            lines += _chain_changes(key, new.iptables_backend, was.rules if was else [], chain.rules)
    for key, chain in before.items():
        lines += _chain_changes(key, new.iptables_backend, chain.rules, [])
    if len(lines) > limit:
        lines[limit - 1 :] = [f"firewall: {len(lines) - limit + 1} more rules added or removed"]
    return lines


#: The iptables backends, as a line names the one `iptables` does not show.
_BACKEND_NAMES = {"iptables-legacy": "legacy", "iptables-nft": "nft"}


def _where(key: ChainKey, backend: str) -> str:
    """What a line names: family, table, chain, and the iptables backend when `iptables` shows the other."""
    source, family, table, chain = key
    primary = "iptables-legacy" if backend == "legacy" else "iptables-nft"
    other = f" ({_BACKEND_NAMES[source]})" if source in _BACKEND_NAMES and source != primary else ""
    return f"firewall {family} {table} {chain}{other}"


def _chain_changes(key: ChainKey, backend: str, old: list[Rule], new: list[Rule]) -> list[str]:
    old_texts, new_texts = [r.text for r in old], [r.text for r in new]
    if old_texts == new_texts:
        return []
    where = _where(key, backend)
    added = Counter(new_texts) - Counter(old_texts)
    removed = Counter(old_texts) - Counter(new_texts)
    return [f"{where}: added {text}" for text in added.elements()] + [
        f"{where}: removed {text}" for text in removed.elements()
    ]
