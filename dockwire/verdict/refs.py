"""A rule the walk met (a `Hit`) as the verdict names it: the model's `RuleRef`."""

from __future__ import annotations

from dockwire.model import RuleRef
from dockwire.verdict.netfilter_eval import Hit


def rule_ref(direction: str, hit: Hit, host: str = "") -> RuleRef:
    """The rule (or the policy) of `hit`, met on the flow's `direction` (on `host`, when a flow crosses
    several)."""
    table = hit.chain.table
    chain = hit.chain.chain
    if hit.rule is None:
        policy = (chain.policy or "ACCEPT").upper()
        text = (
            f"-P {chain.name} {policy}" if table.source.startswith("iptables") else f"policy {policy.lower()}"
        )
        return RuleRef(
            direction=direction,
            host=host,
            hook=hit.where.hook,
            source=table.source,
            family=table.family,
            table=table.name,
            chain=chain.name,
            position=None,
            text=text,
            effect=f"policy {policy}",
            packets=chain.packets,
            bytes=chain.bytes,
            owner=chain.owner,
            kind="policy",
        )
    rule = hit.rule.rule
    return RuleRef(
        direction=direction,
        host=host,
        hook=hit.where.hook,
        source=table.source,
        family=table.family,
        table=table.name,
        chain=rule.chain,
        position=rule.position,
        text=rule.text,
        effect=hit.effect,
        packets=rule.packets,
        bytes=rule.bytes,
        owner=rule.owner,
        handle=rule.handle,
        unknown=rule.unknown or hit.assumed,
    )
