"""A ProbeResult as text for the terminal (the TUI shows the same fields its own way)."""

from __future__ import annotations

from dockwire.actions.result import PacketTrace, ProbeResult, TraceStep
from dockwire.text import safe

DISAGREE_BANNER = "!!! THE PROBE AND THE STATIC VERDICT DISAGREE !!!"


def _step_line(step: TraceStep) -> str:
    family = "" if step.family == "ip" else f"{step.family} "
    where = f"{family}{step.table}/{step.chain}"
    if step.kind == "policy":
        return f"{where} policy {step.verdict}"
    if step.kind == "return":
        return f"{where} end of chain ({step.verdict})"
    ref = step.rule
    pos = f" #{ref.position}" if ref is not None and ref.position is not None else ""
    text = ref.text if ref is not None and ref.text else step.kernel_text
    return f"{where}{pos} {step.verdict}: {text}"


def _packet_lines(p: PacketTrace) -> list[str]:
    fate = {"drop": "dropped", "accept": "passed the host's rules", "": "no host rule on its path"}.get(
        p.fate, p.fate
    )
    lines = [f"  {p.direction} packet (trace id {p.trace_id or '-'}): {fate}"]
    packets = iter(p.packets)
    first = next(packets, None)
    if first:
        lines.append(f"    entered at {first}")
    lines.extend(f"    -> {_step_line(s)}" for s in p.steps)
    lines.extend(f"    nat: {n}" for n in p.nat)
    return lines


def render_text(r: ProbeResult, verbose: bool = False) -> str:
    """The result, one fact a line. Names, rule texts and the kernel's words come from the host: each line
    is escaped as a whole (`dockwire.text.safe`; escaping is per character, so this is the same as escaping
    every field), so the only line breaks are these lines' own and no control reaches the terminal."""
    out = [r.summary]
    if r.route and r.outcome != "no-route":
        out.append(f"  route in {r.src}: {r.route}")
    if r.outcome == "no-route" and r.routes:
        out.append(f"  routing table of {r.src}:")
        out.extend(f"    {line}" for line in r.routes)
    for reply in r.replies if r.proto != "trace" else []:
        rtt = f" {reply.rtt_ms:g} ms" if reply.rtt_ms is not None else ""
        src = f" from {reply.src}" if reply.src else ""
        detail = f" ({reply.detail})" if reply.detail else ""
        out.append(f"  #{reply.seq}: {reply.kind.replace('none', 'no answer')}{src}{detail}{rtt}")
    if r.hops:
        out.append("  hops:")
        for h in r.hops:
            rtt = f"  {h.rtt_ms:g} ms" if h.rtt_ms is not None else ""
            out.append(f"    {h.ttl:>2}  {h.address or '*':<15} {h.role if h.role != '*' else '':<12}{rtt}")
    if r.answers:
        out.append(f"  answers: {', '.join(r.answers)}")
    ev = r.evidence
    run = f", run {r.run_id}" if r.run_id and ev.mode != "none" else ""
    out.append(f"  kernel evidence: {ev.mode}{run}" + (f" ({ev.note})" if ev.note else ""))
    if ev.dropped_by is not None:
        out.append(f"  dropped by: {ev.dropped_by.label()}")
    shown = ev.packets if verbose else _interesting(ev.packets)
    for p in shown:
        out.extend(_packet_lines(p))
    if len(shown) < len(ev.packets):
        out.append(f"  ({len(ev.packets) - len(shown)} more traced packets: use --verbose)")
    if ev.mode == "nftrace" and r.outcome not in ("no-route", "not-sent"):
        out.append(f"  reply path traced: {'yes' if ev.reply_traced else 'no'}")
    if ev.counted:
        out.append("  rules whose counters grew:")
        out.extend(f"    {ref.label()}" for ref in ev.counted)
    for n in ev.nat:
        out.append(f"  NAT: {n}")
    st = r.static
    if st.available:
        verdict = {True: "allowed", False: "blocked", None: "uncertain"}[st.allowed]
        rule = f" by {st.rule.label()}" if st.rule is not None else ""
        agree = {True: "agrees with the probe", False: "DISAGREES", None: "not comparable"}[st.agrees]
        out.append(f"  static verdict: {verdict}{rule} ({agree})")
        if st.agrees is False:
            out.append(f"  {DISAGREE_BANNER}")
            out.append(f"    probe:  {r.summary}")
            out.append(f"    static: {st.summary}")
            out.append(f"    why it matters: {st.note}")
        elif st.note and st.agrees is None:
            out.append(f"    ({st.note})")
    elif st.note:
        out.append(f"  static verdict: {st.note}")
    out.extend(f"  note: {w}" for w in r.warnings)
    return "\n".join(map(safe, out))


def _interesting(packets: list[PacketTrace]) -> list[PacketTrace]:
    """The first request and first reply, plus every dropped packet."""
    shown: list[PacketTrace] = []
    for direction in ("request", "reply"):
        first = next((p for p in packets if p.direction == direction), None)
        if first is not None:
            shown.append(first)
    if not any(p.fate == "drop" for p in shown):
        dropped = next((p for p in packets if p.fate == "drop"), None)
        if dropped is not None:
            shown.append(dropped)
    return [p for p in packets if p in shown]
