"""A model whose rules differ from a cached one's in their counters only takes over its compiled rules, and
its verdicts are the same as a fresh compile's, with its own counters. On the recorded Docker 28.5.2 host."""

from __future__ import annotations

from pathlib import Path

import msgspec

from dockwire.model import Firewall, HostModel
from dockwire.verdict.context import cached_context, context_for, forget_context
from dockwire.verdict.render import verdict_json
from dockwire.verdict.ruleset import same_rules
from dockwire.verdict.verdict import evaluate
from tests.verdict_models import with_counters_moved, with_policy, with_rule

ENGINE_28 = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft.json"
#: A flow the 28.x direct-access rule drops (its culprit has counters), and one allowed across several chains.
FLOWS = (("dwlab-iso-a", "dwlab-iso-b", "icmp", None), ("dwlab-default-a", "dwlab-web", "tcp", 80))


def model() -> HostModel:
    from dockwire.snapshot import load

    return load(ENGINE_28)


def _forget(*models: HostModel) -> None:
    for m in models:
        forget_context(m)


def test_counters_alone_leave_the_rules_the_same_and_anything_else_does_not() -> None:
    old = model()
    assert same_rules(old.firewall, with_counters_moved(old, 5).firewall)
    assert not same_rules(
        old.firewall, with_rule(old, "filter", "DOCKER-USER", "-A DOCKER-USER -j RETURN").firewall
    )
    assert not same_rules(old.firewall, with_policy(old, "filter", "INPUT", "DROP").firewall)
    retagged = [
        msgspec.structs.replace(t, owner="someone") if t.name == "nat" else t for t in old.firewall.tables
    ]
    assert not same_rules(old.firewall, msgspec.structs.replace(old.firewall, tables=retagged))
    assert not same_rules(old.firewall, msgspec.structs.replace(old.firewall, ipsets={"dw": ["192.0.2.1"]}))
    assert not same_rules(old.firewall, Firewall())


def test_a_poll_with_moved_counters_takes_over_the_compiled_rules_and_shows_its_own_counters() -> None:
    old, new = model(), None
    new = with_counters_moved(old, 1000)
    _forget(old, new)
    context_for(old)
    reused = [verdict_json(evaluate(new, *flow)) for flow in FLOWS]
    old_rules = cached_context(old).ruleset  # type: ignore[union-attr]
    new_rules = cached_context(new).ruleset  # type: ignore[union-attr]
    pairs = [(a, b) for k, a in old_rules.chains.items() for b in [new_rules.chains[k]]]
    assert any(a.rules for a, _ in pairs)
    for a, b in pairs:
        assert b.table is not a.table and all(
            x.tests is y.tests and y.rule is r
            for x, y, r in zip(a.rules, b.rules, b.chain.rules, strict=True)
        )

    _forget(old, new)
    fresh = [verdict_json(evaluate(new, *flow)) for flow in FLOWS]
    assert reused == fresh
    blocked = evaluate(new, *FLOWS[0])
    assert blocked.culprit is not None and blocked.culprit.packets >= 1000
    _forget(new)


def test_a_changed_rule_is_compiled_anew() -> None:
    old = model()
    new = with_rule(old, "filter", "DOCKER-USER", "-A DOCKER-USER -s 198.51.100.7/32 -j DROP")
    _forget(old, new)
    context_for(old)
    assert evaluate(new, "dwlab-default-a", "dwlab-web", "tcp", 80).verdict == "allowed"
    old_chain = cached_context(old).ruleset.chains  # type: ignore[union-attr]
    new_chain = cached_context(new).ruleset.chains  # type: ignore[union-attr]
    pairs = [(a, b) for k, c in new_chain.items() for a, b in zip(old_chain[k].rules, c.rules, strict=False)]
    assert any(b.tests for _, b in pairs)
    assert not any(a.tests is b.tests for a, b in pairs if b.tests)
    _forget(old, new)
