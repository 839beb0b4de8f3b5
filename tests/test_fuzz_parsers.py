"""Fault and fuzz tests for the firewall parsers: iptables-save text, nft JSON, the legacy reader's composer.

The contract under test: any input gives a correct parse or the module's own error (IptablesSaveError,
NftJsonError, IptablesLegacyError), never another exception and never a hang; and what parses is made of
values of the declared model types, so it survives a snapshot round trip. Inputs are mostly the recorded
fixtures (tests/fixtures/firewall/) with hostile mutations: control characters and quotes inserted, huge
numbers, dropped keys, changed types, deep nesting, truncation.

The regression tests at the end each pin one finding of the robustness review; they fail on the parsers as
they were before it.
"""

from __future__ import annotations

import contextlib
import copy
import json
import string
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockwire.model import Table
from dockwire.probes import nft_ruleset
from dockwire.probes.iptables_legacy import (
    ChainParts,
    IptablesLegacyError,
    RuleParts,
    compose_rule,
    compose_table,
    main,
)
from dockwire.probes.iptables_save import IptablesSaveError, parse_iptables_save
from dockwire.probes.nft_ruleset import NftJsonError, parse_nft_json
from dockwire.rule_words import tokenize
from dockwire.snapshot import dumps, load, loads
from tests.fuzz_stats import count

FIXTURES = Path(__file__).parent / "fixtures"
SAVE_TEXTS = [
    (FIXTURES / "firewall" / name).read_text()
    for name in ("iptables-save-c.txt", "iptables-save.txt", "ip6tables-save-c.txt")
]
NFT_DOCS = [
    json.loads((FIXTURES / "firewall" / name).read_text())
    for name in ("nft-ruleset.json", "docker29-nftables.json")
]
NFT_ENTRIES = [e for doc in NFT_DOCS for e in doc["nftables"]]
BASE_SNAPSHOT = load(FIXTURES / "snapshots" / "engine-28.5.2-iptables-nft.json")
U64_MAX = 2**64 - 1

# Generous per-input deadline: every input here parses in milliseconds; seconds means a hang-like bug
# (catastrophic regex backtracking, quadratic loops), not a loaded machine.
FUZZ = settings(
    max_examples=250,
    deadline=3000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

HOSTILE_CHARS = [
    "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x1f", "\x85", "\u2028", "\u2029", "\xa0", "\u3000", "\ufeff",
    "\x00", "\r", "\t", " ", '"', "'", "\\", "!", "#", "*", ":", "[", "]", "é", "\U0001f600",
]  # fmt: skip
HOSTILE_WORDS = [
    "-A", "--append", "-m", "--match", "-j", "-g", "!", "--comment", "-s", "-p", "-f", '"', "'", "\\",
    '"a b"', "'a b'", '"\\""', '"\\\'"', "[1:2]", "*filter", "COMMIT", ":X - [0:0]", "9" * 4301,
    str(2**64), str(U64_MAX), "-", "--", "-5", "--log-prefix", "comment", "", "\\-A",
]  # fmt: skip
WEIRD_JSON = [
    None,
    True,
    False,
    0,
    -1,
    5,
    1.5,
    2**63,
    U64_MAX + 1,
    10**30,
    "",
    "x",
    "\u2028",
    [],
    {},
    [1],
    {"a": 1},
]


def json_values() -> st.SearchStrategy[Any]:
    scalars = (
        st.none()
        | st.booleans()
        | st.integers(-(2**70), 2**70)
        | st.floats(allow_nan=False, allow_infinity=False)
        | st.text(max_size=8)
        | st.sampled_from(WEIRD_JSON).map(copy.deepcopy)
    )
    return st.recursive(
        scalars,
        lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=6), inner, max_size=3),
        max_leaves=8,
    )


def deep(depth: int, kind: str) -> Any:
    value: Any = 1
    for _ in range(depth):
        value = [value] if kind == "list" else {"a": value}
    return value


def check_tables(tables: list[Table]) -> None:
    """Every value has its declared type (a typed decode accepts them) and the rules are sane."""
    assert msgspec.json.decode(msgspec.json.encode(tables), type=list[Table]) == tables
    for table in tables:
        for chain in table.chains:
            assert [r.position for r in chain.rules] == list(range(1, len(chain.rules) + 1))
            for rule in chain.rules:
                assert rule.packets >= 0 and rule.bytes >= 0
                assert "\n" not in rule.text


def one_line(exc: BaseException) -> None:
    assert str(exc) and str(exc).isprintable(), repr(str(exc))  # one line, nothing unprintable


# --- iptables-save ------------------------------------------------------------------------------------------


@st.composite
def mutated_save_text(draw: st.DrawFn) -> str:
    lines = draw(st.sampled_from(SAVE_TEXTS)).split("\n")
    for _ in range(draw(st.integers(1, 4))):
        lines = lines or [""]
        i = draw(st.integers(0, len(lines) - 1))
        line = lines[i]
        op = draw(st.sampled_from(["char", "word", "drop", "counter", "dup", "delete", "text", "truncate"]))
        if op == "char":
            pos = draw(st.integers(0, len(line)))
            line = line[:pos] + draw(st.sampled_from(HOSTILE_CHARS)) * draw(st.integers(1, 3)) + line[pos:]
        elif op in ("word", "drop"):
            words = line.split(" ")
            pos = draw(st.integers(0, len(words) - (op == "drop")))
            if op == "word":
                words.insert(pos, draw(st.sampled_from(HOSTILE_WORDS)))
            elif words:
                del words[pos]
            line = " ".join(words)
        elif op == "counter":
            big = draw(
                st.sampled_from(["9" * 4301, str(U64_MAX), str(U64_MAX + 1), "0" * 30 + "1", "-1", "x"])
            )
            line = f"[{big}:{draw(st.sampled_from(['0', big]))}] " + line.split("] ", 1)[-1]
        elif op == "dup":
            lines.insert(i, line)
        elif op == "delete":
            del lines[i]
            continue
        elif op == "text":
            pos = draw(st.integers(0, len(line)))
            line = line[:pos] + draw(st.text(max_size=12)) + line[pos:]
        else:
            pos = draw(st.integers(0, len(line)))
            lines = [*lines[:i], line[:pos]]
            continue
        lines[i] = line
    return "\n".join(lines)


@FUZZ
@given(mutated_save_text(), st.sampled_from(["ip", "ip6"]))
def test_iptables_save_any_mutation_parses_or_raises_its_error(text: str, family: str) -> None:
    count("iptables-save")
    try:
        tables = parse_iptables_save(text, "iptables-nft", family)
    except IptablesSaveError as exc:
        one_line(exc)
        return
    check_tables(tables)
    for rule in (r for t in tables for c in t.chains for r in c.rules):
        assert rule.packets <= U64_MAX and rule.bytes <= U64_MAX


@FUZZ
@given(st.text(alphabet=st.sampled_from([*HOSTILE_CHARS, "\n", "-", "A", "x", "1"]), max_size=60))
def test_iptables_save_random_text(text: str) -> None:
    count("iptables-save")
    for candidate in (text, f"*filter\n{text}\nCOMMIT\n", f"*filter\n[1:2] -A X {text}\nCOMMIT\n"):
        try:
            check_tables(parse_iptables_save(candidate, "iptables-legacy"))
        except IptablesSaveError as exc:
            one_line(exc)


def reference_tokenize(line: str) -> list[tuple[str, bool]]:
    """Character by character: words split at spaces/tabs; "double quotes" where a backslash escapes `"`,
    `\\` and `'` (what xtables_save_string escapes); 'single quotes' literal; a bare backslash escapes the
    next character."""
    tokens: list[tuple[str, bool]] = []
    buf: list[str] = []
    quoted = in_token = False
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t":
            if in_token:
                tokens.append(("".join(buf), quoted))
                buf, quoted, in_token = [], False, False
            i += 1
            continue
        in_token = True
        if ch == '"':
            quoted = True
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n and line[i + 1] in "\"\\'":
                    i += 1
                buf.append(line[i])
                i += 1
            i += 1
        elif ch == "'":
            quoted = True
            end = line.find("'", i + 1)
            end = n if end < 0 else end
            buf.append(line[i + 1 : end])
            i = end + 1
        elif ch == "\\" and i + 1 < n:
            buf.append(line[i + 1])
            i += 2
        else:
            buf.append(ch)
            i += 1
    if in_token:
        tokens.append(("".join(buf), quoted))
    return tokens


@FUZZ
@given(
    st.lists(st.sampled_from([*list(" \t\"'\\!-Aab\x85\u2028\x0b"), "--comment", "x y", '\\"']), max_size=30)
)
def test_tokenizer_matches_the_reference(pieces: list[str]) -> None:
    count("iptables-save")
    line = "".join(pieces)
    assert [(t.text, t.quoted) for t in tokenize(line)] == reference_tokenize(line)


def save_string(value: str) -> str:
    """xtables_save_string: bare when made of [A-Za-z0-9_-] only, else in double quotes with a backslash
    before each `"`, `\\` and `'`."""
    if value and all(c in string.ascii_letters + string.digits + "_-" for c in value):
        return value
    return '"' + "".join("\\" + c if c in "\"\\'" else c for c in value) + '"'


@FUZZ
@given(
    st.text(st.characters(blacklist_characters="\n\x00", blacklist_categories=["Cs"]), max_size=40)
    | st.sampled_from(["-A", "-j", "--comment", "!", "", " ", "a'b", 'say "hi"', "back\\slash", "x\u2028y"])
)
def test_comment_round_trips_through_save_string(comment: str) -> None:
    """Whatever the comment, iptables-save's quoting of it parses back to exactly that comment."""
    count("iptables-save")
    line = f"-A DOCKER-USER -s 192.0.2.1/32 -m comment --comment {save_string(comment)} -j RETURN"
    (table,) = parse_iptables_save(f"*filter\n:DOCKER-USER - [0:0]\n[3:4] {line}\nCOMMIT\n", "iptables-nft")
    (rule,) = table.chains[0].rules
    assert (rule.text, rule.comment, rule.packets, rule.bytes) == (line, comment, 3, 4)
    assert rule.target is not None and rule.target.name == "RETURN"
    assert [m.args for m in rule.matches if m.module == "comment"] == [[comment]]


# --- nft JSON -----------------------------------------------------------------------------------------------


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if len(path) > 24:  # mutated values can be deep; the fixtures are not
        return out
    if isinstance(value, dict):
        for k, v in value.items():
            out += _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _nodes(v, (*path, i))
    return out


def _get(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path:
        doc = doc[p]
    return doc


@st.composite
def mutated_nft_doc(draw: st.DrawFn) -> Any:
    entries = draw(st.lists(st.sampled_from(NFT_ENTRIES), min_size=1, max_size=8))
    doc: Any = {"nftables": copy.deepcopy(entries)}
    deep_at: tuple[Any, ...] | None = None
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_nodes(doc)))
        if not path:
            continue
        parent, key = _get(doc, path[:-1]), path[-1]
        op = draw(st.sampled_from(["drop", "weird", "json", "wrap", "deep", "dup", "string"]))
        if op == "deep":
            deep_at = path  # nested last, so that the other mutations need not walk it
        elif op == "drop":
            del parent[key]
        elif op == "weird":
            parent[key] = copy.deepcopy(draw(st.sampled_from(WEIRD_JSON)))
        elif op == "json":
            parent[key] = draw(json_values())
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "dup" and isinstance(parent, list):
            parent.insert(key, copy.deepcopy(parent[key]))
        elif isinstance(parent[key], str):
            pos = draw(st.integers(0, len(parent[key])))
            parent[key] = parent[key][:pos] + draw(st.sampled_from(HOSTILE_CHARS)) + parent[key][pos:]
    if deep_at is not None:
        try:
            parent, key = _get(doc, deep_at[:-1]), deep_at[-1]
            parent[key] = deep(
                draw(st.sampled_from([50, 900, 3000])), draw(st.sampled_from(["list", "dict"]))
            )
        except (KeyError, IndexError, TypeError):
            pass  # the path went away with another mutation
    return doc


def parse_or_error(data: Any) -> list[Table] | None:
    try:
        tables = parse_nft_json(data)
    except NftJsonError as exc:
        one_line(exc)
        return None
    check_tables(tables)
    return tables


@FUZZ
@given(mutated_nft_doc())
def test_nft_any_mutation_parses_or_raises_its_error(doc: Any) -> None:
    count("nft-json")
    parse_or_error(doc)
    try:
        text = json.dumps(doc, ensure_ascii=False)
    except (ValueError, RecursionError):
        return
    parse_or_error(text)


@FUZZ
@given(mutated_nft_doc(), st.data())
def test_nft_text_mutation_parses_or_raises_its_error(doc: Any, data: st.DataObject) -> None:
    count("nft-json")
    try:
        text = json.dumps(doc)
    except (ValueError, RecursionError):
        return
    pos = data.draw(st.integers(0, len(text)))
    cut = data.draw(st.sampled_from(["insert", "truncate", "replace"]))
    if cut == "truncate":
        text = text[:pos]
    else:
        piece = data.draw(st.sampled_from([*HOSTILE_CHARS, "9" * 5000, "[" * 2000, "}", ",", "null"]))
        text = text[:pos] + piece + text[pos + (cut == "replace") :]
    parse_or_error(text)
    parse_or_error(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(
    st.sampled_from([e for e in NFT_ENTRIES if "rule" in e and e["rule"]["expr"]]), json_values(), st.data()
)
def test_nft_a_statement_not_understood_keeps_the_rule(entry: Any, value: Any, data: st.DataObject) -> None:
    """Whatever a statement holds, the rule around it (sound structure) is parsed, in place."""
    count("nft-json")
    rule = copy.deepcopy(entry["rule"])
    i = data.draw(st.integers(0, len(rule["expr"]) - 1))
    rule["expr"][i] = value
    tables = parse_or_error({"nftables": [{"rule": rule}]})
    assert tables is not None
    (parsed,) = [r for t in tables for c in t.chains for r in c.rules]
    assert (parsed.chain, parsed.handle) == (rule["chain"], rule["handle"])


_NAMES = st.sampled_from(
    ["ip", "ip6", "tcp", "udp", "th", "saddr", "daddr", "dport", "iifname", "oifname", "mark"]
)
_KEYS = st.sampled_from(
    sorted({"iifname", "oifname", "iif", "mark", "l4proto", "length", "nfproto", "skuid"})
)


@FUZZ
@given(
    st.sampled_from(["==", "!="]),
    st.one_of(
        st.builds(lambda p, f: {"payload": {"protocol": p, "field": f}}, _NAMES, _NAMES),
        st.builds(lambda k: {"meta": {"key": k}}, _KEYS | _NAMES),
    ),
    st.one_of(
        st.text(max_size=12),
        st.integers(0, U64_MAX + 5),
        st.builds(lambda a, n: {"prefix": {"addr": a, "len": n}}, st.text(max_size=10), st.integers(0, 200)),
    ),
    st.booleans(),
)
def test_nft_fast_match_renders_like_the_full_renderer(
    op: str, left: Any, right: Any, ascii_only: bool
) -> None:
    """The shortcut for simple matches (read from the JSON text) gives exactly what full rendering gives."""
    count("nft-json")
    source = json.dumps({"match": {"op": op, "left": left, "right": right}}, ensure_ascii=ascii_only).encode()
    assert nft_ruleset._render_statement(source) == nft_ruleset._render_decoded(
        msgspec.json.decode(source), source
    )


def test_nft_fast_match_covers_the_recorded_simple_matches() -> None:
    statements = [json.dumps(s).encode() for e in NFT_ENTRIES if "rule" in e for s in e["rule"]["expr"]]
    fast = [s for s in statements if nft_ruleset._FAST_MATCH.fullmatch(s)]
    assert len(fast) > 40
    for source in fast:
        assert nft_ruleset._render_statement(source) == nft_ruleset._render_decoded(
            msgspec.json.decode(source), source
        )


# --- legacy reader ------------------------------------------------------------------------------------------

_FIELD_CHARS = [*"abAB09-_./:!", " ", "\t", "\n", "\r", "\x00", '"', "'", "\\", "²", "\u0661", "\x85"]
_FIELD = st.text(st.sampled_from(_FIELD_CHARS), max_size=10)
_PLAIN = st.text(
    st.sampled_from([*string.ascii_letters, *string.digits, "-", "_", "."]), min_size=1, max_size=10
)
_MASKS = st.sampled_from(
    ["", "/24", "/0", "/255.255.0.0", "/255.0.255.0", "/²", "/\u0661", "/" + "9" * 5000, "/x", "/"]
)
_ADDR = st.builds(
    lambda neg, addr, mask: ("!" if neg else "") + addr + mask,
    st.booleans(),
    st.sampled_from(["10.0.0.0", "0.0.0.0", "fe80::", "::", "", "x"]),
    _MASKS,
)


@FUZZ
@given(
    st.builds(
        RuleParts,
        chain=_FIELD | _PLAIN,
        src=_ADDR | _FIELD,
        dst=_ADDR,
        in_iface=_FIELD,
        out_iface=_FIELD,
        proto=_FIELD,
        fragment=st.none() | st.booleans(),
        matches=st.lists(st.tuples(_FIELD | _PLAIN, st.text(max_size=20)), max_size=3).map(tuple),
        target=_FIELD | _PLAIN,
        target_save=st.text(max_size=20),
        goto=st.booleans(),
        packets=st.integers(-5, 2**70),
        bytes=st.integers(-5, 2**70),
    )
)
def test_legacy_compose_gives_a_line_or_its_error(parts: RuleParts) -> None:
    count("iptables-legacy")
    try:
        line = compose_rule(parts)
    except IptablesLegacyError as exc:
        one_line(exc)
        return
    assert "\n" not in line and "\r" not in line
    try:
        tables = parse_iptables_save(f"*filter\n{line}\nCOMMIT\n", "iptables-legacy")
    except IptablesSaveError as exc:
        assert (
            parts.packets > U64_MAX or parts.bytes > U64_MAX or '"' in line or "'" in line or "\\" in line
        ), exc
        return
    check_tables(tables)


@FUZZ
@given(_PLAIN, _PLAIN, st.integers(0, U64_MAX), st.integers(0, U64_MAX), _ADDR)
def test_legacy_plain_parts_parse_back(chain: str, target: str, packets: int, bytes_: int, src: str) -> None:
    count("iptables-legacy")
    parts = RuleParts(chain=chain, src=src, target=target, packets=packets, bytes=bytes_)
    text = compose_table("filter", [ChainParts(chain, None, 0, 0, (parts,))])
    (table,) = parse_iptables_save(text, "iptables-legacy")
    rules = [r for c in table.chains for r in c.rules]
    assert [(r.chain, r.packets, r.bytes) for r in rules] == [(chain, packets, bytes_)]
    assert rules[0].target is not None and rules[0].target.name == target


# --- round trip through a snapshot --------------------------------------------------------------------------


@FUZZ
@given(mutated_save_text(), mutated_nft_doc())
def test_parsed_tables_survive_a_snapshot_round_trip(text: str, doc: Any) -> None:
    """parse -> HostModel (a recorded snapshot, its tables replaced) -> dumps -> loads: an equal model."""
    count("snapshot-round-trip")
    tables: list[Table] = []
    with contextlib.suppress(IptablesSaveError):
        tables += parse_iptables_save(text, "iptables-nft")
    with contextlib.suppress(NftJsonError):
        tables += parse_nft_json(doc)
    firewall = msgspec.structs.replace(BASE_SNAPSHOT.firewall, tables=tables)
    model = msgspec.structs.replace(BASE_SNAPSHOT, firewall=firewall)
    assert loads(dumps(model)) == model


# --- regressions: one per finding ---------------------------------------------------------------------------


def nft_doc(*objects: Any) -> dict[str, Any]:
    return {"nftables": [{"table": {"family": "inet", "name": "t", "handle": 1}}, *objects]}


def nft_rule(**fields: Any) -> dict[str, Any]:
    rule = {"family": "inet", "table": "t", "chain": "c", "handle": 2, "expr": [{"accept": None}]}
    return {"rule": {**rule, **fields}}


CHAIN = {"family": "inet", "table": "t", "name": "c", "hook": "input"}
BROKEN_NFT = {
    "table-without-family": {"nftables": [{"table": {}}]},
    "chain-without-name": nft_doc({"chain": {"family": "inet", "table": "t"}}),
    "rule-without-chain": nft_doc({"rule": {"family": "inet", "table": "t", "handle": 2, "expr": []}}),
    "set-without-name": nft_doc({"set": {"family": "inet", "table": "t", "elem": []}}),
    "expr-null": nft_doc(nft_rule(expr=None)),
    "expr-object": nft_doc(nft_rule(expr={"accept": None})),
    "comment-int": nft_doc(nft_rule(comment=5)),
    "comment-null": nft_doc(nft_rule(comment=None)),
    "handle-str": nft_doc(nft_rule(handle="x")),
    "handle-negative": nft_doc(nft_rule(handle=-1)),
    "handle-too-big": nft_doc(nft_rule(handle=U64_MAX + 1)),
    "chain-name-int": nft_doc(nft_rule(chain=5)),
    "policy-null": nft_doc({"chain": {**CHAIN, "policy": None}}),
    "prio-str": nft_doc({"chain": {**CHAIN, "prio": "x"}}),
    "table-not-object": nft_doc({"table": 5}),
    "entry-not-object": nft_doc(5),
    "two-objects": nft_doc({"table": {"family": "inet", "name": "u"}, "chain": CHAIN}),
    "nested-too-deeply": '{"nftables": [' + "[" * 5000 + "]" * 5000 + "]}",
    "huge-int": '{"nftables": [{"rule": {"family": "ip", "table": "t", "chain": "c", "handle": 1'
    + "0" * 5000
    + "}}]}",
    "lone-surrogate": '{"nftables": []}\udc80',
    "not-json-data": {"nftables": [{"table": {"family": "ip", "name": object()}}]},
}


@pytest.mark.parametrize("doc", list(BROKEN_NFT.values()), ids=list(BROKEN_NFT))
def test_nft_structurally_broken_objects_raise_nft_json_error(doc: Any) -> None:
    with pytest.raises(NftJsonError) as info:
        parse_nft_json(doc)
    one_line(info.value)


def _m(left: Any, right: Any = "x", op: Any = "==") -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


UNKNOWN_STATEMENTS = {
    "null": None,
    "counter-packets-str": {"counter": {"packets": "x", "bytes": 0}},
    "counter-float": {"counter": {"packets": 1.5, "bytes": 0}},
    "counter-too-big": {"counter": {"packets": U64_MAX + 1, "bytes": 0}},
    "counter-bool": {"counter": {"packets": True, "bytes": 0}},
    "counter-int": {"counter": 5},
    "jump-target-int": {"jump": {"target": 5}},
    "goto-without-target": {"goto": {}},
    "meta-not-object": _m({"meta": 5}),
    "meta-key-int": _m({"meta": {"key": 5}}),
    "op-int": _m({"meta": {"key": "iif"}}, op=5),
    "field-int": _m({"payload": {"protocol": "ip", "field": 5}}),
    "binop-object": _m({"&": {"a": 1}}, 1),
    "concat-str": _m({"concat": "ab"}),
    "range-str": _m({"ct": {"key": "state"}}, {"range": "ab"}),
    "limit-int": {"limit": 5},
    "limit-rate-str": {"limit": {"rate": "x"}},
    "nat-list": {"snat": [1]},
    "nat-family-int": {"dnat": {"family": 5}},
    "log-int": {"log": 5},
    "log-prefix-int": {"log": {"prefix": 5}},
    "reject-list": {"reject": [1]},
    "reject-expr-object": {"reject": {"type": "icmp", "expr": {}}},
    "mangle-float": {"mangle": {"key": {"meta": {"key": "mark"}}, "value": 1.5}},
    "set-op-int": {"set": {"op": 5, "set": "s", "elem": 1}},
    "ct-helper-int": {"ct helper": 5},
    "flow-int": {"flow": {"op": "add", "flowtable": 5}},
    "xt-odd-types": {"xt": {"type": 5, "name": {}}},
    "deep-list": deep(900, "list"),
    "deep-right": _m({"meta": {"key": "iif"}}, deep(900, "list")),
}


@pytest.mark.parametrize("statement", list(UNKNOWN_STATEMENTS.values()), ids=list(UNKNOWN_STATEMENTS))
def test_nft_statement_not_understood_is_kept_as_unknown(statement: Any) -> None:
    tables = parse_or_error(
        nft_doc(nft_rule(expr=[statement, {"counter": {"packets": 1, "bytes": 2}}, {"drop": None}]))
    )
    assert tables is not None
    (rule,) = [r for c in tables[0].chains for r in c.rules]
    assert rule.unknown and (rule.packets, rule.bytes) == (1, 2)
    assert rule.target is not None and rule.target.name == "DROP"
    assert [m for m in rule.matches if not m.known]


def test_nft_set_element_not_understood_is_kept_raw() -> None:
    elem = [{"elem": {"val": "10.0.0.1", "comment": 5}}, "10.0.0.2"]
    (table,) = (
        parse_or_error(nft_doc({"set": {"family": "inet", "table": "t", "name": "s", "elem": elem}})) or []
    )
    assert table.sets["s"] == ['{"elem":{"val":"10.0.0.1","comment":5}}', "10.0.0.2"]


def test_nft_parsed_rules_survive_a_snapshot() -> None:
    """`comment: null` used to pass through as None; a snapshot written from it could not be read back."""
    tables = parse_nft_json((FIXTURES / "firewall" / "nft-ruleset.json").read_text())
    model = msgspec.structs.replace(
        BASE_SNAPSHOT, firewall=msgspec.structs.replace(BASE_SNAPSHOT.firewall, tables=tables)
    )
    assert loads(dumps(model)) == model
    with pytest.raises(NftJsonError, match=r"comment"):
        parse_nft_json(nft_doc(nft_rule(comment=None)))


def test_nft_counters_are_read_in_any_spacing() -> None:
    counter = '{ "counter" : { "packets" : 7 , "bytes" : 9 } }'
    rule = '{"family": "ip", "table": "t", "chain": "c", "expr": [' + counter + "]}"
    spaced = '{"nftables": [{"rule": ' + rule + "}]}"
    (table,) = parse_nft_json(spaced)
    ((rule,),) = [c.rules for c in table.chains]
    assert (rule.text, rule.packets, rule.bytes, rule.unknown) == ("counter", 7, 9, False)
    # Two counters, one as nft prints it and one not, parsed twice (the second time from the memo).
    mixed = spaced.replace(counter, counter + ', {"counter": {"packets": 1, "bytes": 2}}, {"accept": null}')
    for _ in range(2):
        (table,) = parse_nft_json(mixed)
        ((rule,),) = [c.rules for c in table.chains]
        assert (rule.text, rule.packets, rule.bytes) == ("counter counter accept", 8, 11)


def test_nft_only_statement_counters_count() -> None:
    """A counter inside another statement (a dynamic set's) is not the rule's: as before, not summed."""
    inner = {"counter": {"packets": 5, "bytes": 6}}
    update: dict[str, dict[str, Any]] = {
        "set": {"op": "update", "elem": {"payload": {"protocol": "ip", "field": "saddr"}}, "set": "@s"}
    }
    update["set"]["stmt"] = [inner]
    expr = [update, {"counter": {"packets": 1, "bytes": 2}}, {"accept": None}]
    for _ in range(2):  # the second time from the memo
        (table,) = parse_nft_json(json.dumps(nft_doc(nft_rule(expr=expr))))
        ((rule,),) = [c.rules for c in table.chains]
        assert (rule.packets, rule.bytes) == (1, 2)
        assert rule.text == "update @s { ip saddr } counter accept"


def test_nft_poll_cache_follows_changes() -> None:
    """A second parse reuses the first one's renderings only where the JSON text is the same."""
    rule = nft_rule(
        expr=[
            {"match": {"op": "==", "left": {"meta": {"key": "iifname"}}, "right": "eth0"}},
            {"accept": None},
        ]
    )
    (first,) = parse_nft_json(nft_doc(rule))
    rule["rule"]["expr"][0]["match"]["right"] = "eth1"
    (second,) = parse_nft_json(nft_doc(rule))
    assert first.chains[0].rules[0].text == 'iifname "eth0" accept'
    assert second.chains[0].rules[0].text == 'iifname "eth1" accept'


SAVE_HEAD = "*filter\n:INPUT ACCEPT [0:0]\n"


def one_rule(line: str) -> Any:
    (table,) = parse_iptables_save(f"{SAVE_HEAD}{line}\nCOMMIT\n", "iptables-nft")
    ((rule,),) = [c.rules for c in table.chains if c.rules]
    return rule


@pytest.mark.parametrize(
    "line",
    [
        f"[{'9' * 4301}:0] -A INPUT -j ACCEPT",
        f"[0:{'9' * 5000}] -A INPUT -j ACCEPT",
        f"[{2**64}:0] -A INPUT -j ACCEPT",
        f":FORWARD DROP [{'9' * 4301}:0]",
        f":FORWARD DROP [0:{2**64}]",
    ],
    ids=["packets-4301-digits", "bytes-5000-digits", "packets-2^64", "chain-4301-digits", "chain-bytes-2^64"],
)
def test_iptables_save_counters_out_of_range_raise_its_error(line: str) -> None:
    with pytest.raises(IptablesSaveError, match="does not fit in 64 bits") as info:
        parse_iptables_save(f"{SAVE_HEAD}{line}\nCOMMIT\n", "iptables-nft")
    one_line(info.value)
    assert len(str(info.value)) < 200


def test_iptables_save_largest_counter_is_kept() -> None:
    rule = one_rule(f"[{U64_MAX}:{U64_MAX}] -A INPUT -j ACCEPT")
    assert (rule.packets, rule.bytes) == (U64_MAX, U64_MAX)


@pytest.mark.parametrize("char", ["\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029"])
def test_iptables_save_lines_end_at_newline_only(char: str) -> None:
    rule = one_rule(f'[1:2] -A INPUT -m comment --comment "a{char}b" -j ACCEPT')
    assert rule.comment == f"a{char}b" and rule.packets == 1


def test_iptables_save_words_split_at_space_and_tab_only() -> None:
    rule = one_rule("-A INPUT -i eth\xa00 -j LOG --log-prefix x\u3000y")
    assert [m.args for m in rule.matches] == [["eth\xa00"]]
    assert rule.target is not None and rule.target.args == ["--log-prefix", "x\u3000y"]


def test_iptables_save_unescapes_single_quotes_like_save_string() -> None:
    """iptables-save writes a comment `it's "x" \\` as "it\\'s \\"x\\" \\\\"."""
    rule = one_rule('-A INPUT -m comment --comment "it\\\'s \\"x\\" \\\\" -j ACCEPT')
    assert rule.comment == 'it\'s "x" \\'


def test_iptables_save_comment_that_looks_like_an_option() -> None:
    rule = one_rule("-A INPUT -m comment --comment -A -j ACCEPT")
    assert rule.comment == "-A"
    assert [(m.module, m.option, m.args) for m in rule.matches] == [("comment", "--comment", ["-A"])]
    assert rule.target is not None and rule.target.name == "ACCEPT" and not rule.unknown
    log = one_rule("-A INPUT -j LOG --log-prefix -m")
    assert log.target is not None and log.target.args == ["--log-prefix", "-m"] and log.matches == []


def test_iptables_save_lone_surrogate_is_its_error() -> None:
    """Such text parsed, but a snapshot of it could not be written (UTF-8 has no lone surrogates)."""
    with pytest.raises(IptablesSaveError, match="line 3"):
        parse_iptables_save(
            f"{SAVE_HEAD}-A INPUT -m comment --comment \udc80 -j ACCEPT\nCOMMIT\n", "iptables-nft"
        )


def test_iptables_save_poll_cache_is_not_bounded_by_a_size() -> None:
    """70,000 distinct rules (more than the old lru_cache held), parsed twice: the second parse reuses the
    first one's results."""
    lines = [
        f"[{i}:{i}] -A INPUT -s 10.{i >> 16}.{(i >> 8) & 255}.{i & 255}/32 -j ACCEPT" for i in range(70_000)
    ]
    text = f"{SAVE_HEAD}" + "\n".join(lines) + "\nCOMMIT\n"
    (first,) = parse_iptables_save(text, "iptables-nft")
    (second,) = parse_iptables_save(text.replace("[5:5]", "[6:6]"), "iptables-nft")
    a, b = first.chains[0].rules, second.chains[0].rules
    assert len(a) == len(b) == 70_000
    assert all(x.matches[0] is y.matches[0] for x, y in zip(a[-100:], b[-100:], strict=True))
    assert (b[5].packets, b[5].text) == (6, a[5].text)


def test_legacy_unicode_digit_mask_does_not_crash() -> None:
    """`"²".isdigit()` is True but int("²") raises: such a mask is printed as it is."""
    line = compose_rule(RuleParts(chain="INPUT", src="10.0.0.0/²", target="DROP"))
    assert line == "[0:0] -A INPUT -s 10.0.0.0/² -j DROP"


@pytest.mark.parametrize(
    "parts",
    [
        RuleParts(chain="", target="DROP"),
        RuleParts(chain="MY CHAIN", target="DROP"),
        RuleParts(chain="INPUT", in_iface="eth 0"),
        RuleParts(chain="INPUT", target="DROP", target_save=" --log-prefix 'a\nb'"),
        RuleParts(chain="INPUT", matches=(("comment", ' --comment "a\x00b"'),)),
        RuleParts(chain="INPUT", packets=-1),
    ],
    ids=["no-chain", "chain-with-space", "iface-with-space", "newline", "nul", "negative-counter"],
)
def test_legacy_parts_text_cannot_carry_raise_its_error(parts: RuleParts) -> None:
    with pytest.raises(IptablesLegacyError) as info:
        compose_rule(parts)
    one_line(info.value)


def test_legacy_cli_rejects_bad_arguments_without_libiptc() -> None:
    assert main([]) == 2 and main(["ipx"]) == 2
