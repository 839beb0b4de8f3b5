"""iptables-save parsing, against output recorded on a Docker 28.5.2 host (scripts/record-firewall-fixtures).

Lines marked "invented" are not from the recording: they cover forms iptables-save never prints (the old
`-s ! addr` negation) or modules no real rule on the lab host uses.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest

from dockwire.model import Rule, Table
from dockwire.probes.iptables_save import (
    IptablesSaveError,
    parse_iptables_save,
    parse_rule_text,
)
from dockwire.rule_words import tokenize

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"
SAVE_FILES = {"iptables-save-c.txt": "ip", "iptables-save.txt": "ip", "ip6tables-save-c.txt": "ip6"}
_COUNTER = re.compile(r"^\[(\d+):(\d+)\] ")


def load(name: str) -> list[Table]:
    return parse_iptables_save((FIXTURES / name).read_text(), "iptables-nft", SAVE_FILES.get(name, "ip"))


def rules_of(tables: list[Table]) -> list[Rule]:
    return [r for t in tables for c in t.chains for r in c.rules]


def find(tables: list[Table], table: str, text: str) -> Rule:
    return next(r for t in tables if t.name == table for c in t.chains for r in c.rules if r.text == text)


def source_rules(name: str) -> dict[str, list[tuple[str, int, int]]]:
    """Per table: (text, packets, bytes) of every -A line, straight from the file."""
    out: dict[str, list[tuple[str, int, int]]] = {}
    table = ""
    for line in (FIXTURES / name).read_text().splitlines():
        if line.startswith("*"):
            table = line[1:]
            out[table] = []
        m = _COUNTER.match(line)
        body = line[m.end() :] if m else line
        if body.startswith("-A "):
            out[table].append((body, int(m.group(1)) if m else 0, int(m.group(2)) if m else 0))
    return out


@pytest.mark.parametrize("name", sorted(SAVE_FILES))
def test_every_rule_parses_and_round_trips(name: str) -> None:
    """Each -A line becomes one Rule whose text is the line without its counters, in file order."""
    tables = load(name)
    expected = source_rules(name)
    assert [t.name for t in tables] == list(expected)
    for table in tables:
        # Chains keep iptables-save's order; rules are listed chain by chain, so compare per chain.
        got = [(r.text, r.packets, r.bytes) for c in table.chains for r in c.rules]
        assert sorted(got) == sorted(expected[table.name])
        for chain in table.chains:
            in_file = [e for e in expected[table.name] if e[0].split()[1] == chain.name]
            assert [(r.text, r.packets, r.bytes) for r in chain.rules] == in_file
            assert [r.position for r in chain.rules] == list(range(1, len(chain.rules) + 1))
            assert all(r.chain == chain.name and r.table == table.name for r in chain.rules)


def test_no_token_is_dropped() -> None:
    """Every word of every recorded rule ends up in a match or the target."""
    for name in SAVE_FILES:
        for rule in rules_of(load(name)):
            words = Counter(t.text for t in tokenize(rule.text)[2:] if t.text not in ("!", "-m", "-j", "-g"))
            kept: Counter[str] = Counter()
            for m in rule.matches:
                kept.update([m.option, *m.args] if m.option else m.args)
            modules = {m.module for m in rule.matches if m.module}
            kept.update(w for w in words if w in modules)  # a module's name is kept once per -m
            assert rule.target is not None
            kept.update([rule.target.name, *rule.target.args])
            assert not words - kept, rule.text


def test_counters_and_policies() -> None:
    tables = load("iptables-save-c.txt")
    filt = next(t for t in tables if t.name == "filter")
    forward = next(c for c in filt.chains if c.name == "FORWARD")
    assert (forward.policy, forward.builtin) == ("DROP", True)
    user = next(c for c in filt.chains if c.name == "DOCKER-USER")
    assert (user.policy, user.builtin) == (None, False)
    rule = find(
        tables,
        "filter",
        "-A DOCKER-USER -s 10.213.41.11/32 -d 10.213.41.10/32 -p icmp -m comment --comment dwtest -j RETURN",
    )
    assert (rule.packets, rule.bytes) == (3, 252)
    assert sum(r.packets for r in rules_of(tables)) > 0


def test_without_counters_same_rules() -> None:
    with_c = [r.text for r in rules_of(load("iptables-save-c.txt"))]
    without = rules_of(load("iptables-save.txt"))
    assert [r.text for r in without] == with_c
    assert all(r.packets == 0 and r.bytes == 0 for r in without)


def test_negation() -> None:
    tables = load("iptables-save-c.txt")
    rule = find(tables, "filter", "-A DOCKER ! -i docker0 -o docker0 -j DROP")
    assert [(m.option, m.args, m.negated) for m in rule.matches] == [
        ("-i", ["docker0"], True),
        ("-o", ["docker0"], False),
    ]
    rule = find(
        tables,
        "filter",
        "-A DOCKER-USER ! -s 10.213.41.0/24 -d 10.213.42.0/24 -m conntrack --ctstate NEW -m limit "
        "--limit 10/sec -j RETURN",
    )
    src, dst, ct, limit = rule.matches
    assert (src.option, src.negated, dst.negated) == ("-s", True, False)
    assert (ct.module, ct.option, ct.args, ct.negated, ct.known) == (
        "conntrack",
        "--ctstate",
        ["NEW"],
        False,
        True,
    )
    assert (limit.module, limit.args) == ("limit", ["10/sec"])


def test_legacy_negation_forms() -> None:
    """Invented: the pre-1.4.3 `-s ! addr` / `--opt ! value` spellings mean the same as `! -s addr`."""
    old = parse_rule_text(
        "-A FORWARD -s ! 10.0.0.0/8 -p tcp -m tcp --dport ! 22 -m conntrack --ctstate ! INVALID -j DROP"
    )
    new = parse_rule_text(
        "-A FORWARD ! -s 10.0.0.0/8 -p tcp -m tcp ! --dport 22 -m conntrack ! --ctstate INVALID -j DROP"
    )
    assert old.matches == new.matches
    assert [m.negated for m in new.matches] == [True, False, True, True]
    assert not old.unknown


def test_multiport_and_comment() -> None:
    tables = load("iptables-save-c.txt")
    text = (
        "-A DOCKER-USER -s 10.213.41.0/24 -p tcp -m multiport --dports 9,2222:2230 "
        '-m comment --comment "dwtest fixture: multiport" -j DROP'
    )
    rule = find(tables, "filter", text)
    multiport = next(m for m in rule.matches if m.module == "multiport")
    assert (multiport.option, multiport.args, multiport.known) == ("--dports", ["9,2222:2230"], True)
    assert rule.comment == "dwtest fixture: multiport"
    assert rule.text == text  # quotes kept in the text
    assert rule.target is not None and (rule.target.name, rule.target.kind) == ("DROP", "verdict")


def test_unknown_module_kept_verbatim() -> None:
    # Real line: `length` is not a module dockwire knows.
    rule = find(
        load("iptables-save-c.txt"),
        "filter",
        "-A DOCKER-USER -s 10.213.42.0/24 -m length --length 1400:65535 -m comment --comment "
        "dwtest-unknown-module -j RETURN",
    )
    length = next(m for m in rule.matches if m.module == "length")
    assert (length.option, length.args, length.known) == ("--length", ["1400:65535"], False)
    assert rule.unknown and rule.comment == "dwtest-unknown-module"
    # Invented module with a flag without value, a negated option, a quoted value that looks like an option.
    parsed = parse_rule_text('-A INPUT -m frobnicate --wobble 3 4 --quiet ! --level "-x y" -j ACCEPT')
    assert parsed.unknown
    assert [(m.module, m.option, m.args, m.negated, m.known) for m in parsed.matches] == [
        ("frobnicate", "--wobble", ["3", "4"], False, False),
        ("frobnicate", "--quiet", [], False, False),
        ("frobnicate", "--level", ["-x y"], True, False),
    ]


def test_targets() -> None:
    tables = load("iptables-save-c.txt")
    dnat = find(
        tables,
        "nat",
        "-A DOCKER ! -i br-6cef8cdf2aa6 -p tcp -m tcp --dport 8080 -j DNAT --to-destination 10.213.41.10:80",
    )
    assert dnat.target is not None
    assert (dnat.target.name, dnat.target.kind, dnat.target.args) == (
        "DNAT",
        "extension",
        ["--to-destination", "10.213.41.10:80"],
    )
    tcp = next(m for m in dnat.matches if m.module == "tcp")
    assert (tcp.option, tcp.args) == ("--dport", ["8080"])
    jump = find(tables, "filter", "-A FORWARD -j DOCKER-USER")
    assert jump.target is not None and (jump.target.kind, jump.matches) == ("jump", [])
    log = find(
        tables,
        "filter",
        "-A DOCKER-USER -s 10.213.42.11/32 -p udp -m udp --dport 9 -m limit --limit 1/min -j LOG "
        '--log-prefix "dwtest drop: "',
    )
    assert log.target is not None and log.target.args == ["--log-prefix", "dwtest drop: "]
    assert not log.unknown
    reject = find(
        tables,
        "filter",
        "-A DOCKER-USER -s 10.213.42.11/32 -p udp -m udp --dport 9 -j REJECT --reject-with "
        "icmp-port-unreachable",
    )
    assert reject.target is not None and reject.target.kind == "extension"
    v6 = parse_iptables_save((FIXTURES / "ip6tables-save-c.txt").read_text(), "iptables-nft", "ip6")
    dnat6 = next(r for r in rules_of(v6) if r.target and r.target.name == "DNAT")
    assert dnat6.target is not None and dnat6.target.args == ["--to-destination", "[fd42:d0c:41::2]:80"]
    assert next(m for m in dnat6.matches if m.option == "-s").args == ["fe80::/10"]


def test_goto_and_unknown_target() -> None:
    """Invented: -g to a chain, and a target extension dockwire does not know."""
    text = (
        "*filter\n:FORWARD ACCEPT [0:0]\n:MINE - [0:0]\n"
        "-A FORWARD -i eth9 -g MINE\n-A MINE -j FROBNICATE --level 3\nCOMMIT\n"
    )
    (table,) = parse_iptables_save(text, "iptables-legacy")
    goto, other = [r for c in table.chains for r in c.rules]
    assert (
        goto.target is not None
        and (goto.target.name, goto.target.kind) == ("MINE", "goto")
        and not goto.unknown
    )
    assert other.target is not None and (other.target.kind, other.target.args) == (
        "extension",
        ["--level", "3"],
    )
    assert other.unknown


def test_rule_for_undeclared_chain_and_errors() -> None:
    (table,) = parse_iptables_save("*filter\n-A LATE -j ACCEPT\nCOMMIT\n", "iptables-nft")
    assert [c.name for c in table.chains] == ["LATE"]
    with pytest.raises(IptablesSaveError, match="outside a"):
        parse_iptables_save("-A FORWARD -j ACCEPT\n", "iptables-nft")
    with pytest.raises(IptablesSaveError, match="unexpected"):
        parse_iptables_save("*filter\nhello world\n", "iptables-nft")


def test_tokenize_quotes() -> None:
    toks = tokenize(r'-m comment --comment "say \"hi\" \\ now" -j LOG --log-prefix ' + "'a b'")
    assert [t.text for t in toks] == [
        "-m",
        "comment",
        "--comment",
        'say "hi" \\ now',
        "-j",
        "LOG",
        "--log-prefix",
        "a b",
    ]
    assert [t.quoted for t in toks][3] and not toks[2].quoted
