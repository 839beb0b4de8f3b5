"""Composition of iptables-save text from libiptc parts (the legacy reader's fallback path).

libiptc itself is not exercised here: this host runs iptables-nft, and python-iptables would create legacy
tables as a side effect. Instead every recorded rule is taken apart the way python-iptables presents a rule
(addresses with dotted netmasks, "!" prefixes, each match's save() output) and composed back: the result
must be the recorded line, and it must parse back to the same Rule.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from dockwire.model import Match, Rule
from dockwire.probes.iptables_legacy import ChainParts, RuleParts, compose_rule, compose_table, main
from dockwire.probes.iptables_save import parse_iptables_save
from dockwire.rule_words import tokenize

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"


def _arg(word: str) -> str:
    return f'"{word}"' if (" " in word or not word) else word


def _saved(matches: list[Match]) -> str:
    """What an extension's save() prints for these options: ` [! ]--opt args...`."""
    out = ""
    for m in matches:
        if not m.option:
            continue
        out += " ! " if m.negated else " "
        out += " ".join([m.option, *(_arg(a) for a in m.args)])
    return out


def _address(value: str, negated: bool, family: str) -> str:
    if not value:
        return "0.0.0.0/0.0.0.0" if family == "ip" else "::/0"
    net = ipaddress.ip_network(value, strict=False)
    addr = value.split("/")[0]
    mask = str(net.netmask) if family == "ip" else str(net.prefixlen)
    return ("!" if negated else "") + f"{addr}/{mask}"


def parts_like_iptc(rule: Rule, family: str) -> RuleParts:
    """The pieces python-iptables would hand over for this rule."""
    builtin = {m.option: m for m in rule.matches if not m.module}
    modules: list[tuple[str, list[Match]]] = []
    for m in rule.matches:
        if not m.module:
            continue
        if modules and modules[-1][0] == m.module:
            modules[-1][1].append(m)
        else:
            modules.append((m.module, [m]))

    def field(option: str) -> str:
        m = builtin.get(option)
        return ("!" if m.negated else "") + m.args[0] if m else ""

    src, dst = builtin.get("-s"), builtin.get("-d")
    target = rule.target
    return RuleParts(
        chain=rule.chain,
        src=_address(src.args[0] if src else "", bool(src and src.negated), family),
        dst=_address(dst.args[0] if dst else "", bool(dst and dst.negated), family),
        in_iface=field("-i"),
        out_iface=field("-o"),
        proto=field("-p") or "all",
        matches=tuple((name, _saved(ms)) for name, ms in modules),
        target=target.name if target else "",
        target_save="".join(" " + _arg(a) for a in target.args) if target else "",
        goto=bool(target and target.kind == "goto"),
        packets=rule.packets,
        bytes=rule.bytes,
    )


def test_every_recorded_rule_composes_back() -> None:
    checked = 0
    for name, family in (("iptables-save-c.txt", "ip"), ("ip6tables-save-c.txt", "ip6")):
        for table in parse_iptables_save((FIXTURES / name).read_text(), "iptables-legacy", family):
            for chain in table.chains:
                for rule in chain.rules:
                    line = compose_rule(parts_like_iptc(rule, family))
                    assert line == f"[{rule.packets}:{rule.bytes}] {rule.text}"
                    checked += 1
    assert checked > 50


def test_composed_table_parses_to_the_same_rules() -> None:
    text = (FIXTURES / "iptables-save-c.txt").read_text()
    (filt,) = [t for t in parse_iptables_save(text, "iptables-legacy") if t.name == "filter"]
    chains = [
        ChainParts(c.name, c.policy, c.packets, c.bytes, tuple(parts_like_iptc(r, "ip") for r in c.rules))
        for c in filt.chains
    ]
    (again,) = parse_iptables_save(compose_table("filter", chains), "iptables-legacy")
    assert again == filt


def test_special_cases() -> None:
    base = RuleParts(chain="INPUT", target="ACCEPT")
    assert compose_rule(base) == "[0:0] -A INPUT -j ACCEPT"
    # Zero masks mean "any" unless negated; a non-contiguous netmask stays dotted.
    odd = RuleParts(chain="INPUT", src="0.0.0.0/0.0.0.0", dst="10.0.0.1/255.0.255.0", target="DROP")
    assert compose_rule(odd) == "[0:0] -A INPUT -d 10.0.0.1/255.0.255.0 -j DROP"
    neg = RuleParts(
        chain="INPUT", src="!192.168.0.0/255.255.0.0", proto="!udp", in_iface="br+", target="DROP"
    )
    assert compose_rule(neg) == "[0:0] -A INPUT ! -s 192.168.0.0/16 -i br+ ! -p udp -j DROP"
    frag = RuleParts(chain="FORWARD", fragment=False, target="MINE", goto=True, packets=4, bytes=9)
    assert compose_rule(frag) == "[4:9] -A FORWARD ! -f -g MINE"
    count_only = RuleParts(chain="FORWARD", fragment=True, matches=(("comment", ' --comment "a b"'),))
    line = compose_rule(count_only)
    assert line == '[0:0] -A FORWARD -f -m comment --comment "a b"'
    assert [t.text for t in tokenize(line)][-1] == "a b"


def test_cli_rejects_bad_arguments() -> None:
    assert main([]) == 2
    assert main(["ipx", "filter"]) == 2
