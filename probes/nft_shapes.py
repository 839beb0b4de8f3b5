"""Simple nft matches read straight from their JSON text, and rules rendered by shape.

A simple match is what nft prints for `ip saddr 10.0.0.0/8`, `tcp dport 80`, `iifname "docker0"`: a payload
field or meta key compared (== or !=) with a plain string, a number or an address prefix, key order and
spacing as libnftables writes them. Its value never holds a quote, a backslash or a control character.

A rule's shape is its expressions' JSON text with the simple matches' values taken out (one regular
expression split). Docker and iptables-nft write many rules of one shape that differ only in addresses,
ports and interface names: the first rule of a shape is rendered in full, the shape is learnt from it (and
checked to render that rule exactly so), and later rules of the shape render by putting their values in.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import msgspec

from dockwire.model import Match, Target

# Meta keys nft prints without the `meta` keyword.
UNQUALIFIED_META = frozenset({"iif", "oif", "iifname", "oifname", "iifgroup", "oifgroup"})
# Keys whose values are interface names (printed quoted).
IFNAME_KEYS = frozenset(
    {"iifname", "oifname", "ibrname", "obrname", "ibriport", "obriport", "iifkind", "oifkind", "sdifname"}
)
# Keys whose values nft prints as 32-bit hex.
HEX_KEYS = frozenset({"mark"})

# A whole simple match: op, protocol and field or meta key, then the value: text, number, or prefix address
# and length.
SIMPLE_MATCH = re.compile(
    rb'\{"match": \{"op": "(==|!=)", "left": \{(?:'
    rb'"payload": \{"protocol": "([a-z][a-z0-9_-]{0,31})", "field": "([a-z][a-z0-9_-]{0,31})"\}'
    rb'|"meta": \{"key": "([a-z][a-z0-9_-]{0,31})"\}'
    rb')\}, "right": (?:'
    rb'"([^"\\\x00-\x1f@][^"\\\x00-\x1f]*)"'
    rb"|(0|[1-9][0-9]{0,18})"
    rb'|\{"prefix": \{"addr": "([^"\\\x00-\x1f@][^"\\\x00-\x1f]*)", "len": (0|[1-9][0-9]?|1[0-2][0-9])\}\}'
    rb")\}\}"
)
# The same match cut before its value: (the match up to its value)(the value). Splitting a rule's text on it
# leaves [text, match start, value, text, ..., text]; the text after a value closes its match.
_HOLE = re.compile(
    rb'(\{"match": \{"op": "(?:==|!=)", "left": \{(?:'
    rb'"payload": \{"protocol": "[a-z][a-z0-9_-]{0,31}", "field": "[a-z][a-z0-9_-]{0,31}"\}'
    rb'|"meta": \{"key": "[a-z][a-z0-9_-]{0,31}"\}'
    rb')\}, "right": (?:'
    rb'"(?=[^"\\\x00-\x1f@][^"\\\x00-\x1f]*"\}\})'
    rb"|(?=(?:0|[1-9][0-9]{0,18})\}\})"
    rb'|\{"prefix": \{"addr": "'
    rb'(?=[^"\\\x00-\x1f@][^"\\\x00-\x1f]*", "len": (?:0|[1-9][0-9]?|1[0-2][0-9])\}\}\}\})'
    rb'))((?<=")[^"\\\x00-\x1f@][^"\\\x00-\x1f]*+|0|[1-9][0-9]{0,18})'
)
# Stands for a value in a shape (JSON text never holds a raw control character).
_HOLE_MARK = b"\x00"
# How many shapes are remembered (bounded: hostile input cannot grow it); later rules are rendered in full.
MAX_SHAPES = 1024
# How many values' renderings each simple match of a shape keeps (it starts over when it has that many).
_RECENT_VALUES = 2048

_TEXT, _NUMBER, _PREFIX = 1, 2, 3


class SimpleMatch:
    """How one simple match renders, all but its value (`tcp dport` ==, a prefix of length 24, ...); within a
    shape, the renderings of its recent values are shared (records are immutable)."""

    __slots__ = ("head", "hexa", "kind", "negated", "op", "option", "prefix_len", "quote", "recent")

    def __init__(self, groups: tuple[bytes | None, ...]) -> None:
        op_b, proto, field, key_b, text, number, _addr, prefix_len = groups
        self.op = op = op_b.decode()  # type: ignore[union-attr]
        self.negated = op == "!="
        if key_b is not None:
            key = key_b.decode()
            lhs = key if key in UNQUALIFIED_META else f"meta {key}"
            self.option = f"meta {key}"
            self.quote, self.hexa = key in IFNAME_KEYS, key in HEX_KEYS
        else:
            lhs = self.option = f"{proto.decode()} {field.decode()}"  # type: ignore[union-attr]
            self.quote = self.hexa = False
        self.head = f"{lhs} {'' if op == '==' else '!= '}"
        self.kind = _TEXT if text is not None else _NUMBER if number is not None else _PREFIX
        self.prefix_len = "" if prefix_len is None else prefix_len.decode()
        self.recent: dict[bytes, tuple[str, Match]] = {}

    def render(self, value: bytes) -> tuple[str, Match]:
        """The match's text and record with this value (a string's or address's text, or a number)."""
        kind = self.kind
        if kind == _TEXT:
            raw = value.decode()
            shown = f'"{raw}"' if self.quote else raw
        elif kind == _NUMBER:
            raw = shown = f"0x{int(value):08x}" if self.hexa else value.decode()
        else:
            addr = value.decode()
            raw = f"{addr}/{self.prefix_len}"
            shown = f'"{addr}"/{self.prefix_len}' if self.quote else raw
        match = Match(module="nft", option=self.option, args=[raw], negated=self.negated, op=self.op)
        return self.head + shown, match

    def render_shared(self, value: bytes) -> tuple[str, Match]:
        """render(value), shared with the other rules of the shape that have the same value."""
        done = self.recent.get(value)
        if done is None:
            if len(self.recent) >= _RECENT_VALUES:
                self.recent.clear()
            done = self.recent[value] = self.render(value)
        return done


def render_simple_match(m: re.Match[bytes]) -> tuple[str, Match]:
    """The text and record of a statement SIMPLE_MATCH matched in full."""
    groups = m.groups()
    return SimpleMatch(groups).render(groups[4] or groups[5] or groups[6])


# What a rule's expressions render to: (text, matches, target, unknown, counter numbers left in the text).
RenderedRule = tuple[str, tuple[Match, ...], Target | None, bool, tuple[int, int] | None]
_statements = msgspec.json.Decoder(list[msgspec.Raw])


class _Shape:
    """A rule's rendering with holes: the statements' words and matches, and for each value where it goes."""

    __slots__ = ("holes", "matches", "rest", "words")

    def __init__(
        self,
        words: list[str],
        matches: list[Match | None],
        holes: list[tuple[int, int, SimpleMatch]],
        rest: tuple[Target | None, bool, tuple[int, int] | None],
    ) -> None:
        self.words = words
        self.matches = matches
        self.holes = holes  # (place in words, place in matches, how it renders), in the values' order
        self.rest = rest  # target, unknown, counter numbers: the same for every rule of the shape

    def fill(self, values: list[bytes]) -> RenderedRule:
        words = self.words.copy()
        matches = self.matches.copy()
        for (word_at, match_at, simple), value in zip(self.holes, values, strict=True):
            rendering = simple.recent.get(value)
            if rendering is None:
                rendering = simple.render_shared(value)
            words[word_at], matches[match_at] = rendering
        target, unknown, counts = self.rest
        done: tuple[Match, ...] = tuple(matches)  # type: ignore[arg-type]
        return " ".join(words), done, target, unknown, counts


def _learn(
    source: bytes, values: list[bytes], rendered: RenderedRule, render_statement: Callable[[bytes], Any]
) -> _Shape | None:
    """The shape of a rule from its full rendering; None when it cannot be filled in to that rendering."""
    words: list[str] = []
    matches: list[Match | None] = []
    holes: list[tuple[int, int, SimpleMatch]] = []
    for raw in _statements.decode(source):
        statement = bytes(raw)
        pieces = _HOLE.split(statement)
        if len(pieces) == 1:
            text, match = render_statement(statement)[:2]
            words.append(text)
            if match is not None:
                matches.append(match)
            continue
        whole = SIMPLE_MATCH.fullmatch(statement)
        if whole is None or len(pieces) != 4 or pieces[0]:
            return None  # a simple match's text inside another statement
        holes.append((len(words), len(matches), SimpleMatch(whole.groups())))
        words.append("")
        matches.append(None)
    if len(holes) != len(values):
        return None
    shape = _Shape(words, matches, holes, rendered[2:])
    return shape if shape.fill(values) == rendered else None


class RuleShapes:
    """Renderings of rules by shape, learnt from the rules rendered in full."""

    __slots__ = ("seen_once", "shapes")

    def __init__(self) -> None:
        self.shapes: dict[bytes, _Shape | None] = {}
        # Hashes of shapes met once: a shape is learnt when it comes back, so that rules of a shape of their
        # own (a log prefix with a number in it, say) cost no learning.
        self.seen_once: set[int] = set()

    def clear(self) -> None:
        self.shapes.clear()
        self.seen_once.clear()

    def render(
        self,
        source: bytes,
        render_in_full: Callable[[], RenderedRule | None],
        render_statement: Callable[[bytes], Any],
    ) -> RenderedRule | None:
        """What the expressions `source` render to: from a known shape, else from `render_in_full()` (whose
        result is returned as it is, None included, and learnt from)."""
        pieces = _HOLE.split(source)
        if len(pieces) == 1:
            return render_in_full()
        values = pieces[2::3]
        pieces[2::3] = [_HOLE_MARK] * len(values)
        key = b"".join(pieces)
        shape = self.shapes.get(key)
        if shape is not None:
            return shape.fill(values)
        rendered = render_in_full()
        if rendered is None or key in self.shapes or len(self.shapes) >= MAX_SHAPES:
            return rendered
        seen = hash(key)
        if seen in self.seen_once:
            self.shapes[key] = _learn(source, values, rendered, render_statement)
        else:
            if len(self.seen_once) >= 4 * MAX_SHAPES:
                self.seen_once.clear()
            self.seen_once.add(seen)
        return rendered
