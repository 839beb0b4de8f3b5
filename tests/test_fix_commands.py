"""A fix that deletes a rule must name exactly that rule, as iptables itself reads its words."""

from __future__ import annotations

import shlex

from dockwire.model import Chain, Firewall, Rule, Table
from dockwire.verdict.fixes import iptables_command


def _host(text: str, source: str = "iptables-nft", backend: str = "nft") -> tuple[Table, Rule, Firewall]:
    rule = Rule(table="filter", chain="DOCKER-USER", position=1, text=text)
    table = Table(name="filter", family="ip", source=source, chains=[Chain(name="DOCKER-USER", rules=[rule])])
    return table, rule, Firewall(iptables_backend=backend, tables=[table])


def test_an_escaped_comment_is_given_back_with_its_real_characters() -> None:
    """iptables-save escapes `'`, `"` and `\\` inside a quoted comment; the -D spec carries the comment
    itself, so the shell hands iptables exactly the words it stored."""
    saved = r'-A DOCKER-USER -s 10.0.0.1/32 -m comment --comment "it\'s \"x\" \\ y" -j DROP'
    command = iptables_command(*_host(saved))
    words = shlex.split(command)
    assert words[:3] == ["iptables", "-D", "DOCKER-USER"]
    assert words[words.index("--comment") + 1] == 'it\'s "x" \\ y'


def test_an_unbalanced_quote_in_a_recorded_rule_gives_a_command_not_a_crash() -> None:
    command = iptables_command(*_host('-A DOCKER-USER -m comment --comment "never closed -j DROP'))
    assert command.startswith("iptables -D DOCKER-USER ")


def test_the_tool_is_the_one_that_reaches_the_rules_backend() -> None:
    table, rule, firewall = _host("-A DOCKER-USER -j DROP", source="iptables-legacy", backend="nft")
    assert iptables_command(table, rule, firewall).startswith("iptables-legacy -D DOCKER-USER")
