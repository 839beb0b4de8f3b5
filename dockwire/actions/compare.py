"""Put the static verdict (`dockwire why`) next to what the probe saw; a disagreement is the interesting case.

Agreement means the same outcome and, when both name a dropping rule, the same rule. A disagreement means
the model is wrong or something outside the firewall rules is at play (rp_filter, ARP, MTU, a service
that is not listening, the destination's own rules).
"""

from __future__ import annotations

from dockwire.actions.endpoints import Source
from dockwire.actions.result import ProbeResult, StaticComparison
from dockwire.errors import DockwireError
from dockwire.model import HostModel, RuleRef

OTHER_CAUSES = "rp_filter, ARP, MTU, a service that is not listening, or the destination's own firewall"


def _static_question(source: Source, dst: str, result: ProbeResult) -> tuple[str, str, str, int | None]:
    """The probe as a `why` question: (src, dst, proto, port) in the verdict engine's endpoint syntax."""
    if source.kind == "container" and source.container is not None:
        src = source.container.name
    elif source.kind == "host":
        src = "host"
    else:
        src = f"outside:{result.src_ip}" if result.src_ip else "outside"
    proto = result.proto
    if proto == "trace":
        proto = "tcp" if result.port else "icmp"
    return src, dst, proto, result.port


def _same_rule(a: RuleRef, family: str, table: str, chain: str, position: int | None) -> bool:
    return (
        a.family == family
        and a.table == table
        and a.chain == chain
        and (a.position == position or a.position is None or position is None)
    )


def compare_static(model: HostModel, source: Source, dst: str, result: ProbeResult) -> StaticComparison:
    """Evaluate the same question statically and say whether the two stories agree."""
    try:
        from dockwire.verdict.verdict import evaluate
    except ImportError:
        return StaticComparison(note="the static verdict engine is not available")
    src_text, dst_text, proto, port = _static_question(source, dst, result)
    try:
        verdict = evaluate(model, src_text, dst_text, proto, port, family=result.family)
    except DockwireError as exc:
        return StaticComparison(note=f"no static verdict for this question: {exc}")
    allowed = {"allowed": True, "blocked": False}.get(verdict.verdict)
    culprit = verdict.culprit
    rule = None
    if culprit is not None:
        text = culprit.text if culprit.position is not None else (culprit.effect or culprit.text)
        rule = RuleRef(
            table=culprit.table,
            chain=culprit.chain,
            position=culprit.position,
            text=text,
            family=culprit.family,
            handle=culprit.handle,
            kind="rule" if culprit.position is not None else "policy",
        )
    summary = verdict.reason or verdict.verdict
    base = StaticComparison(available=True, allowed=allowed, summary=summary, rule=rule)
    probe = result.delivered
    if allowed is None or probe is None:
        return _with(base, None, "one side is uncertain, so there is nothing to compare")
    if allowed and probe:
        return _with(base, True, "")
    if not allowed and not probe:
        seen = result.evidence.dropped_by
        if (
            seen is not None
            and culprit is not None
            and not _same_rule(seen, culprit.family, culprit.table, culprit.chain, culprit.position)
        ):
            return _with(
                base,
                False,
                f"both say blocked, but the kernel names {seen.label()} while the static "
                f"verdict names {rule.label() if rule else culprit.text}",
            )
        return _with(base, True, "")
    if allowed and not probe:
        return _with(
            base,
            False,
            f"the static verdict says allowed, but the probe did not get through "
            f"({result.outcome}): the model is wrong or something else is at play "
            f"({OTHER_CAUSES})",
        )
    return _with(
        base,
        False,
        f"the static verdict says blocked, but the probe got through ({result.outcome}): "
        "the model is missing something (stale rules, a rule it misreads, a path it "
        "does not know)",
    )


def _with(base: StaticComparison, agrees: bool | None, note: str) -> StaticComparison:
    import msgspec

    return msgspec.structs.replace(base, agrees=agrees, note=note)
