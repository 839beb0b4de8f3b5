"""dockwire's temporary trace rules never show in the model, and a culprit finds its row by identity.

A read of the firewall can happen while a probe's trace rule sits at the top of raw PREROUTING (legacy
`-j TRACE`) or its trace table exists (nftrace): the model leaves both out and numbers the other rules as if
they were not there. The firewall pane then lights the culprit by handle or text, never by a position taken
from another read.
"""

from __future__ import annotations

from pathlib import Path

from dockwire.actions.evidence import RuleMapper, chain_texts_from_save, without_trace_handles
from dockwire.actions.tracing.parse import TraceEvent
from dockwire.model import HostModel, RuleRef
from dockwire.probes.firewall import CommandResult, RawFirewall, build_firewall
from dockwire.widgets.firewall import key_for_spot, rule_keys

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"
TRACE_RULE = (
    "[0:0] -A PREROUTING -p icmp -m u32 --u32 0x0>>0x16&0x3c@0x4>>0x10=0x1234 "
    '-m comment --comment "dockwire-trace-4242-abcdef" -j TRACE'
)
TRACE_TABLE = (
    '{"nftables": [{"table": {"family": "ip", "name": "dockwire-trace-4242-abcdef", "handle": 9}},'
    ' {"chain": {"family": "ip", "table": "dockwire-trace-4242-abcdef", "name": "pre", "handle": 1,'
    ' "type": "filter", "hook": "prerouting", "prio": -350, "policy": "accept"}}]}'
)


def _raw(save: str, nft: str = '{"nftables": []}') -> RawFirewall:
    return RawFirewall(
        backend="legacy",
        outputs={
            "iptables-legacy:ip": CommandResult(("iptables-legacy-save", "-c"), save),
            "nft:ruleset": CommandResult(("nft", "-j", "list", "ruleset"), nft),
        },
    )


def _with_trace_rule(save: str) -> str:
    head, sep, rest = save.partition(":OUTPUT ACCEPT [0:0]\n")
    assert sep, "the fixture's raw table has an OUTPUT policy line"
    return head + sep + TRACE_RULE + "\n" + rest


def _raw_prerouting(model_tables: list) -> list:
    table = next(t for t in model_tables if t.name == "raw" and t.family == "ip")
    return next(c for c in table.chains if c.name == "PREROUTING").rules


def test_a_read_during_a_trace_numbers_the_rules_as_without_it() -> None:
    save = (FIXTURES / "iptables-save-c.txt").read_text()
    clean, _ = build_firewall(_raw(save))
    traced, _ = build_firewall(_raw(_with_trace_rule(save), TRACE_TABLE))
    before = [(r.position, r.text) for r in _raw_prerouting(clean.tables)]
    during = [(r.position, r.text) for r in _raw_prerouting(traced.tables)]
    assert during == before and before[0][0] == 1
    assert not any("dockwire-trace-" in t.name for t in traced.tables)


def test_the_culprit_row_is_found_by_its_text_not_a_stale_position() -> None:
    save = (FIXTURES / "iptables-save-c.txt").read_text()
    firewall, _ = build_firewall(_raw(save))
    table = next(t for t in firewall.tables if t.name == "raw")
    chain = next(c for c in table.chains if c.name == "PREROUTING")
    target = chain.rules[3]
    stale = RuleRef(table="raw", chain="PREROUTING", position=target.position + 1, text=target.text)
    assert key_for_spot(firewall, stale) == rule_keys(table, chain)[3]
    assert stale.same_rule(
        RuleRef(table="raw", chain="PREROUTING", position=target.position, text=target.text)
    )
    other = chain.rules[4]
    assert not stale.same_rule(
        RuleRef(table="raw", chain="PREROUTING", position=stale.position, text=other.text)
    )


def test_kernel_rule_numbers_skip_every_trace_rule_above_them() -> None:
    """The kernel log numbers rules with all trace rules present (ours at the top, another run's below)."""
    save = (FIXTURES / "iptables-save-c.txt").read_text()
    firewall, _ = build_firewall(_raw(save))
    model = HostModel(firewall=firewall)
    rules = _raw_prerouting(firewall.tables)
    mapper = RuleMapper(model, trace_rules={("raw", "PREROUTING"): [1, 2, 4]})
    event = TraceEvent(trace_id="1", kind="rule", family="ip", table="raw", chain="PREROUTING", rulenum=7)
    ref = mapper.rule(event)
    assert ref is not None and (ref.position, ref.text) == (4, rules[3].text)


def test_nft_handles_of_trace_rules_are_dropped_by_their_iptables_text() -> None:
    """nft JSON hides an iptables-nft comment in an xt match: the rule texts read beside it tell which."""
    save = _with_trace_rule("*raw\n:PREROUTING ACCEPT [0:0]\n:OUTPUT ACCEPT [0:0]\n")
    save += "[0:0] -A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP\n"
    texts = chain_texts_from_save(save, "ip")
    assert texts[("ip", "raw", "PREROUTING")][1] == "-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP"
    orders = {("ip", "raw", "PREROUTING"): [136, 7]}
    assert without_trace_handles(orders, texts) == {("ip", "raw", "PREROUTING"): [7]}
    # Counts that disagree (the ruleset changed between the reads): the order is left as it was.
    assert without_trace_handles({("ip", "raw", "PREROUTING"): [1, 2, 3]}, texts)[
        ("ip", "raw", "PREROUTING")
    ] == [1, 2, 3]
