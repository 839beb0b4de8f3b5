"""Parse `nft -j list ruleset` (libnftables JSON) into firewall records.

Each rule's `text` is rendered back into nft syntax from the JSON, as `nft list ruleset` prints it, except
that `counter packets N bytes M` is written as plain `counter` (the numbers live in Rule.packets/bytes, so
the text stays stable while counters move). Expressions dockwire cannot render are kept as raw JSON
(`known=False`).

Error policy: any input gives either a correct parse or NftJsonError, never another exception.
- The structure is checked strictly, while decoding: the `nftables` list, and the table, chain, rule, set
  and map objects in it, with the fields dockwire reads (family, table, name, chain: strings; handle: a
  64-bit unsigned integer; comment, type, hook, policy: strings; prio: an integer; expr: a list). A broken
  object - a missing or wrongly typed field, an entry that is not an object or holds two objects - rejects
  the whole listing with NftJsonError naming its JSON path (`$.nftables[12].rule.expr`): nft never prints
  such a thing, so the data is not nft output (or it was truncated) and a partial ruleset would be
  misleading. Objects of other kinds (metainfo, flowtable, counter, element, ...) are ignored.
- Inside a sound rule, a statement that is not understood - an unknown expression, or a known one with
  missing keys or wrongly typed values, or a counter whose numbers are not 64-bit unsigned integers - is
  kept as an unknown statement (raw JSON, `known=False`, the rule flagged `unknown`), as are set elements
  that cannot be rendered.

Rendering is memoised per statement (its JSON text, counter numbers taken out), and each (family, table)
keeps what its last parse saw, so a poll of an unchanged ruleset renders nothing again, at any size. The
simple matches iptables-nft and Docker write (`ip saddr 10.0.0.0/8`, `tcp dport 80`, `iifname "docker0"`)
are read straight from their JSON text without decoding it, and a rule that differs from an earlier one only
in such matches' values renders from their shared shape (see nft_shapes).
"""

from __future__ import annotations

import json
import re
from typing import Annotated, Any

import msgspec
from msgspec import UNSET, UnsetType

from dockwire.gc_paused import gc_paused
from dockwire.model import Chain, Match, Rule, Table, Target
from dockwire.probes.nft_shapes import (
    HEX_KEYS,
    IFNAME_KEYS,
    SIMPLE_MATCH,
    UNQUALIFIED_META,
    RenderedRule,
    RuleShapes,
    render_simple_match,
)


class NftJsonError(ValueError):
    """The data is not `nft -j` output. The message is one line (unprintable characters escaped)."""

    def __init__(self, message: str) -> None:
        if not message.isprintable():
            message = "".join(c if c.isprintable() else c.encode("unicode_escape").decode() for c in message)
        super().__init__(message if len(message) <= 400 else message[:397] + "...")


class _Unknown(Exception):
    """An expression dockwire does not know how to render."""


# Everything a malformed statement can raise while it is rendered; it then becomes an unknown statement.
_RENDER_ERRORS = (_Unknown, KeyError, TypeError, ValueError, IndexError, AttributeError, RecursionError)
_U64_MAX = 2**64 - 1

_VERDICTS = {"accept": "ACCEPT", "drop": "DROP", "return": "RETURN", "continue": "CONTINUE", "queue": "QUEUE"}
_NAT = ("dnat", "snat", "masquerade", "redirect")
_BINOPS = ("&", "|", "^", "<<", ">>")


class _Style:
    """How a right-hand value is printed, decided by the left-hand side it is compared with."""

    __slots__ = ("hexa", "parts", "quote")

    def __init__(self, quote: bool = False, hexa: bool = False, parts: list[_Style] | None = None) -> None:
        self.quote = quote
        self.hexa = hexa
        self.parts = parts  # per component, for concatenations


_PLAIN = _Style()


def _quote(s: Any) -> str:
    if type(s) is not str:
        raise _Unknown
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _str(d: Any, key: str) -> str:
    """d[key], which must be a string (KeyError/TypeError when d has no such key or is no object)."""
    v = d[key]
    if type(v) is not str:
        raise _Unknown
    return v


def _int(d: Any, key: str) -> int:
    v = d[key]
    if type(v) is not int:
        raise _Unknown
    return v


def _pair(v: Any) -> list[Any]:
    if type(v) is not list or len(v) != 2:
        raise _Unknown
    return v


def _words(v: Any) -> str:
    """Flags: a string, or a list of strings joined by commas."""
    if type(v) is str:
        return v
    if type(v) is list and all(type(x) is str for x in v):
        return ",".join(v)
    raise _Unknown


def _style_of(left: Any) -> _Style:
    if isinstance(left, dict) and len(left) == 1:
        ((key, val),) = left.items()
        if key == "meta" and isinstance(val, dict):
            k = val.get("key", "")
            if type(k) is str:
                return _Style(quote=k in IFNAME_KEYS, hexa=k in HEX_KEYS)
        elif key == "ct" and isinstance(val, dict):
            k = val.get("key")
            return _Style(hexa=type(k) is str and k in HEX_KEYS)
        elif key == "concat" and isinstance(val, list):
            return _Style(parts=[_style_of(x) for x in val])
        elif key in _BINOPS and isinstance(val, list) and val:
            return _style_of(val[0])
        elif key == "fib" and isinstance(val, dict) and val.get("result") == "oifname":
            return _Style(quote=True)
    return _PLAIN


def _style_of_type(set_type: Any) -> _Style:
    if isinstance(set_type, list):
        return _Style(parts=[_style_of_type(t) for t in set_type if not isinstance(t, list)])
    return _Style(quote=set_type in ("ifname", "string"), hexa=set_type == "mark")


def _verdict_text(obj: dict[str, Any]) -> str | None:
    if len(obj) != 1:
        return None
    ((key, val),) = obj.items()
    if key in _VERDICTS and key != "queue":
        return key
    if key in ("jump", "goto") and isinstance(val, dict):
        return f"{key} {_str(val, 'target')}"
    return None


def _lhs(e: Any, qualified: bool = False) -> str:
    """Render a left-hand (key) expression; `qualified` always writes `meta <key>` (for Match.option)."""
    if not isinstance(e, dict) or len(e) != 1:
        raise _Unknown
    ((key, v),) = e.items()
    if key == "meta":
        k = _str(v, "key")
        return k if (k in UNQUALIFIED_META and not qualified) else f"meta {k}"
    if key == "payload":
        if "protocol" in v:
            return f"{_str(v, 'protocol')} {_str(v, 'field')}"
        return f"@{_str(v, 'base')},{_int(v, 'offset')},{_int(v, 'len')}"
    if key == "ct":
        parts = ["ct"]
        if "dir" in v:
            parts.append(_str(v, "dir"))
        if "family" in v:
            parts.append(_str(v, "family"))
        parts.append(_str(v, "key"))
        return " ".join(parts)
    if key == "fib":
        flags = v.get("flags", [])
        if type(flags) is not list or not all(type(f) is str for f in flags):
            raise _Unknown
        return f"fib {' . '.join(flags)} {_str(v, 'result')}"
    if key == "rt":
        family = v.get("family", "")
        if type(family) is not str:
            raise _Unknown
        return " ".join(p for p in ("rt", family, _str(v, "key")) if p)
    if key == "socket":
        return f"socket {_str(v, 'key')}"
    if key == "concat":
        if type(v) is not list:
            raise _Unknown
        return " . ".join(_lhs(x, qualified) for x in v)
    if key in _BINOPS:
        left, right = _pair(v)
        return f"{_lhs(left, qualified)} {key} {_value(right, _style_of(left), in_binop=True)}"
    raise _Unknown


def _value(e: Any, style: _Style = _PLAIN, in_binop: bool = False) -> str:
    """Render a right-hand value in nft syntax."""
    if isinstance(e, bool):
        return "exists" if e else "missing"
    if isinstance(e, int):
        return f"0x{e:08x}" if style.hexa else str(e)
    if isinstance(e, str):
        if e.startswith("@"):
            return e
        return _quote(e) if style.quote else e
    if isinstance(e, list):
        text = ",".join(_value(x, style) for x in e)
        return f"({text.replace(',', ' | ')})" if in_binop and len(e) > 1 else text
    if not isinstance(e, dict) or len(e) != 1:
        raise _Unknown
    ((key, v),) = e.items()
    verdict = _verdict_text(e)
    if verdict is not None:
        return verdict
    if key == "prefix":
        return f"{_value(v['addr'], style)}/{_int(v, 'len')}"
    if key == "range":
        low, high = _pair(v)
        return f"{_value(low, style)}-{_value(high, style)}"
    if key == "set":
        items = v if isinstance(v, list) else [v]
        return "{ " + ", ".join(_element(x, style) for x in items) + " }"
    if key == "concat":
        if type(v) is not list:
            raise _Unknown
        parts = style.parts or [_PLAIN] * len(v)
        return " . ".join(_value(x, parts[i] if i < len(parts) else _PLAIN) for i, x in enumerate(v))
    if key == "elem":
        return _element(e, style)
    if key in _BINOPS:
        left, right = _pair(v)
        return f"{_value(left, style)} {key} {_value(right, style)}"
    if key == "map":
        return f"{_lhs(v['key'])} map {_value(v['data'])}"
    raise _Unknown


def _element(x: Any, style: _Style) -> str:
    """One set element: a value, a `key : data` map pair, or an {"elem": {...}} with options."""
    if isinstance(x, list) and len(x) == 2:
        return f"{_element(x[0], style)} : {_value(x[1])}"
    if isinstance(x, dict) and "elem" in x:
        el = x["elem"]
        text = _value(el["val"], style)
        for opt in ("timeout", "expires"):
            if opt in el:
                text += f" {opt} {_int(el, opt)}s"
        if "comment" in el:
            text += f" comment {_quote(el['comment'])}"
        return text
    return _value(x, style)


def _raw_values(e: Any, style: _Style) -> list[str]:
    """The right-hand side as a list of plain (unquoted) values, for Match.args."""
    plain = _Style(hexa=style.hexa, parts=style.parts)
    if isinstance(e, list):
        return [_value(x, plain) for x in e]
    if isinstance(e, dict) and "set" in e:
        items = e["set"] if isinstance(e["set"], list) else [e["set"]]
        return [_element(x, plain) for x in items]
    return [_value(e, plain)]


def _match(stmt: Any) -> tuple[str, Match]:
    op = stmt.get("op", "==")
    if type(op) is not str:
        raise _Unknown
    left, right = stmt["left"], stmt["right"]
    style = _style_of(left)
    # nft prints `tcp flags & (syn | ack) == syn` as `tcp flags syn / syn,ack`.
    if (
        isinstance(left, dict)
        and "&" in left
        and isinstance(_pair(left["&"])[1], list | str)
        and op in ("==", "!=")
    ):
        base, mask = left["&"]
        shown_op = "" if op == "==" else "!= "
        text = f"{_lhs(base)} {shown_op}{_value(right, _style_of(base))} / {_value(mask, _style_of(base))}"
    else:
        shown_op = "" if op in ("==", "in") else f"{op} "
        text = f"{_lhs(left)} {shown_op}{_value(right, style)}"
    norm_op = "==" if op == "in" else op
    match = Match(
        module="nft",
        option=_lhs(left, qualified=True),
        args=_raw_values(right, style),
        negated=norm_op == "!=",
        op=norm_op,
    )
    return text, match


def _limit(v: Any) -> list[str]:
    parts = ["limit", "rate"]
    if v.get("inv"):
        parts.append("over")
    unit = v.get("rate_unit", "packets")
    if type(unit) is not str:
        raise _Unknown
    rate = _int(v, "rate")
    per = v.get("per", "second") if unit == "packets" else v["per"]
    if type(per) is not str:
        raise _Unknown
    parts.append(f"{rate}/{per}" if unit == "packets" else f"{rate} {unit}/{per}")
    burst = v.get("burst", 5 if unit == "packets" else 0)
    if type(burst) is not int:
        raise _Unknown
    if (unit == "packets" and burst != 5) or (unit != "packets" and burst):
        burst_unit = v.get("burst_unit", "packets")
        if type(burst_unit) is not str:
            raise _Unknown
        parts += ["burst", str(burst), burst_unit]
    return parts


def _nat(key: str, v: Any) -> list[str]:
    parts = [key]
    if v is None:
        v = {}
    elif not isinstance(v, dict):
        raise _Unknown
    if "family" in v:
        parts.append(_str(v, "family"))
    addr = v.get("addr")
    port = v.get("port")
    if addr is not None or port is not None:
        where = ""
        if addr is not None:
            where = _value(addr)
            if port is not None and ":" in where and v.get("family") == "ip6":
                where = f"[{where}]"
        if port is not None:
            where += f":{_value(port)}"
        parts += ["to", where]
    flags = v.get("flags")
    if flags:
        parts.append(_words(flags))
    return parts


def _log(v: Any) -> list[str]:
    parts = ["log"]
    if v is None:
        v = {}
    elif not isinstance(v, dict):
        raise _Unknown
    if "prefix" in v:
        parts += ["prefix", _quote(v["prefix"])]
    for opt in ("group", "snaplen", "queue-threshold"):
        if opt in v:
            parts += [opt, str(_int(v, opt))]
    if "level" in v:
        parts += ["level", _str(v, "level")]
    if "flags" in v:
        parts += ["flags", _words(v["flags"])]
    return parts


def _reject(v: Any) -> list[str]:
    if not v:
        return ["reject"]
    if not isinstance(v, dict):
        raise _Unknown
    kind = v.get("type", "")
    if type(kind) is not str:
        raise _Unknown
    if kind == "tcp reset":
        return ["reject", "with", "tcp", "reset"]
    parts = ["reject", "with", kind]
    if "expr" in v:
        expr = v["expr"]
        if type(expr) not in (str, int):
            raise _Unknown
        parts.append(str(expr))
    return parts


class _Stmt:
    """One rendered statement: its words, and what it means for the rule."""

    __slots__ = ("match", "parts", "role", "target")

    def __init__(self, parts: list[str], role: str, match: Match | None = None, target: Target | None = None):
        self.parts = parts
        self.role = role  # "match", "counter", "terminal", "action", "unknown"
        self.match = match
        self.target = target


def _statement(stmt: dict[str, Any]) -> _Stmt:
    ((key, v), *_) = stmt.items()
    if key == "match":
        text, match = _match(v)
        return _Stmt([text], "match", match=match)
    if key == "counter":
        if isinstance(v, str):
            return _Stmt(
                ["counter", "name", _quote(v)], "action", target=Target(name="counter", kind="extension")
            )
        if v is None or v == {}:  # the numbers are taken out before (see _render_statement)
            return _Stmt(["counter"], "counter")
        raise _Unknown
    if key in _VERDICTS:
        if key == "queue":
            parts = ["queue"]
            if isinstance(v, dict):
                if "num" in v:
                    parts += ["num", _value(v["num"])]
                if v.get("flags"):
                    parts.append(_words(v["flags"]))
            return _Stmt(parts, "terminal", target=Target(name="QUEUE", kind="verdict", args=parts[1:]))
        return _Stmt([key], "terminal", target=Target(name=_VERDICTS[key], kind="verdict"))
    if key in ("jump", "goto"):
        target = _str(v, "target")
        return _Stmt([key, target], "terminal", target=Target(name=target, kind=key))
    if key == "vmap":
        left = _lhs(v["key"])
        data = _value(v["data"], _style_of(v["key"]))
        return _Stmt(
            [left, "vmap", data],
            "terminal",
            target=Target(name="vmap", kind="vmap", args=[_lhs(v["key"], qualified=True), data]),
        )
    if key in _NAT:
        parts = _nat(key, v)
        return _Stmt(parts, "terminal", target=Target(name=key, kind="extension", args=parts[1:]))
    if key == "reject":
        parts = _reject(v)
        return _Stmt(parts, "terminal", target=Target(name="reject", kind="extension", args=parts[1:]))
    if key == "limit":
        parts = _limit(v)
        op = "over" if v.get("inv") else "=="
        return _Stmt(parts, "match", match=Match(module="nft", option="limit", args=parts[1:], op=op))
    if key == "log":
        parts = _log(v)
        return _Stmt(parts, "action", target=Target(name="log", kind="extension", args=parts[1:]))
    if key == "mangle":
        style = _style_of(v["key"])
        parts = [_lhs(v["key"]), "set", _value(v["value"], style)]
        return _Stmt(
            parts,
            "action",
            target=Target(name=f"{_lhs(v['key'], qualified=True)} set", kind="extension", args=parts[2:]),
        )
    if key == "notrack":
        return _Stmt(["notrack"], "action", target=Target(name="notrack", kind="extension"))
    if key == "set":
        elem = v["elem"]
        parts = [
            _str(v, "op"),
            _str(v, "set"),
            "{",
            _value(elem) if not isinstance(elem, dict) else _lhs(elem),
            "}",
        ]
        return _Stmt(parts, "action", target=Target(name="set", kind="extension", args=parts))
    if key == "ct helper":
        parts = ["ct", "helper", "set", _quote(v)]
        return _Stmt(parts, "action", target=Target(name="ct helper set", kind="extension", args=[v]))
    if key == "flow":
        parts = ["flow", _str(v, "op"), _str(v, "flowtable")]
        return _Stmt(parts, "terminal", target=Target(name="flow", kind="extension", args=parts[1:]))
    raise _Unknown


def _compact_json(value: Any, fallback: bytes) -> str:
    try:
        return json.dumps(value, separators=(",", ":"), sort_keys=False)
    except (RecursionError, ValueError, TypeError):
        return fallback.decode("utf-8", "replace")


def _unknown_statement(stmt: Any, source: bytes) -> _Stmt:
    if not isinstance(stmt, dict) or not stmt:
        stmt = {"?": stmt}
    raw = _compact_json(stmt, source)
    key = next(iter(stmt))
    xt = stmt.get("xt") if key == "xt" else None
    if isinstance(xt, dict) and type(xt.get("type", "")) is str and type(xt.get("name", "")) is str:
        parts = ["xt", xt.get("type", ""), _quote(xt.get("name", ""))]
        if xt.get("type") == "target":
            return _Stmt(
                parts, "unknown", target=Target(name=xt.get("name", ""), kind="extension", args=[raw])
            )
    else:
        parts = [raw]
    return _Stmt(parts, "unknown", match=Match(module="nft", option=key, args=[raw], known=False))


# A rendered statement: (text, match, target, ends the rule (terminal or unknown), unknown, the counter's
# (packets, bytes) when they could not be taken out of the JSON text beforehand, else None).
_Rendered = tuple[str, Match | None, Target | None, bool, bool, tuple[int, int] | None]


def _render_decoded(stmt: Any, source: bytes) -> _Rendered:
    packets = bytes_ = 0
    try:
        if not isinstance(stmt, dict) or not stmt:
            raise _Unknown
        counter = stmt.get("counter") if len(stmt) == 1 else None
        if isinstance(counter, dict) and counter:
            packets, bytes_ = counter.get("packets", 0), counter.get("bytes", 0)
            if (
                not counter.keys() <= {"packets", "bytes"}
                or type(packets) is not int
                or type(bytes_) is not int
                or not 0 <= packets <= _U64_MAX
                or not 0 <= bytes_ <= _U64_MAX
            ):
                packets = bytes_ = 0
                raise _Unknown
            stmt = {"counter": {}}
        st = _statement(stmt)
        text = " ".join(st.parts)
    except _RENDER_ERRORS:
        st = _unknown_statement(stmt, source)
        text = " ".join(st.parts)
    ends = st.role in ("terminal", "unknown")
    counts = (packets, bytes_) if packets or bytes_ else None
    return text, st.match, st.target, ends, st.role == "unknown", counts


# The simple matches (`ip saddr 10.0.0.0/8`, `tcp dport 80`, `iifname "docker0"`) are read from their text;
# anything else is decoded and rendered in full.
_FAST_MATCH = SIMPLE_MATCH


def _fast_match(m: re.Match[bytes]) -> _Rendered:
    text, match = render_simple_match(m)
    return text, match, None, False, False, None


def _render_statement(source: bytes) -> _Rendered:
    """Render one statement from its JSON text."""
    fast = _FAST_MATCH.fullmatch(source)
    if fast is not None:
        return _fast_match(fast)
    try:
        stmt = msgspec.json.decode(source)
    except (msgspec.DecodeError, RecursionError):
        stmt = {"?": source.decode("utf-8", "replace")}
    return _render_decoded(stmt, source)


# `{"counter": {"packets": N, "bytes": M}}`: the numbers go to the rule, the statement renders as `counter`.
_COUNTER = re.compile(
    rb'\{\s*"counter"\s*:\s*\{\s*"packets"\s*:\s*(0|[1-9][0-9]{0,18})\s*,\s*"bytes"\s*:\s*(0|[1-9][0-9]{0,18})'
    rb"\s*\}\s*\}"
)
_BARE_COUNTER = b'{"counter": {}}'


# --- decoding -----------------------------------------------------------------------------------------------

_U64 = Annotated[int, msgspec.Meta(ge=0)]


class _TableObj(msgspec.Struct):
    family: str
    name: str


class _ChainObj(msgspec.Struct):
    family: str
    table: str
    name: str
    type: str = ""
    hook: str | UnsetType = UNSET
    prio: int | None = None
    policy: str = "accept"


class _RuleObj(msgspec.Struct):
    family: str
    table: str
    chain: str
    handle: _U64 | None = None
    comment: str | UnsetType = UNSET
    # Kept as JSON text: rendering is memoised on it (counter numbers taken out), see _RuleRenderer.
    expr: msgspec.Raw = msgspec.Raw(b"[]")


class _SetObj(msgspec.Struct):
    family: str
    table: str
    name: str
    type: Any = None
    elem: msgspec.Raw | UnsetType = UNSET


class _Entry(msgspec.Struct):
    table: _TableObj | UnsetType = UNSET
    chain: _ChainObj | UnsetType = UNSET
    rule: _RuleObj | UnsetType = UNSET
    set: _SetObj | UnsetType = UNSET
    map: _SetObj | UnsetType = UNSET


class _Listing(msgspec.Struct):
    nftables: list[_Entry]


_decoder = msgspec.json.Decoder(_Listing)


def _load(data: dict[str, Any] | str | bytes) -> list[_Entry]:
    if not isinstance(data, str | bytes):
        try:
            data = msgspec.json.encode(data)
        except (TypeError, ValueError, OverflowError, RecursionError) as exc:
            raise NftJsonError(f"not JSON data: {exc}") from None
    try:
        return _decoder.decode(data).nftables
    except msgspec.ValidationError as exc:
        message = str(exc)
        if " - at `$.nftables[" not in message:
            raise NftJsonError('not nft -j output (no "nftables" list)') from None
        raise NftJsonError(f"not nft -j output: {message}") from None
    except msgspec.DecodeError as exc:
        raise NftJsonError(f"not JSON: {exc}") from None
    except RecursionError:
        raise NftJsonError("not nft -j output: nested too deeply") from None
    except UnicodeError as exc:
        raise NftJsonError(f"not JSON: {exc}") from None


def parse_nft_json(data: dict[str, Any] | str | bytes) -> list[Table]:
    """Parse `nft -j list ruleset` (or `nft -j list table ...`) output into Table records, in listing order.

    Raises NftJsonError (a ValueError) for data that is not nft JSON; see the module docstring for the policy.
    """
    with gc_paused():
        return _parse_objects(_load(data))


_CACHED_CONTEXTS = 64
# (family, table) -> what its last parse rendered.
_cache: dict[tuple[str, str], _RuleRenderer] = {}
# Rules rendered by shape (see nft_shapes): most rules of a ruleset render without decoding a statement.
_shapes = RuleShapes()


def clear_cache() -> None:
    """Forget every cached rendering (for benchmarks and tests)."""
    _cache.clear()
    _shapes.clear()


class _TableParts:
    __slots__ = ("chains", "rules", "sets")

    def __init__(self) -> None:
        self.chains: dict[str, _ChainObj] = {}
        self.rules: dict[str, list[tuple[int, _RuleObj]]] = {}
        self.sets: dict[str, list[str]] = {}


def _set_elements(obj: _SetObj) -> list[str]:
    if obj.elem is UNSET:
        return []
    try:
        elems = msgspec.json.decode(obj.elem)
    except (msgspec.DecodeError, RecursionError):
        return [bytes(obj.elem).decode("utf-8", "replace")]
    if not isinstance(elems, list):
        elems = [elems]
    style = _style_of_type(obj.type)
    out = []
    for el in elems:
        try:
            out.append(_element(el, style))
        except _RENDER_ERRORS:
            out.append(_compact_json(el, b"?"))
    return out


def _parse_objects(entries: list[_Entry]) -> list[Table]:
    tables: dict[tuple[str, str], _TableParts] = {}

    def table_for(family: str, name: str) -> _TableParts:
        t = tables.get((family, name))
        if t is None:
            t = tables[(family, name)] = _TableParts()
        return t

    for index, entry in enumerate(entries):
        rule, table, chain, set_, map_ = entry.rule, entry.table, entry.chain, entry.set, entry.map
        if (rule is not UNSET) + (table is not UNSET) + (chain is not UNSET) + (set_ is not UNSET) + (
            map_ is not UNSET
        ) > 1:
            raise NftJsonError(f"not nft -j output: more than one object in `$.nftables[{index}]`")
        if rule is not UNSET:
            if rule.handle is not None and rule.handle > _U64_MAX:
                raise NftJsonError(
                    f"not nft -j output: handle out of range - at `$.nftables[{index}].rule.handle`"
                )
            parts = table_for(rule.family, rule.table)
            chain_rules = parts.rules.get(rule.chain)
            if chain_rules is None:
                chain_rules = parts.rules[rule.chain] = []
            chain_rules.append((index, rule))
        elif table is not UNSET:
            table_for(table.family, table.name)
        elif chain is not UNSET:
            table_for(chain.family, chain.table).chains[chain.name] = chain
        elif set_ is not UNSET:
            table_for(set_.family, set_.table).sets[set_.name] = _set_elements(set_)
        elif map_ is not UNSET:
            table_for(map_.family, map_.table).sets[map_.name] = _set_elements(map_)

    result: list[Table] = []
    renderers: list[tuple[tuple[str, str], _RuleRenderer]] = []
    for (family, name), t in tables.items():
        renderer = _RuleRenderer(_cache.get((family, name)))
        chains: list[Chain] = []
        for cname in list(t.chains) + [c for c in t.rules if c not in t.chains]:
            build = renderer.rule
            rules = [
                build(name, cname, pos, index, r) for pos, (index, r) in enumerate(t.rules.get(cname, []), 1)
            ]
            cdef = t.chains.get(cname)
            if cdef is not None and isinstance(cdef.hook, str):  # a base chain
                chains.append(
                    Chain(
                        name=cname,
                        policy=cdef.policy.upper(),
                        builtin=True,
                        rules=rules,
                        hook=cdef.hook,
                        priority=cdef.prio,
                        type=cdef.type,
                    )
                )
            else:
                chains.append(Chain(name=cname, rules=rules))
        result.append(Table(source="nftables", family=family, name=name, chains=chains, sets=t.sets))
        renderers.append(((family, name), renderer))
    for context, renderer in renderers:  # only once the whole listing parsed
        renderer.previous = None
        _cache.pop(context, None)
        _cache[context] = renderer
        while len(_cache) > _CACHED_CONTEXTS:
            del _cache[next(iter(_cache))]
    return result


# A counter statement exactly as libnftables prints it: its numbers are taken out of the rule's text.
_PRINTED_COUNTER = re.compile(rb'\{"counter": \{"packets": ([0-9]{1,19}), "bytes": ([0-9]{1,19})\}\}')
_expr_decoder = msgspec.json.Decoder(list[msgspec.Raw])
# Memo entry for expressions whose text holds a counter below the statement level: rendered every time.
_NESTED: RenderedRule = ("", (), None, False, None)


class _RuleRenderer:
    """Renders rules, memoised by their expressions' JSON text (whole rules, then single statements), reusing
    what the previous parse of the same table rendered; keeps what this parse used, for the next one."""

    __slots__ = ("previous", "rules", "statements")

    def __init__(self, previous: _RuleRenderer | None) -> None:
        self.rules: dict[bytes, RenderedRule] = {}
        self.statements: dict[bytes, _Rendered] = {}
        self.previous = previous

    def rule(self, table: str, chain: str, position: int, index: int, r: _RuleObj) -> Rule:
        packets = bytes_ = 0
        # Take the counters' numbers out of the text, as libnftables prints them; other spellings are left in
        # (still correct, only not shared between polls). The pattern cannot occur inside a JSON string.
        pieces = _PRINTED_COUNTER.split(r.expr)  # pieces of bytes (no copy of the whole text first)
        if len(pieces) == 1:
            source = pieces[0]
        elif len(pieces) == 4:  # one counter, the usual
            packets, bytes_ = int(pieces[1]), int(pieces[2])
            source = pieces[0] + _BARE_COUNTER + pieces[3]
        else:
            packets, bytes_ = sum(map(int, pieces[1::3])), sum(map(int, pieces[2::3]))
            source = _BARE_COUNTER.join(pieces[0::3])
        rendered = self.rules.get(source)
        if rendered is None:
            previous = self.previous
            rendered = previous.rules.get(source) if previous is not None else None
            if rendered is None:
                rendered = _shapes.render(
                    source, lambda: self._render(source, index, check=True), _render_statement
                )
                rendered = rendered or _NESTED
            self.rules[source] = rendered
        if rendered is _NESTED:  # only statements' own counters count, as nft means them
            rendered = self._render(bytes(r.expr), index)
            packets = bytes_ = 0
        assert rendered is not None
        text, matches, target, unknown, counts = rendered
        if counts is not None:
            packets += counts[0]
            bytes_ += counts[1]
        comment = r.comment
        if isinstance(comment, UnsetType):
            comment = ""
        else:
            quoted = f'"{comment}"' if '"' not in comment and "\\" not in comment else _quote(comment)
            text = f"{text} comment {quoted}" if text else f"comment {quoted}"
        return Rule(
            table=table,
            chain=chain,
            position=position,
            text=text,
            matches=list(matches),
            target=target,
            packets=packets,
            bytes=bytes_,
            comment=comment,
            handle=r.handle,
            unknown=unknown,
        )

    def _render(self, source: bytes, index: int, check: bool = False) -> RenderedRule | None:
        """Render a rule's expressions from their JSON text. With `check`, None when the text has a bare
        counter `{"counter": {}}` that is not a statement of its own (then the numbers the caller took out
        of the text were not all the rule's counters)."""
        try:
            statements = _expr_decoder.decode(source)
        except msgspec.ValidationError as exc:
            raise NftJsonError(f"not nft -j output: {exc} - at `$.nftables[{index}].rule.expr`") from None
        except (msgspec.DecodeError, RecursionError):
            raise NftJsonError(
                f"not nft -j output: unreadable expressions at `$.nftables[{index}].rule.expr`"
            ) from None
        words: list[str] = []
        matches: list[Match] = []
        packets = bytes_ = 0
        unknown = False
        last_end: Target | None = None
        last_any: Target | None = None
        previous = self.previous.statements if self.previous is not None else {}
        seen = self.statements
        bare = 0
        for raw in statements:
            stmt = bytes(raw)
            if stmt == _BARE_COUNTER:
                bare += 1
            rendered = seen.get(stmt)
            if rendered is None:
                # A counter the rule-level pass did not take out (other spacing): count it here, and
                # memoise the statement without its numbers.
                if b'"counter"' in stmt and (counted := _COUNTER.fullmatch(stmt)):
                    packets += int(counted[1])
                    bytes_ += int(counted[2])
                    stmt = _BARE_COUNTER
                    rendered = seen.get(stmt)
                if rendered is None:
                    rendered = previous.get(stmt)
                    if rendered is None:
                        rendered = _render_statement(stmt)
                    seen[stmt] = rendered
            text, match, target, ends, is_unknown, counts = rendered
            words.append(text)
            if match is not None:
                matches.append(match)
            if target is not None:
                last_any = target
                if ends:
                    last_end = target
            if is_unknown:
                unknown = True
            if counts is not None:
                packets += counts[0]
                bytes_ += counts[1]
        if check and bare != source.count(_BARE_COUNTER):
            return None
        counted_here = (packets, bytes_) if packets or bytes_ else None
        target = last_end if last_end is not None else last_any
        return " ".join(words), tuple(matches), target, unknown, counted_here


def render_rule(rule: dict[str, Any]) -> tuple[str, list[Match], Target | None, int, int, bool]:
    """Text, matches, target, packets, bytes and the unknown flag of one JSON rule object."""
    try:
        obj = msgspec.json.decode(
            msgspec.json.encode({"family": "", "table": "", "chain": "", **rule}), type=_RuleObj
        )
    except (msgspec.DecodeError, TypeError, ValueError, RecursionError) as exc:
        raise NftJsonError(f"not an nft rule: {exc}") from None
    built = _RuleRenderer(None).rule("", "", 1, 0, obj)
    return built.text, built.matches, built.target, built.packets, built.bytes, built.unknown
