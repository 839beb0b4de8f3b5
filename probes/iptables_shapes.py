"""Read iptables rule lines by their shape: the line with its free arguments taken out.

A ruleset repeats a few shapes (`-A DOCKER-USER -s _ -d _ -p tcp -m tcp --dport _ -j ACCEPT`) with other
addresses, ports and comments. One regular-expression pass takes out every word whose text cannot change
how the line parses; the shape left is parsed once, by the general parser, with a marker in each hole, and
each later line of that shape gets its records by putting its own words into the holes.

A hole is a whole double-quoted word (`"say \\"hi\\""`, unescaped as the tokenizer does), or a bare word
that is not "!", does not start with "-" and does not follow -m/-j/-g (a module or target name stays in
the shape). Lines whose words this could split otherwise than the tokenizer (tabs, runs of spaces, single
quotes, backslashes outside double quotes, a quote inside a word, NUL) have no shape: the caller reads them
word by word.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import NamedTuple, cast

from dockwire.model import Match
from dockwire.rule_words import unescape_double_quoted

# A hole with the space before it: a "..." word, or a bare word that is not option-like and not "!"; not after
# a module or target flag; then a space or the end. Splitting a line at holes leaves its shape's pieces.
_HOLE = re.compile(
    r""" (?<!-[mjg] )(?<!--match )(?<!--(?:jump|goto) )"""
    r"""([^-!"'\\ ][^ "'\\]*+|![^ "'\\]++|"[^"\\]*+(?:\\.[^"\\]*+)*+")(?= |$)""",
    re.S,
)
_HOLE_MARK = "\x00"
_SHAPE_HOLE = " " + _HOLE_MARK
# How many shapes are remembered (bounded: hostile input cannot grow it); later ones are read word by word.
MAX_SHAPES = 4096


class ParsedRule(NamedTuple):
    """The chain-independent parts of one `-A CHAIN ...` line."""

    chain: str
    matches: tuple[Match, ...]
    target: str | None
    goto: bool
    target_args: tuple[str, ...]
    comment: str
    unknown: bool


# A word of a shape's records: its text, or the number of the hole it comes from.
_Part = str | int
# How to make one match of a shape: its place, module, option, its args (one hole's number, or parts),
# negated, known.
_MatchRecipe = tuple[int, str, str, int | tuple[_Part, ...], bool, bool]


def _fill_parts(parts: tuple[_Part, ...], words: list[str]) -> list[str]:
    return [words[p] if isinstance(p, int) else p for p in parts]


class _Shape:
    """What a shape parses to, with the holes' numbers in place of their words."""

    __slots__ = ("chain", "comments", "fixed", "recipes", "target", "target_args", "target_parts", "unknown")

    def __init__(
        self,
        chain: _Part,
        fixed: list[Match | None],
        recipes: list[_MatchRecipe],
        target: tuple[str | None, bool],
        target_parts: tuple[_Part, ...],
        comments: tuple[int, ...],
        unknown: bool,
    ) -> None:
        self.chain = chain
        self.fixed = fixed  # the matches every line of the shape shares, None where a recipe makes one
        self.recipes = recipes
        self.target = target
        self.target_parts = target_parts
        # The target's args when they have no hole (shared by every line), else None.
        self.target_args: tuple[str, ...] | None = None
        if all(type(p) is str for p in target_parts):
            self.target_args = tuple(_fill_parts(target_parts, []))
        self.comments = comments  # the matches whose first arg is (part of) the comment
        self.unknown = unknown

    def fill(self, words: list[str]) -> ParsedRule:
        """The parse of the line whose hole words are `words`."""
        made = self.fixed.copy()
        for place, module, option, parts, negated, known in self.recipes:
            args = [words[parts]] if isinstance(parts, int) else _fill_parts(parts, words)
            made[place] = Match(module=module, option=option, args=args, negated=negated, known=known)
        matches = cast("tuple[Match, ...]", tuple(made))  # every place is filled now
        comments = self.comments
        if not comments:
            comment = ""
        elif len(comments) == 1:
            comment = matches[comments[0]].args[0]
        else:
            comment = "; ".join(matches[i].args[0] for i in comments)
        chain = self.chain
        target_args = self.target_args
        if target_args is None:
            target_args = tuple(_fill_parts(self.target_parts, words))
        return ParsedRule(
            chain if isinstance(chain, str) else words[chain],
            matches,
            self.target[0],
            self.target[1],
            target_args,
            comment,
            self.unknown,
        )


def _hole_number(word: str) -> int | None:
    return int(word[1:]) if word[:1] == _HOLE_MARK else None


def _parts(words: list[str] | tuple[str, ...]) -> tuple[_Part, ...]:
    return tuple(w if (n := _hole_number(w)) is None else n for w in words)


def _shape_of(parsed: ParsedRule) -> _Shape | None:
    """The shape of a parse made with hole markers; None when a marker ended up where a hole's word cannot
    be put back (then the shape's lines are read word by word)."""
    named = (parsed.target or "", *(f"{m.module}{m.option}" for m in parsed.matches))
    if any(_HOLE_MARK in s for s in named):
        return None
    fixed: list[Match | None] = []
    recipes: list[_MatchRecipe] = []
    comments: list[int] = []
    for place, m in enumerate(parsed.matches):
        if m.module == "comment" and m.option == "--comment" and m.args:
            comments.append(place)
        parts = _parts(m.args)
        if all(type(p) is str for p in parts):
            fixed.append(m)
            continue
        fixed.append(None)
        one = parts[0] if len(parts) == 1 and type(parts[0]) is int else parts
        recipes.append((place, m.module, m.option, one, m.negated, m.known))
    if "; ".join(parsed.matches[i].args[0] for i in comments) != parsed.comment:
        return None
    chain = _hole_number(parsed.chain)
    return _Shape(
        parsed.chain if chain is None else chain,
        fixed,
        recipes,
        (parsed.target, parsed.goto),
        _parts(parsed.target_args),
        tuple(comments),
        parsed.unknown,
    )


class RuleShapes:
    """Parses of rule lines by shape. `parse_words(words, text)` is the general parser of a line's words,
    `parse_line(text)` that of a whole line: a shape is kept only when it gives the line it is learnt from
    exactly the general parse."""

    __slots__ = ("parse_line", "parse_words", "shapes")

    def __init__(
        self,
        parse_words: Callable[[list[str], str], ParsedRule],
        parse_line: Callable[[str], ParsedRule],
    ) -> None:
        self.parse_words = parse_words
        self.parse_line = parse_line
        self.shapes: dict[str, _Shape | None] = {}

    def clear(self) -> None:
        self.shapes.clear()

    def parse(self, line: str) -> ParsedRule | None:
        """The parse of a rule line, or None when it has no shape (or too many shapes are known)."""
        if "\t" in line or "  " in line or _HOLE_MARK in line:
            return None
        pieces = _HOLE.split(line)
        shape_text = _SHAPE_HOLE.join(pieces[0::2])
        words = pieces[1::2]
        if '"' in line:
            words = [unescape_double_quoted(w[1:-1]) if w[:1] == '"' else w for w in words]
        shape = self.shapes.get(shape_text)
        if shape is None:
            if shape_text in self.shapes or len(self.shapes) >= MAX_SHAPES:
                return None
            if '"' in shape_text or "\\" in shape_text or "'" in shape_text:
                return None  # a quote or backslash the holes did not take
            shape = self._learn(shape_text, line)
            if shape is not None and shape.fill(words) != self.parse_line(line):
                shape = None
            self.shapes[shape_text] = shape
            if shape is None:
                return None
        return shape.fill(words)

    def _learn(self, shape_text: str, line: str) -> _Shape | None:
        marked = shape_text.split(" ")
        hole = 0
        for i, word in enumerate(marked):
            if word == _HOLE_MARK:
                marked[i] = f"{_HOLE_MARK}{hole}"
                hole += 1
        return _shape_of(self.parse_words(marked, line))
