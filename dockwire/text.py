"""Strings from the host, made safe to show: text, never markup, and never a terminal control.

Container, network and interface names, labels, rule comments and rule texts are whatever someone on the
host typed. Shown raw they can set the terminal's title (OSC), clear the screen (CSI), reorder a line
(bidi overrides) or hide characters (zero-width). `safe` replaces every such character by an escape:

* C0 controls (tab and newline included), DEL and C1 controls: ``\\xNN`` (``\\t``, ``\\n``, ``\\r`` for
  those three);
* surrogates (undecodable bytes) and format characters (Unicode category Cf: bidi embeddings, overrides
  and isolates, zero-width spaces and joiners, word joiner, BOM, soft hyphen, tag characters, ...) and
  the line/paragraph separators U+2028/U+2029: ``\\uNNNN`` (``\\UNNNNNNNN`` above U+FFFF).

Ordinary Unicode (accents, CJK, emoji, private-use icons) is kept as is, including the zero-width joiner
inside an emoji sequence and the tags of a subdivision flag. A backslash is kept as is: `safe` is
idempotent (`safe(safe(s)) == safe(s)`) and a name with a backslash looks as it was typed; `--json`
output tells a real escape from a literal one.

Pure: no Rich or Textual here, so the CLI and the widgets share the one rule. Markup is the widgets'
part (they build `Text`/`Content` objects, never markup strings, from what `safe` returns).
"""

from __future__ import annotations

import re

#: The format characters (Cf), U+2028/U+2029 (Zl, Zp) and the surrogates (Cs), as of Unicode 14 (a test
#: checks this still covers the running Python's tables).
_FORMAT_CLASS = (
    "\u00ad\u0600-\u0605\u061c\u06dd\u070f\u0890\u0891\u08e2\u180e"
    "\u200b-\u200f\u2028-\u202e\u2060-\u2064\u2066-\u206f"
    "\ud800-\udfff\ufeff\ufff9-\ufffb"
    "\U000110bd\U000110cd\U00013430-\U00013438\U0001bca0-\U0001bca3\U0001d173-\U0001d17a"
    "\U000e0001\U000e0020-\U000e007f"
)
#: Every character `safe` escapes (a regular expression character class).
UNSAFE_CLASS = "\x00-\x1f\x7f-\x9f" + _FORMAT_CLASS

_UNSAFE = re.compile(f"[{UNSAFE_CLASS}]")

# Emoji sequences whose invisible parts are part of the picture: pictographs joined by U+200D (with their
# variation selector and skin tone), and a black flag followed by tags (the subdivision flags).
_PICTOGRAPH = "[\u2190-\u21ff\u2300-\u23ff\u2600-\u27bf\u2b00-\u2bff\U0001f000-\U0001faff]"
_MODIFIERS = "[\ufe0f\U0001f3fb-\U0001f3ff]*"
_KEPT = (
    f"{_PICTOGRAPH}{_MODIFIERS}(?:\u200d{_PICTOGRAPH}{_MODIFIERS})+"
    "|\U0001f3f4[\U000e0020-\U000e007e]+\U000e007f"
)
_TOKENS = re.compile(f"({_KEPT})|([{UNSAFE_CLASS}])")
_TOKENS_KEEP_NEWLINE = re.compile(f"({_KEPT}|\n)|([{UNSAFE_CLASS}])")

_SHORT = {"\t": "\\t", "\n": "\\n", "\r": "\\r"}

#: Characters a JSON text may carry raw (inside strings) that a terminal would act on or hide.
_JSON_UNSAFE = re.compile(f"[\x7f-\x9f{_FORMAT_CLASS}]")


def escape_char(char: str) -> str:
    """One character as the escape `safe` shows it: ``\\x1b``, ``\\u202e``, ``\\U000e0041``."""
    if char in _SHORT:
        return _SHORT[char]
    code = ord(char)
    if code < 0x100:
        return f"\\x{code:02x}"
    if code < 0x10000:
        return f"\\u{code:04x}"
    return f"\\U{code:08x}"


def _replace(match: re.Match[str]) -> str:
    kept = match.group(1)
    return kept if kept is not None else escape_char(match.group(2))


def safe(text: str) -> str:
    """A host string as one line of plain text: every control, format character and separator escaped."""
    if _UNSAFE.search(text) is None:
        return text
    return _TOKENS.sub(_replace, text)


def safe_lines(text: str) -> str:
    """Like `safe`, but the newlines stay line breaks: for a block of lines that are ours (a report),
    whose fields were not escaped one by one."""
    if _UNSAFE.search(text.replace("\n", "")) is None:
        return text
    return _TOKENS_KEEP_NEWLINE.sub(_replace, text)


def shorten(text: str, limit: int) -> str:
    """`safe(text)`, cut to `limit` characters with an ellipsis when longer (for plain-text columns)."""
    shown = safe(text)
    return shown if len(shown) <= limit else shown[: max(0, limit - 1)] + "…"


def has_unsafe(text: str) -> bool:
    """Whether `text` holds a character `safe` would escape (emoji sequences count: this is a plain test)."""
    return _UNSAFE.search(text) is not None


def _json_escape(match: re.Match[str]) -> str:
    code = ord(match.group(0))
    if code < 0x10000:
        return f"\\u{code:04x}"
    code -= 0x10000
    return f"\\u{0xD800 + (code >> 10):04x}\\u{0xDC00 + (code & 0x3FF):04x}"


def safe_json(data: bytes) -> bytes:
    """JSON (UTF-8) with DEL, C1 controls and format characters written as ``\\uNNNN`` escapes.

    The JSON encoder already escapes C0 controls; the rest may appear raw inside strings (the only place a
    JSON text can hold them), where a terminal would act on them. The escaped text parses to the very same
    values; output without such characters is returned byte for byte."""
    if data.isascii():
        return data
    text = data.decode("utf-8")
    if _JSON_UNSAFE.search(text) is None:
        return data
    return _JSON_UNSAFE.sub(_json_escape, text).encode("utf-8")
