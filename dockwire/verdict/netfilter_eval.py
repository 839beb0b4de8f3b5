"""Walk a packet through the base chains of one hook: rules in order, jumps, gotos, returns and policies.

A condition that cannot be evaluated forks the walk: one branch assumes it matched, the other that it did not.
If every branch ends the same way the answer is certain (the assumption did not matter); otherwise the hook's
outcome is uncertain and names the rules that made the difference.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from ipaddress import IPv4Address

from dockwire.verdict.packet import Packet
from dockwire.verdict.routing import primary_address
from dockwire.verdict.ruleindex import Positions
from dockwire.verdict.ruleset import NAT_PRIORITY, BaseChain, CompiledChain, CompiledRule, RuleSet
from dockwire.verdict.targets import Action, apply_mark
from dockwire.verdict.values import iface_matches
from dockwire.verdict.where import HostFacts, Where

MAX_BRANCHES = 64
CONNTRACK_PRIORITY = -200
MAX_STEPS = 200_000
LOOPBACK = IPv4Address("127.0.0.1")
NAT_MANIP = {"prerouting": "dst", "output": "dst", "input": "src", "postrouting": "src"}


@dataclass(frozen=True, slots=True)
class Hit:
    """One rule the packet matched (or a chain policy that decided it)."""

    base: BaseChain
    chain: CompiledChain
    rule: CompiledRule | None  # None: the chain's policy
    where: Where
    effect: str
    # True when the rule matched only under an assumption about an unknown condition.
    assumed: bool = False


@dataclass(slots=True)
class HookResult:
    """How one branch of the walk ended for a whole hook."""

    verdict: str  # "ACCEPT", "DROP", "REJECT", "UNKNOWN"
    packet: Packet
    hits: list[Hit] = field(default_factory=list)
    culprit: Hit | None = None
    # Rules whose conditions could not be evaluated on this branch, with the assumption taken.
    assumptions: list[tuple[Hit, bool]] = field(default_factory=list)
    # NAT rewrites done at this hook, as hits.
    nat: list[Hit] = field(default_factory=list)
    note: str = ""


@dataclass(slots=True)
class _Branch:
    packet: Packet
    stack: list[list]  # frames of `_frame`
    hits: list[Hit]
    assumptions: list[tuple[Hit, bool]]
    nat: list[Hit]


def _frame(chain: CompiledChain, pkt: Packet, where: Where) -> list:
    """A walk's position in one chain: [chain, next rule index, candidate positions or None, next candidate].

    The candidates are the rules `pkt` can match (`RuleIndex.candidates`); they stay right while the walk is
    in the chain: the fields the index looks at do not change there (interfaces never change during a walk;
    addresses, protocol and ports only by NAT, which ends the base chain)."""
    index = chain.index
    return [chain, 0, None if index is None else index.candidates(pkt, where), 0]


def _test_rule(rule: CompiledRule, pkt: Packet, where: Where, facts: HostFacts) -> bool | None:
    unknown = False
    for test in rule.tests:
        result = test(pkt, where, facts)
        if result is False:
            return False
        if result is None:
            unknown = True
    return None if unknown else True


def _vmap_action(action: Action, pkt: Packet, where: Where) -> Action | None:
    """The verdict a vmap picks for this packet; Action('continue') when no key matches, None when unknown."""
    entries = list(action.vmap)
    key = action.vmap_key.replace("meta ", "").strip()
    if key in ("iifname", "oifname"):
        name = where.iif if key == "iifname" else where.oif
        for item, verdict in entries:
            if iface_matches(item, name):
                return verdict
        return Action("continue")
    if key in ("ip protocol", "l4proto"):
        for item, verdict in entries:
            if item.lower() == pkt.proto:
                return verdict
        return Action("continue")
    return None


class HookWalker:
    """Evaluates hooks against one compiled rule set and host facts."""

    def __init__(self, ruleset: RuleSet, facts: HostFacts, interfaces: list | None = None) -> None:
        self.ruleset = ruleset
        self.facts = facts
        self.interfaces = interfaces or []

    # --- one hook -------------------------------------------------------------------------------------------

    def run(
        self, family: str, where: Where, pkt: Packet, nat_point: Callable[[Packet], Packet] | None = None
    ) -> list[HookResult]:
        """Every distinct way the hook can end for `pkt` (one element when nothing is unknown).

        Conntrack looks at packets entering at prerouting/output at priority -200, so chains before that
        (raw) see no connection state. `nat_point` is called on the packet where NAT happens at this hook
        (used to undo a connection's NAT on its reply packets).
        """
        if where.hook in ("prerouting", "output"):
            pkt = pkt.evolve(ct_seen=False)
        live: list[HookResult] = [HookResult("ACCEPT", pkt)]
        finished: list[HookResult] = []
        manip = NAT_MANIP.get(where.hook, "")
        nat_priority = NAT_PRIORITY.get(where.hook, 0)
        pending_nat = nat_point
        for base in self.ruleset.base_chains(family, where.hook):
            order = nat_priority if base.is_nat else base.priority
            for state in live:
                if not state.packet.ct_seen and order > CONNTRACK_PRIORITY:
                    state.packet = state.packet.evolve(ct_seen=True)
                if pending_nat is not None and order >= nat_priority:
                    state.packet = pending_nat(state.packet)
            if order >= nat_priority:
                pending_nat = None
            next_live: list[HookResult] = []
            for state in live:
                if base.is_nat and not self._nat_applies(state.packet, manip):
                    next_live.append(state)
                    continue
                for out in self._walk_base(base, where, state):
                    (next_live if out.verdict == "ACCEPT" else finished).append(out)
            live = next_live
            if len(live) + len(finished) > MAX_BRANCHES:
                return [HookResult("UNKNOWN", pkt, note="too many conditions could not be evaluated")]
        for state in live:
            if not state.packet.ct_seen:
                state.packet = state.packet.evolve(ct_seen=True)
            if pending_nat is not None:
                state.packet = pending_nat(state.packet)
            if manip and state.packet.ct_state == "NEW":
                state.packet = state.packet.evolve(nat_done=state.packet.nat_done | {manip})
        return live + finished

    @staticmethod
    def _nat_applies(pkt: Packet, manip: str) -> bool:
        # nat chains see only a connection's first packet, and only until a binding of that type exists.
        return pkt.ct_state == "NEW" and pkt.ct_seen and manip not in pkt.nat_done

    # --- one base chain -----------------------------------------------------------------------------------

    def _walk_base(self, base: BaseChain, where: Where, state: HookResult) -> list[HookResult]:
        start = _Branch(
            state.packet,
            [_frame(base.compiled, state.packet, where)],
            list(state.hits),
            list(state.assumptions),
            list(state.nat),
        )
        pending = [start]
        results: list[HookResult] = []
        steps = 0
        while pending:
            br = pending.pop()
            outcome = None
            while outcome is None:
                # `steps` counts every rule a full walk would look at, skipped ones included, so that the step
                # limit ends exactly the walks it always ended.
                steps += 1
                frame = br.stack[-1]
                chain: CompiledChain = frame[0]
                candidates: Positions | None = frame[2]
                if candidates is None:
                    at = frame[1]
                elif frame[3] < len(candidates):
                    at = candidates[frame[3]]
                    frame[3] += 1
                    steps += at - frame[1]
                else:
                    at = len(chain.rules)
                    steps += at - frame[1]
                if steps > MAX_STEPS:
                    return [HookResult("UNKNOWN", state.packet, note="rule walk did not finish (loop?)")]
                if at >= len(chain.rules):
                    br.stack.pop()
                    if not br.stack:
                        outcome = self._policy(base, where, br)
                    continue
                rule = chain.rules[at]
                frame[1] = at + 1
                matched = _test_rule(rule, br.packet, where, self.facts)
                if matched is False:
                    continue
                assumed = matched is None
                if assumed:
                    if len(pending) + len(results) >= MAX_BRANCHES:
                        return [
                            HookResult(
                                "UNKNOWN", state.packet, note="too many conditions could not be evaluated"
                            )
                        ]
                    other = _Branch(
                        br.packet,
                        [list(f) for f in br.stack],
                        list(br.hits),
                        [*br.assumptions, (Hit(base, chain, rule, where, "not matched", True), False)],
                        list(br.nat),
                    )
                    pending.append(other)
                outcome = self._apply(base, where, br, chain, rule, rule.action, assumed)
            results.append(outcome)
        return results

    def _policy(self, base: BaseChain, where: Where, br: _Branch) -> HookResult:
        policy = (base.compiled.chain.policy or "ACCEPT").upper()
        hit = Hit(base, base.compiled, None, where, f"policy {policy}")
        verdict = "DROP" if policy == "DROP" else "ACCEPT"
        return HookResult(
            verdict, br.packet, [*br.hits, hit], hit if verdict == "DROP" else None, br.assumptions, br.nat
        )

    def _apply(
        self,
        base: BaseChain,
        where: Where,
        br: _Branch,
        chain: CompiledChain,
        rule: CompiledRule,
        action: Action,
        assumed: bool,
    ) -> HookResult | None:
        """Do what a matched rule says; an HookResult ends this base chain, None continues the walk."""
        hit = Hit(base, chain, rule, where, action.text or action.kind, assumed)
        if action.kind == "vmap":
            picked = _vmap_action(action, br.packet, where)
            if picked is None:
                br.hits.append(hit)
                return _unknown(br, hit, f"cannot evaluate the verdict map key of: {action.text}")
            if picked.kind == "continue":
                return None
            hit = Hit(base, chain, rule, where, f"vmap: {picked.text}", assumed)
            action = picked
        br.hits.append(hit)
        if assumed:
            br.assumptions.append((hit, True))
        kind = action.kind
        if kind in ("continue",):
            return None
        if kind == "mark":
            br.packet = br.packet.evolve(mark=apply_mark(br.packet.mark, action))
            return None
        if kind == "notrack":
            br.packet = br.packet.evolve(ct_state="UNTRACKED")
            return None
        if kind == "accept":
            return HookResult("ACCEPT", br.packet, br.hits, None, br.assumptions, br.nat)
        if kind in ("drop", "reject"):
            return HookResult(kind.upper(), br.packet, br.hits, hit, br.assumptions, br.nat)
        if kind == "jump" or kind == "goto":
            target = self.ruleset.chain(chain.table, action.chain)
            if target is None:
                return _unknown(br, hit, f"chain {action.chain} not found")
            if kind == "goto":
                br.stack[-1] = _frame(target, br.packet, where)
            else:
                br.stack.append(_frame(target, br.packet, where))
            return None
        if kind == "return":
            br.stack.pop()
            if not br.stack:
                return self._policy(base, where, br)
            return None
        if kind in ("dnat", "snat", "masquerade", "redirect"):
            return self._nat(where, br, hit, action)
        return _unknown(br, hit, f"target {action.text or action.kind} is not understood")

    def _nat(self, where: Where, br: _Branch, hit: Hit, action: Action) -> HookResult:
        pkt = br.packet
        if action.kind in ("dnat", "redirect"):
            if action.kind == "redirect":
                addr = primary_address(self.interfaces, where.iif) if where.iif else None
                addr = addr or LOOPBACK
            else:
                addr = action.to_addr or pkt.dst
            pkt = pkt.evolve(
                dst=addr,
                dport=action.to_port or pkt.dport,
                ct_nat=pkt.ct_nat | {"DNAT"},
                nat_done=pkt.nat_done | {"dst"},
            )
        else:
            if action.kind == "masquerade":
                addr = primary_address(self.interfaces, where.oif)
                if addr is None:
                    return HookResult(
                        "UNKNOWN",
                        pkt,
                        br.hits,
                        hit,
                        br.assumptions,
                        br.nat,
                        note=f"no IPv4 address on {where.oif} to masquerade with",
                    )
            else:
                addr = action.to_addr or pkt.src
            pkt = pkt.evolve(
                src=addr,
                sport=action.to_port or pkt.sport,
                ct_nat=pkt.ct_nat | {"SNAT"},
                nat_done=pkt.nat_done | {"src"},
            )
        br.nat.append(hit)
        return HookResult("ACCEPT", pkt, br.hits, None, br.assumptions, br.nat)


def _unknown(br: _Branch, hit: Hit, note: str) -> HookResult:
    """The branch stops at a rule dockwire cannot evaluate: the outcome is unknown, and says why."""
    return HookResult("UNKNOWN", br.packet, br.hits, hit, br.assumptions, br.nat, note=note)
