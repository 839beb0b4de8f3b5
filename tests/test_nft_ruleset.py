"""nft JSON parsing against recorded `nft -j list ruleset` / `nft -a list ruleset` pairs.

nft-ruleset.*: recorded on the lab host (iptables-nft compat tables plus the hand-written `inet dwtest-fw`).
docker29-nftables.*: Docker 29's documented nftables layout loaded into a private netns and listed by the real
nft - built from the docs, not recorded from a Docker 29 daemon (see docker29-nftables-layout.nft).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dockwire.model import Rule, Table
from dockwire.probes.nft_ruleset import NftJsonError, parse_nft_json

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"
PAIRS = [("nft-ruleset.json", "nft-ruleset-a.txt"), ("docker29-nftables.json", "docker29-nftables-a.txt")]


def nft_text_rules(name: str) -> dict[tuple[str, str, int], str]:
    """(family, table, handle) -> rule line of `nft -a list ruleset`, counter values dropped."""
    out: dict[tuple[str, str, int], str] = {}
    table = ("", "")
    for line in (FIXTURES / name).read_text().splitlines():
        if m := re.match(r"table (\S+) (\S+) \{", line):
            table = (m.group(1), m.group(2))
            continue
        stripped = line.strip()
        m = re.match(r"(.*) # handle (\d+)$", stripped)
        if m and not stripped.startswith(("chain ", "set ", "map ", "table ")):
            text = re.sub(r"counter packets \d+ bytes \d+", "counter", m.group(1)).strip()
            out[(*table, int(m.group(2)))] = text
    return out


def json_rules(name: str) -> list[dict[str, Any]]:
    data = json.loads((FIXTURES / name).read_text())
    return [o["rule"] for o in data["nftables"] if "rule" in o]


def load(name: str) -> list[Table]:
    return parse_nft_json((FIXTURES / name).read_text())


def all_rules(tables: list[Table]) -> list[tuple[Table, Rule]]:
    return [(t, r) for t in tables for c in t.chains for r in c.rules]


def by_text(tables: list[Table], text: str) -> Rule:
    return next(r for _, r in all_rules(tables) if r.text == text)


@pytest.mark.parametrize(("json_name", "text_name"), PAIRS)
def test_every_rule_parses(json_name: str, text_name: str) -> None:
    tables = load(json_name)
    source = json_rules(json_name)
    parsed = all_rules(tables)
    assert len(parsed) == len(source)
    assert {(t.family, t.name, r.chain, r.handle) for t, r in parsed} == {
        (r["family"], r["table"], r["chain"], r["handle"]) for r in source
    }
    for table in tables:
        assert table.source == "nftables"
        for chain in table.chains:
            assert [r.position for r in chain.rules] == list(range(1, len(chain.rules) + 1))


@pytest.mark.parametrize(("json_name", "text_name"), PAIRS)
def test_text_matches_nft(json_name: str, text_name: str) -> None:
    """Every rule dockwire understands renders exactly as nft prints it (counter values aside)."""
    expected = nft_text_rules(text_name)
    checked = 0
    for table, rule in all_rules(load(json_name)):
        if rule.unknown:  # xt compat expressions: nft itself translates those through libxtables
            continue
        assert rule.text == expected[(table.family, table.name, rule.handle or -1)]
        checked += 1
    assert checked >= 30


def test_counters() -> None:
    source = {(r["family"], r["table"], r["handle"]): r for r in json_rules("nft-ruleset.json")}
    moved = 0
    for table, rule in all_rules(load("nft-ruleset.json")):
        exprs = source[(table.family, table.name, rule.handle)]["expr"]
        counters = [e["counter"] for e in exprs if "counter" in e]
        assert (rule.packets, rule.bytes) == (
            sum(c["packets"] for c in counters),
            sum(c["bytes"] for c in counters),
        )
        moved += rule.packets > 0
    assert moved > 0


def test_matches_are_normalized() -> None:
    tables = load("docker29-nftables.json")
    rule = by_text(
        tables, 'ip daddr 172.17.0.2 iifname != "docker0" counter drop comment "DROP DIRECT ACCESS"'
    )
    daddr, iif = rule.matches
    assert (daddr.module, daddr.option, daddr.op, daddr.args, daddr.negated) == (
        "nft",
        "ip daddr",
        "==",
        ["172.17.0.2"],
        False,
    )
    assert (iif.option, iif.op, iif.args, iif.negated) == ("meta iifname", "!=", ["docker0"], True)
    assert rule.comment == "DROP DIRECT ACCESS"
    assert rule.target is not None and (rule.target.name, rule.target.kind) == ("DROP", "verdict")
    ct = by_text(tables, "ct state established,related counter accept").matches[0]
    assert (ct.option, ct.op, ct.args) == ("ct state", "==", ["established", "related"])
    fib = by_text(tables, "fib daddr type local counter jump nat-prerouting-and-output")
    assert (fib.matches[0].option, fib.matches[0].args) == ("fib daddr type", ["local"])
    assert fib.target is not None and (fib.target.name, fib.target.kind) == (
        "nat-prerouting-and-output",
        "jump",
    )
    mine = load("nft-ruleset.json")
    ports = by_text(mine, "tcp dport { 9, 2222 } counter return")
    assert (ports.matches[0].option, ports.matches[0].args) == ("tcp dport", ["9", "2222"])
    flags = by_text(mine, "tcp dport 1024-2047 tcp flags syn / syn,ack counter return")
    assert [(m.option, m.args) for m in flags.matches] == [
        ("tcp dport", ["1024-2047"]),
        ("tcp flags & (syn | ack)", ["syn"]),
    ]
    mark = by_text(mine, "meta mark 0x00000042 ip saddr 10.213.41.0/24 counter meta mark set 0x00000043")
    assert (mark.matches[0].option, mark.matches[0].args) == ("meta mark", ["0x00000042"])
    assert mark.target is not None and (mark.target.name, mark.target.args) == (
        "meta mark set",
        ["0x00000043"],
    )


def test_verdict_maps_nat_and_sets() -> None:
    tables = load("docker29-nftables.json")
    (table,) = tables
    vmap = by_text(tables, "oifname vmap @filter-forward-in-jumps")
    assert vmap.target is not None
    assert (vmap.target.kind, vmap.target.args) == ("vmap", ["meta oifname", "@filter-forward-in-jumps"])
    assert table.sets["filter-forward-in-jumps"][0] == '"docker0" : jump filter-forward-in__docker0'
    dnat = by_text(tables, 'iifname != "docker0" tcp dport 8080 counter dnat to 172.17.0.2:80 comment "DNAT"')
    assert dnat.target is not None and (dnat.target.name, dnat.target.args) == (
        "dnat",
        ["to", "172.17.0.2:80"],
    )
    masq = by_text(
        tables, 'oifname != "docker0" ip saddr 172.17.0.0/16 counter masquerade comment "MASQUERADE"'
    )
    assert masq.target is not None and (masq.target.name, masq.target.kind) == ("masquerade", "extension")
    mine = load("nft-ruleset.json")
    inline = by_text(mine, "ip saddr @nets meta l4proto vmap { tcp : jump tcp-in, udp : continue }")
    assert inline.matches[0].args == ["@nets"]
    assert inline.target is not None and inline.target.args[1] == "{ tcp : jump tcp-in, udp : continue }"
    snat = by_text(mine, 'ip saddr 10.213.43.11 oifname "lo" tcp dport 9 counter snat ip to 127.0.0.1:9')
    assert snat.target is not None and snat.target.args == ["ip", "to", "127.0.0.1:9"]
    own = next(t for t in mine if t.name == "dwtest-fw")
    assert own.sets == {
        "hosts": ["10.213.41.10", "10.213.41.11"],
        "nets": ["10.213.42.0/24", "10.213.43.0/24"],
    }


def test_base_chains() -> None:
    (table,) = load("docker29-nftables.json")
    chains = {c.name: c for c in table.chains}
    fwd = chains["filter-FORWARD"]
    assert (fwd.builtin, fwd.hook, fwd.priority, fwd.policy, fwd.type) == (
        True,
        "forward",
        0,
        "ACCEPT",
        "filter",
    )
    assert (chains["nat-OUTPUT"].priority, chains["nat-OUTPUT"].type) == (-100, "nat")
    assert chains["raw-PREROUTING"].priority == -300
    regular = chains["nat-prerouting-and-output"]
    assert (regular.builtin, regular.hook, regular.priority, regular.policy) == (False, "", None, None)
    filt = next(t for t in load("nft-ruleset.json") if (t.family, t.name) == ("ip", "filter"))
    assert next(c for c in filt.chains if c.name == "FORWARD").policy == "DROP"


def test_unknown_expressions_kept_verbatim() -> None:
    # Real: iptables-nft's compat tables carry xt expressions.
    tables = load("nft-ruleset.json")
    ct_rules = [
        r for t, r in all_rules(tables) if (t.family, t.name) == ("ip", "filter") and r.chain == "DOCKER-CT"
    ]
    assert ct_rules and all(r.unknown for r in ct_rules)
    xt = next(m for m in ct_rules[0].matches if not m.known)
    assert json.loads(xt.args[0]) == {"xt": {"type": "match", "name": "conntrack"}}
    assert 'xt match "conntrack"' in ct_rules[0].text
    # Invented: an expression dockwire has never heard of, inside and outside a match.
    odd = {"frobnicate": {"level": 3}}
    inner = {"match": {"op": "==", "left": {"osf": {"key": "name"}}, "right": "Linux"}}
    data = {
        "nftables": [
            {"table": {"family": "inet", "name": "t", "handle": 1}},
            {"chain": {"family": "inet", "table": "t", "name": "c", "handle": 1}},
            {
                "rule": {
                    "family": "inet",
                    "table": "t",
                    "chain": "c",
                    "handle": 2,
                    "expr": [odd, inner, {"accept": None}],
                }
            },
        ]
    }
    ((rule),) = [r for c in parse_nft_json(data)[0].chains for r in c.rules]
    assert rule.unknown
    assert [json.loads(m.args[0]) for m in rule.matches if not m.known] == [odd, inner]
    assert rule.target is not None and rule.target.name == "ACCEPT"


def test_bad_input() -> None:
    with pytest.raises(NftJsonError, match="not JSON"):
        parse_nft_json("{nope")
    with pytest.raises(NftJsonError, match="nftables"):
        parse_nft_json({"tables": []})
    assert parse_nft_json('{"nftables": []}') == []
