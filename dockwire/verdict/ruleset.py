"""The host's rules compiled once for fast evaluation: base chains per hook in priority order, rules as tests.

iptables (legacy and nft) built-in chains get the hooks and priorities of their table; native nftables base
chains carry their own. An nftables table that merely mirrors an iptables-nft table (same family and name) is
skipped, so no rule is evaluated twice.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockwire.model import Chain, Firewall, Rule, Table
from dockwire.verdict.matches import Guard, Test, compile_match, guard_of
from dockwire.verdict.ruleindex import RuleIndex, build_index
from dockwire.verdict.targets import NAT_TARGETS, Action, parse_target

# iptables table -> built-in chain -> (hook, priority), as the kernel registers them.
IPTABLES_HOOKS: dict[str, dict[str, tuple[str, int]]] = {
    "raw": {"PREROUTING": ("prerouting", -300), "OUTPUT": ("output", -300)},
    "mangle": {
        "PREROUTING": ("prerouting", -150),
        "INPUT": ("input", -150),
        "FORWARD": ("forward", -150),
        "OUTPUT": ("output", -150),
        "POSTROUTING": ("postrouting", -150),
    },
    "nat": {
        "PREROUTING": ("prerouting", -100),
        "OUTPUT": ("output", -100),
        "INPUT": ("input", 100),
        "POSTROUTING": ("postrouting", 100),
    },
    "filter": {"INPUT": ("input", 0), "FORWARD": ("forward", 0), "OUTPUT": ("output", 0)},
    "security": {"INPUT": ("input", 50), "FORWARD": ("forward", 50), "OUTPUT": ("output", 50)},
}
NAT_PRIORITY = {"prerouting": -100, "output": -100, "input": 100, "postrouting": 100}
# Which packets a table's base chains see: `inet` both IPv4 and IPv6, `bridge` bridged frames.
HOOK_FAMILIES = {"ip": ("ip",), "ip6": ("ip6",), "inet": ("ip", "ip6"), "bridge": ("bridge",)}


@dataclass(frozen=True, slots=True)
class CompiledRule:
    rule: Rule
    tests: tuple[Test, ...]
    action: Action
    # The most selective guard of its matches (None: no match narrows the packets it can match).
    guard: Guard | None = None


@dataclass(slots=True)
class CompiledChain:
    table: Table
    chain: Chain
    rules: list[CompiledRule]
    # Which rules a packet can match (None: the chain is short or its rules unguarded; walk them all).
    index: RuleIndex | None = None

    def __post_init__(self) -> None:
        if self.index is None:
            self.index = build_index([r.guard for r in self.rules])


@dataclass(frozen=True, slots=True)
class BaseChain:
    """A chain attached to a hook."""

    hook: str
    priority: int
    is_nat: bool
    compiled: CompiledChain
    family: str

    @property
    def label(self) -> str:
        return f"{self.compiled.table.name} {self.compiled.chain.name}"


TestKey = tuple[int, str, str, tuple[str, ...], bool, str, bool]


def compile_rule(
    rule: Rule, sets: dict[str, list[str]], cache: dict[TestKey, tuple[Test, Guard | None]] | None = None
) -> CompiledRule:
    """A rule's conditions as tests and its target as an action; `cache` shares tests of equal conditions.

    The rule's guard is the most selective one of its matches' guards (see `dockwire.verdict.ruleindex`)."""
    tests = []
    guard: Guard | None = None
    for m in rule.matches:
        key = (id(sets), m.module, m.option, tuple(m.args), m.negated, m.op, m.known)
        found = cache.get(key) if cache is not None else None
        if found is None:
            test = compile_match(m, sets)
            found = (test, guard_of(m, test, sets))
            if cache is not None:
                cache[key] = found
        tests.append(found[0])
        if found[1] is not None and (guard is None or found[1].rank < guard.rank):
            guard = found[1]
    return CompiledRule(rule=rule, tests=tuple(tests), action=parse_target(rule.target, sets), guard=guard)


def _rebound(compiled: CompiledChain, table: Table, chain: Chain) -> CompiledChain:
    """`compiled` (a chain of the same rules) with this table's chain and rules in it."""
    rules = [
        CompiledRule(rule=rule, tests=old.tests, action=old.action, guard=old.guard)
        for rule, old in zip(chain.rules, compiled.rules, strict=True)
    ]
    return CompiledChain(table, chain, rules, index=compiled.index)


def _is_iptables(table: Table) -> bool:
    return table.source.startswith("iptables")


def _nat_chain(table: Table, chain: Chain, rules: list[CompiledRule]) -> bool:
    if _is_iptables(table):
        return table.name == "nat"
    if chain.type:
        return chain.type == "nat"
    if chain.name.lower().startswith("nat") or table.name == "nat":
        return True
    return any(r.rule.target is not None and r.rule.target.name.upper() in NAT_TARGETS for r in rules)


def _rule_shape(r: Rule) -> tuple[object, ...]:
    """Everything of a rule but its counters (as for a chain and a table: theirs, their parts aside)."""
    return (
        r.table,
        r.chain,
        r.position,
        r.text,
        r.matches,
        r.target,
        r.owner,
        r.comment,
        r.handle,
        r.unknown,
    )


def _chain_shape(c: Chain) -> tuple[object, ...]:
    return (c.name, c.policy, c.builtin, c.owner, c.hook, c.priority, c.type, len(c.rules))


def _table_shape(t: Table) -> tuple[object, ...]:
    return (t.source, t.family, t.name, t.owner, t.sets, len(t.chains))


def same_rules(old: Firewall, new: Firewall) -> bool:
    """Whether two firewalls differ in their counters at most (what a poll of a busy host reads again and
    again): then one's compiled rules serve the other (`RuleSet(new, like=…)`)."""
    if old is new:
        return True
    if old.ipsets != new.ipsets or len(old.tables) != len(new.tables):
        return False
    for a, b in zip(old.tables, new.tables, strict=True):
        if _table_shape(a) != _table_shape(b):
            return False
        for chain_a, chain_b in zip(a.chains, b.chains, strict=True):
            if _chain_shape(chain_a) != _chain_shape(chain_b):
                return False
            for rule_a, rule_b in zip(chain_a.rules, chain_b.rules, strict=True):
                if rule_a is not rule_b and _rule_shape(rule_a) != _rule_shape(rule_b):
                    return False
    return True


class RuleSet:
    """All tables of a `Firewall`, compiled; look chains up by (table identity, name)."""

    def __init__(self, firewall: Firewall, like: RuleSet | None = None) -> None:
        """`like`: the compiled rules of a firewall with the same rules (`same_rules`), whose tests, actions
        and indexes are taken over with this firewall's rules (and their counters) in them: milliseconds,
        where compiling 10,000 rules takes most of a second."""
        mirrored = {(t.family, t.name) for t in firewall.tables if t.source == "iptables-nft"}
        self.tables = [
            t for t in firewall.tables if not (t.source == "nftables" and (t.family, t.name) in mirrored)
        ]
        self.chains: dict[tuple[int, str], CompiledChain] = {}
        self.base: dict[tuple[str, str], list[BaseChain]] = {}
        self.rule_count = 0
        cache: dict[TestKey, tuple[Test, Guard | None]] = {}
        for index, table in enumerate(self.tables):
            sets = firewall.ipsets if _is_iptables(table) else table.sets
            for chain in table.chains:
                if like is not None:
                    compiled = _rebound(like.chains[(index, chain.name)], table, chain)
                else:
                    compiled = CompiledChain(
                        table, chain, [compile_rule(r, sets, cache) for r in chain.rules]
                    )
                self.rule_count += len(compiled.rules)
                self.chains[(index, chain.name)] = compiled
                hook_prio = self._hook_of(table, chain)
                if hook_prio is None:
                    continue
                hook, priority = hook_prio
                is_nat = _nat_chain(table, chain, compiled.rules)
                for family in HOOK_FAMILIES.get(table.family, ()):
                    self.base.setdefault((family, hook), []).append(
                        BaseChain(hook, priority, is_nat, compiled, table.family)
                    )
        self.table_index = {id(t): i for i, t in enumerate(self.tables)}
        for chains in self.base.values():
            chains.sort(
                key=lambda b: (NAT_PRIORITY.get(b.hook, b.priority) if b.is_nat else b.priority, b.priority)
            )

    @staticmethod
    def _hook_of(table: Table, chain: Chain) -> tuple[str, int] | None:
        if _is_iptables(table):
            return IPTABLES_HOOKS.get(table.name, {}).get(chain.name)
        if chain.hook:
            return chain.hook.lower(), chain.priority or 0
        return None

    def base_chains(self, family: str, hook: str) -> list[BaseChain]:
        return self.base.get((family, hook), [])

    def chain(self, table: Table, name: str) -> CompiledChain | None:
        return self.chains.get((self.table_index[id(table)], name))
