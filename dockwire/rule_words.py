"""The words of an iptables rule line as iptables-save prints it (quotes and escapes undone).

Shared by the iptables-save reader and by the verdict engine's fixes, which write a rule's spec back as an
`iptables -D` command: both must read a comment like `"say \\"hi\\""` the way iptables does.
"""

from __future__ import annotations

import operator
import re
from typing import NamedTuple

# One word of a rule line: bare characters, "double-quoted" (backslash escapes), 'single-quoted', \x.
_WORD = re.compile(r"""(?:[^ \t"'\\]+|"[^"\\]*(?:\\.[^"\\]*)*"?|'[^']*'?|\\.?)+""", re.S)
_PIECE = re.compile(r""""([^"\\]*(?:\\.[^"\\]*)*)"?|'([^']*)'?|\\(.?)|([^"'\\]+)""", re.S)
_DQ_ESCAPE = re.compile(r"""\\(["\\'])""")
_first_group = operator.itemgetter(1)
_BLANKS = re.compile(r"[^ \t]+")


class Token(NamedTuple):
    text: str
    # True when the token was (partly) quoted: then it is always an argument, never an option.
    quoted: bool


def unescape_double_quoted(body: str) -> str:
    """The text of a double-quoted string: `\\"`, `\\\\` and `\\'` stand for the character after the
    backslash; any other backslash is itself (xtables_save_string escapes exactly those three)."""
    if "\\\\" in body:
        return _DQ_ESCAPE.sub(_first_group, body)
    return body.replace('\\"', '"').replace("\\'", "'")


def _unquote(word: str) -> tuple[str, bool]:
    """The text of one word with quotes and escapes taken out, and whether any part of it was quoted."""
    parts: list[str] = []
    quoted = False
    for m in _PIECE.finditer(word):
        kind = m.lastindex
        if kind == 1:
            quoted = True
            body = m.group(1)
            parts.append(unescape_double_quoted(body) if "\\" in body else body)
        elif kind == 2:
            quoted = True
            parts.append(m.group(2))
        elif kind == 3:
            parts.append(m.group(3) or "\\")
        else:
            parts.append(m.group(4))
    return "".join(parts), quoted


def plain_words(text: str) -> list[str]:
    """Words of text with no quotes or backslashes, split at spaces and tabs only."""
    if "\t" in text:
        return _BLANKS.findall(text)
    words = text.split(" ")
    if "" in words:
        words = [w for w in words if w]
    return words


def _split_double_quoted(line: str) -> tuple[list[str], set[int] | None] | None:
    """The common quoted line: whole words in double quotes (`--comment "say \\"hi\\""`) between bare
    words, single spaces between words, backslashes only before a quote inside quotes. None for anything
    else (the general tokenizer reads it)."""
    if "\\\\" in line or "\x01" in line or "\x02" in line or "\t" in line or "  " in line:
        return None
    parts = (line.replace('\\"', "\x01") if '\\"' in line else line).split('"')
    if not len(parts) % 2:
        return None  # an unterminated quote
    # The bare text with one \x02 word standing for each quoted word.
    skeleton = "\x02".join(parts[0::2])
    if "\\" in skeleton or "'" in skeleton or "\x01" in skeleton:
        return None
    words = skeleton.split(" ")
    if "" in words:
        return None
    quoted: set[int] = set()
    at = 0
    try:
        for body in parts[1::2]:
            at = words.index("\x02", at)  # ValueError: a quoted word glued to other text
            if "\x01" in body:
                body = body.replace("\x01", '"')
            if "\\" in body:
                body = body.replace("\\'", "'")
            words[at] = body
            quoted.add(at)
            at += 1
    except ValueError:
        return None
    return words, quoted


def split_words(line: str) -> tuple[list[str], set[int] | None]:
    """The words of a line, and the positions of the (partly) quoted ones (None when there are none)."""
    if '"' not in line and "'" not in line and "\\" not in line:
        return plain_words(line), None
    fast = _split_double_quoted(line)
    if fast is not None:
        return fast
    words = _WORD.findall(line)
    quoted: set[int] = set()
    for i, word in enumerate(words):
        if '"' in word or "'" in word or "\\" in word:
            words[i], was_quoted = _unquote(word)
            if was_quoted:
                quoted.add(i)
    return words, quoted or None


def tokenize(line: str) -> list[Token]:
    """Split a rule line into words at spaces and tabs. "Double quotes" undo iptables-save's escaping (a
    backslash before `"`, `\\` or `'`); 'single quotes' are literal and a bare backslash escapes the next
    character (shell-like, for hand-written lines)."""
    words, quoted = split_words(line)
    if quoted is None:
        return [Token(w, False) for w in words]
    return [Token(w, i in quoted) for i, w in enumerate(words)]


def rule_words(line: str) -> list[str]:
    """Just the words of a rule line, unquoted (`-A DOCKER-USER -m comment --comment "a b"` → 7 words)."""
    return split_words(line)[0]
