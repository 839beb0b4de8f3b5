"""Turn the kernel's trace events into per-packet stories, each step mapped onto the model's rules.

nft hosts report a rule by table, chain and nft handle: the handle's place in the live chain (listed with
`nft -a -j`) is the iptables position, so the model's rule (text, position) can be named exactly.
The legacy TRACE log reports table, chain and rule number directly. The counter fallback has no per-packet
story: it names the rules whose counters grew while the probe ran.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

import msgspec

from dockwire.actions.result import Evidence, PacketTrace, TraceStep
from dockwire.actions.tracing.parse import TraceEvent
from dockwire.model import TRACE_PREFIX, Chain, HostModel, Rule, RuleRef, Table

TABLE_ORDER = {"raw": 0, "mangle": 1, "nat": 2, "filter": 3, "security": 4}
_NAT_WORDS = ("dnat", "snat", "masquerade", "redirect", "DNAT", "SNAT", "MASQUERADE", "REDIRECT")
_DROP_TARGETS = {"DROP", "REJECT"}


@dataclass(frozen=True)
class ProbeKey:
    """How to recognise this probe's packets: the transport and the marker (ICMP id or source port)."""

    proto: str  # "icmp", "tcp", "udp"
    marker: int

    def direction(self, fields: dict[str, str]) -> str:
        """ "request", "reply", or "" for a packet that is not this probe's."""
        if self.proto == "icmp":
            if fields.get("icmp_id") != str(self.marker):
                return ""
            kind = fields.get("icmp_type", "")
            return "request" if kind == "echo-request" else "reply" if kind == "echo-reply" else ""
        if fields.get("l4", self.proto) != self.proto:
            return ""
        if fields.get("sport") == str(self.marker):
            return "request"
        if fields.get("dport") == str(self.marker):
            return "reply"
        return ""


def _rule_ref(rule: Rule, family: str) -> RuleRef:
    return RuleRef(
        table=rule.table,
        chain=rule.chain,
        position=rule.position,
        text=rule.text,
        family=family,
        handle=rule.handle,
    )


def _verdict_of(rule: Rule) -> str:
    """What a legacy-traced rule did, from its target (the log does not say)."""
    t = rule.target
    if t is None:
        return "continue"
    if t.name in _DROP_TARGETS:
        return "drop"
    if t.kind == "verdict":
        return t.name.lower()
    if t.kind in ("jump", "goto"):
        return f"{t.kind} {t.name}"
    return "continue"


class RuleMapper:
    """Finds the model's rule for a trace step."""

    def __init__(
        self,
        model: HostModel,
        handle_orders: dict[tuple[str, str, str], list[int]] | None = None,
        trace_rules: dict[tuple[str, str], list[int]] | None = None,
    ) -> None:
        self.model = model
        # (family, table, chain) -> rule handles in chain order, from the live nft ruleset.
        self.handle_orders = handle_orders or {}
        # (table, chain) -> positions, as the kernel numbered them while tracing, of dockwire's own trace
        # rules there (legacy TRACE rules: any run's), which the model leaves out.
        self.trace_rules = trace_rules or {}
        self.mismatches: set[str] = set()

    def model_position(self, ev: TraceEvent) -> int:
        """The model's position of the rule the kernel numbered `ev.rulenum` (trace rules not counted)."""
        assert ev.rulenum is not None
        ours = self.trace_rules.get((ev.table, ev.chain), [])
        return ev.rulenum - sum(1 for p in ours if p < ev.rulenum)

    def chain(self, family: str, table: str, chain: str) -> Chain | None:
        for t in self.model.firewall.tables:
            if t.family == family and t.name == table:
                for c in t.chains:
                    if c.name == chain:
                        return c
        return None

    def _kernel_ref(self, ev: TraceEvent, position: int | None = None) -> RuleRef:
        return RuleRef(
            table=ev.table,
            chain=ev.chain,
            position=position,
            text=ev.text,
            family=ev.family,
            handle=ev.handle,
        )

    def rule(self, ev: TraceEvent) -> RuleRef | None:
        chain = self.chain(ev.family, ev.table, ev.chain)
        if ev.rulenum is not None:  # legacy log: the kernel's own rule number
            pos = self.model_position(ev)
            if chain is not None and 1 <= pos <= len(chain.rules):
                return _rule_ref(chain.rules[pos - 1], ev.family)
            self.mismatches.add(f"{ev.table}/{ev.chain}")
            return self._kernel_ref(ev, pos if pos >= 1 else None)
        if ev.handle is None:
            return self._kernel_ref(ev) if ev.text else None
        if chain is not None:
            by_handle = next((r for r in chain.rules if r.handle == ev.handle), None)
            if by_handle is not None:
                return _rule_ref(by_handle, ev.family)
        order = self.handle_orders.get((ev.family, ev.table, ev.chain))
        if order and ev.handle in order:
            pos = order.index(ev.handle) + 1
            if chain is not None and pos <= len(chain.rules):
                if len(order) != len(chain.rules):
                    self.mismatches.add(f"{ev.table}/{ev.chain}")
                return msgspec.structs.replace(_rule_ref(chain.rules[pos - 1], ev.family), handle=ev.handle)
            self.mismatches.add(f"{ev.table}/{ev.chain}")
            return self._kernel_ref(ev, pos)
        return self._kernel_ref(ev)

    def policy(self, ev: TraceEvent) -> RuleRef:
        chain = self.chain(ev.family, ev.table, ev.chain)
        policy = ev.verdict.upper() or (chain.policy if chain is not None and chain.policy else "")
        return RuleRef(table=ev.table, chain=ev.chain, text=policy, family=ev.family, kind="policy")

    def step(self, ev: TraceEvent) -> TraceStep:
        if ev.kind == "policy":
            policy = self.policy(ev)
            return TraceStep(
                table=ev.table,
                chain=ev.chain,
                kind="policy",
                verdict=policy.text.lower(),
                family=ev.family,
                rule=policy,
            )
        if ev.kind == "return":
            return TraceStep(
                table=ev.table,
                chain=ev.chain,
                kind="return",
                verdict=ev.verdict or "return",
                family=ev.family,
            )
        ref = self.rule(ev)
        verdict = ev.verdict
        if not verdict and ev.rulenum is not None:
            chain = self.chain(ev.family, ev.table, ev.chain)
            pos = self.model_position(ev)
            verdict = _verdict_of(chain.rules[pos - 1]) if chain and 1 <= pos <= len(chain.rules) else ""
        return TraceStep(
            table=ev.table,
            chain=ev.chain,
            kind="rule",
            verdict=verdict,
            kernel_text=ev.text,
            family=ev.family,
            handle=ev.handle,
            rule=ref,
        )


# --- grouping events into packets -------------------------------------------------------------------------


def group_nft(
    events: Iterable[TraceEvent], own_table: str, key: ProbeKey | None = None
) -> list[list[TraceEvent]]:
    """Per-packet event lists: a packet starts when dockwire's own trace chain reports it.

    The kernel's trace id can change on the way (NAT may copy the packet): a packet dump under an unknown id
    that carries this probe's marker continues the latest packet of the same direction.
    """
    current: dict[str, list[TraceEvent]] = {}
    latest: dict[str, list[TraceEvent]] = {}
    journeys: list[list[TraceEvent]] = []
    for ev in events:
        if ev.table == own_table:
            if ev.kind == "packet":
                current[ev.trace_id] = [ev]
                journeys.append(current[ev.trace_id])
                if key is not None:
                    latest[key.direction(ev.fields)] = current[ev.trace_id]
            continue  # dockwire's own rule and policy are not part of the story
        if ev.trace_id not in current:
            direction = key.direction(ev.fields) if key is not None and ev.kind == "packet" else ""
            if not direction or direction not in latest:
                continue
            current[ev.trace_id] = latest[direction]
        current[ev.trace_id].append(ev)
    return journeys


def group_log(
    events: Iterable[TraceEvent], start_chains: Iterable[str] = ("PREROUTING", "OUTPUT")
) -> list[list[TraceEvent]]:
    """Per-packet event lists for the legacy log: a packet starts in raw PREROUTING/OUTPUT."""
    starts = set(start_chains)
    journeys: list[list[TraceEvent]] = []
    pending: TraceEvent | None = None
    last: tuple[str, str] | None = None
    for ev in events:
        if ev.kind == "packet":
            pending = ev
            continue
        here = (ev.table, ev.chain)
        if not journeys or (ev.table == "raw" and ev.chain in starts and last != here):
            journeys.append([])
        if pending is not None:
            journeys[-1].append(pending)
            pending = None
        journeys[-1].append(ev)
        last = here
    return journeys


# --- one packet's story -----------------------------------------------------------------------------------


def describe_packet(fields: dict[str, str]) -> str:
    ifs = " -> ".join(x for x in (fields.get("iif", ""), fields.get("oif", "")) if x)
    src, dst = fields.get("saddr", "?"), fields.get("daddr", "?")
    if "sport" in fields:
        src, dst = f"{src}:{fields['sport']}", f"{dst}:{fields.get('dport', '?')}"
    l4 = fields.get("l4", "")
    if fields.get("icmp_type"):
        l4 = f"{l4 or 'icmp'} {fields['icmp_type']} id {fields.get('icmp_id', '?')}"
    return " ".join(x for x in (f"[{ifs}]" if ifs else "", f"{src} -> {dst}", l4) if x)


def _endpoint(fields: dict[str, str], side: str) -> str:
    addr = fields.get(f"{side}addr", "")
    port = fields.get(f"{side}port")
    return f"{addr}:{port}" if port else addr


_REWRITE_KIND = {
    ("request", "d"): "DNAT",
    ("request", "s"): "SNAT",
    ("reply", "d"): "the request's SNAT/masquerade undone",
    ("reply", "s"): "the request's DNAT undone",
}


def rewrites(before: dict[str, str], after: dict[str, str], direction: str = "request") -> list[str]:
    """Address/port changes between two hooks' views of one packet."""
    found = []
    for side in ("d", "s"):
        a, b = _endpoint(before, side), _endpoint(after, side)
        if a and b and a != b:
            kind = _REWRITE_KIND.get((direction, side), "NAT")
            found.append(f"{'destination' if side == 'd' else 'source'} {a} -> {b} ({kind})")
    return found


def _hook_label(ev: TraceEvent) -> str:
    """Where a packet was seen; dockwire's own trace chains stand for their hook."""
    if ev.table.startswith("dockwire-trace-"):
        return {"pre": "prerouting", "out": "output"}.get(ev.chain, ev.chain)
    return f"{ev.family} {ev.table} {ev.chain}"


def packet_trace(journey: list[TraceEvent], key: ProbeKey, mapper: RuleMapper) -> PacketTrace | None:
    first = next((ev for ev in journey if ev.kind == "packet"), None)
    if first is None:
        return None
    direction = key.direction(first.fields)
    if not direction:
        return None
    packets: list[str] = []
    steps: list[TraceStep] = []
    nat: list[str] = []
    prev: dict[str, str] | None = None
    for ev in journey:
        if ev.kind == "packet":
            if prev is not None:
                nat.extend(n for n in rewrites(prev, ev.fields, direction) if n not in nat)
            prev = ev.fields
            line = f"{_hook_label(ev)}: {describe_packet(ev.fields)}"
            if not packets or packets[-1] != line:
                packets.append(line)
            continue
        step = mapper.step(ev)
        steps.append(step)
        texts = (ev.text, step.rule.text if step.rule else "")
        if any(w in t for t in texts for w in _NAT_WORDS):
            label = "by " + (step.rule.label() if step.rule else f"{ev.table}/{ev.chain}: {ev.text}")
            if label not in nat:
                nat.append(label)
    fate, dropped = "", None
    if steps:
        last = steps[-1]
        if last.verdict == "drop":
            fate, dropped = "drop", last.rule
        else:
            fate = "accept"
    return PacketTrace(
        trace_id=first.trace_id,
        direction=direction,
        packets=packets,
        steps=steps,
        fate=fate,
        dropped_by=dropped,
        nat=nat,
    )


def traced_evidence(mode: str, note: str, traces: list[PacketTrace]) -> Evidence:
    request = [p for p in traces if p.direction == "request"]
    reply = [p for p in traces if p.direction == "reply"]
    dropped = next((p.dropped_by for p in request if p.fate == "drop"), None)
    if dropped is None:
        dropped = next((p.dropped_by for p in reply if p.fate == "drop"), None)
    nat: list[str] = []
    for p in traces:
        nat.extend(n for n in p.nat if n not in nat)
    return Evidence(
        mode=mode,
        note=note,
        packets=traces,
        dropped_by=dropped,
        request_traced=bool(request),
        reply_traced=bool(reply),
        nat=nat,
    )


def build_evidence(
    mode: str, note: str, journeys: list[list[TraceEvent]], key: ProbeKey, mapper: RuleMapper
) -> Evidence:
    traces = [t for j in journeys if (t := packet_trace(j, key, mapper)) is not None]
    if mapper.mismatches:
        where = ", ".join(sorted(mapper.mismatches))
        extra = f"the model differs from the live rules in {where}; re-read the host"
        note = f"{note}; {extra}" if note else extra
    return traced_evidence(mode, note, traces)


# --- counters ---------------------------------------------------------------------------------------------


def _keyed(tables: list[Table]) -> dict[tuple[str, str, str, str, int], Rule]:
    keyed = {}
    for t in tables:
        for c in t.chains:
            seen: dict[str, int] = {}
            for r in c.rules:
                n = seen.get(r.text, 0)
                seen[r.text] = n + 1
                keyed[(t.family, t.name, c.name, r.text, n)] = r
    return keyed


def counter_evidence(before: list[Table], after: list[Table], answered: bool) -> Evidence:
    """Rules (and DROP policies) whose packet counters grew between two `iptables-save -c` reads."""
    old = _keyed(before)
    counted: list[tuple[tuple[int, str, int], RuleRef, Rule | None]] = []
    for k, rule in _keyed(after).items():
        prev = old.get(k)
        if prev is not None and rule.packets > prev.packets:
            ref = _rule_ref(rule, k[0])
            counted.append(((TABLE_ORDER.get(rule.table, 9), rule.chain, rule.position), ref, rule))
    old_chains = {(t.family, t.name, c.name): c for t in before for c in t.chains}
    for t in after:
        for c in t.chains:
            prev_c = old_chains.get((t.family, t.name, c.name))
            if c.policy == "DROP" and prev_c is not None and c.packets > prev_c.packets:
                ref = RuleRef(table=t.name, chain=c.name, text="DROP", family=t.family, kind="policy")
                counted.append(((TABLE_ORDER.get(t.name, 9), c.name, 10**9), ref, None))
    counted.sort(key=lambda x: x[0])
    dropped: RuleRef | None = None
    if not answered:
        for _, ref, counted_rule in counted:
            target = counted_rule.target if counted_rule is not None else None
            if counted_rule is None or (target is not None and target.name in _DROP_TARGETS):
                dropped = ref
                break
    note = "counter diff: rules whose counters grew while the probe ran (other traffic may be counted too)"
    return Evidence(mode="counters", note=note, counted=[ref for _, ref, _ in counted], dropped_by=dropped)


def handle_orders_from_nft_json(doc: dict[str, object]) -> dict[tuple[str, str, str], list[int]]:
    """(family, table, chain) -> rule handles in order, from `nft -a -j list ...` output."""
    orders: dict[tuple[str, str, str], list[int]] = {}
    items = doc.get("nftables", [])
    assert isinstance(items, list)
    for item in items:
        rule = item.get("rule") if isinstance(item, dict) else None
        if isinstance(rule, dict) and "handle" in rule:
            orders.setdefault((rule["family"], rule["table"], rule["chain"]), []).append(int(rule["handle"]))
    return orders


def chain_texts_from_save(text: str, family: str) -> dict[tuple[str, str, str], list[str]]:
    """(family, table, chain) -> rule texts in order, from `iptables-nft-save` output ({} if unreadable)."""
    from dockwire.probes.iptables_save import IptablesSaveError, parse_iptables_save

    try:
        tables = parse_iptables_save(text, "iptables-nft", family)
    except IptablesSaveError:
        return {}
    return {(family, t.name, c.name): [r.text for r in c.rules] for t in tables for c in t.chains}


def without_trace_handles(
    orders: dict[tuple[str, str, str], list[int]], texts: dict[tuple[str, str, str], list[str]]
) -> dict[tuple[str, str, str], list[int]]:
    """The handle orders without the handles of dockwire's trace rules (any run's), which the model leaves
    out: a chain's handles are paired with its rule texts, read at the same time, when both have the same
    number of rules (nft JSON shows an iptables-nft comment only as an opaque xt match)."""
    kept = {}
    for key, handles in orders.items():
        lines = texts.get(key)
        if lines is not None and len(lines) == len(handles):
            handles = [h for h, line in zip(handles, lines, strict=True) if TRACE_PREFIX not in line]
        kept[key] = handles
    return kept
