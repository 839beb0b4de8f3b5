"""Parse `nft -j list ruleset` (libnftables JSON) into firewall records.

Each rule's `text` is rendered back into nft syntax from the JSON, as `nft list ruleset` prints it, except
that `counter packets N bytes M` is written as plain `counter` (the numbers live in Rule.packets/bytes, so
the text stays stable while counters move). Expressions dockwire cannot render are kept as raw JSON
(`known=False`).
"""

from __future__ import annotations

import json
from functools import lru_cache
from typing import Any

import msgspec

from dockwire.model import Chain, Match, Rule, Table, Target
from dockwire.probes.gc_paused import gc_paused


class NftJsonError(ValueError):
    """The data is not `nft -j` output."""


class _Unknown(Exception):
    """An expression dockwire does not know how to render."""


# Meta keys nft prints without the `meta` keyword.
_UNQUALIFIED_META = frozenset({"iif", "oif", "iifname", "oifname", "iifgroup", "oifgroup"})
# Keys whose values are interface names (printed quoted).
_IFNAME_KEYS = frozenset(
    {"iifname", "oifname", "ibrname", "obrname", "ibriport", "obriport", "iifkind", "oifkind", "sdifname"}
)
# Keys whose values nft prints as 32-bit hex.
_HEX_KEYS = frozenset({"mark"})
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


def _quote(s: str) -> str:
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _style_of(left: Any) -> _Style:
    if isinstance(left, dict) and len(left) == 1:
        ((key, val),) = left.items()
        if key == "meta":
            k = val.get("key", "")
            return _Style(quote=k in _IFNAME_KEYS, hexa=k in _HEX_KEYS)
        if key == "ct":
            return _Style(hexa=val.get("key") in _HEX_KEYS)
        if key == "concat":
            return _Style(parts=[_style_of(x) for x in val])
        if key in _BINOPS:
            return _style_of(val[0])
        if key == "fib" and val.get("result") == "oifname":
            return _Style(quote=True)
    return _PLAIN


def _style_of_type(set_type: Any) -> _Style:
    if isinstance(set_type, list):
        return _Style(parts=[_style_of_type(t) for t in set_type])
    return _Style(quote=set_type in ("ifname", "string"), hexa=set_type == "mark")


def _verdict_text(obj: dict[str, Any]) -> str | None:
    if len(obj) != 1:
        return None
    ((key, val),) = obj.items()
    if key in _VERDICTS and key != "queue":
        return key
    if key in ("jump", "goto") and isinstance(val, dict):
        return f"{key} {val['target']}"
    return None


def _lhs(e: Any, qualified: bool = False) -> str:
    """Render a left-hand (key) expression; `qualified` always writes `meta <key>` (for Match.option)."""
    if not isinstance(e, dict) or len(e) != 1:
        raise _Unknown
    ((key, v), *_) = e.items()
    if key == "meta":
        k = v["key"]
        return k if (k in _UNQUALIFIED_META and not qualified) else f"meta {k}"
    if key == "payload":
        if "protocol" in v:
            return f"{v['protocol']} {v['field']}"
        return f"@{v['base']},{v['offset']},{v['len']}"
    if key == "ct":
        parts = ["ct"]
        if "dir" in v:
            parts.append(v["dir"])
        if "family" in v:
            parts.append(v["family"])
        parts.append(v["key"])
        return " ".join(parts)
    if key == "fib":
        return f"fib {' . '.join(v.get('flags', []))} {v['result']}"
    if key == "rt":
        return " ".join(p for p in ("rt", v.get("family", ""), v["key"]) if p)
    if key == "socket":
        return f"socket {v['key']}"
    if key == "concat":
        return " . ".join(_lhs(x, qualified) for x in v)
    if key in _BINOPS:
        left, right = v
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
        return f"{_value(v['addr'], style)}/{v['len']}"
    if key == "range":
        return f"{_value(v[0], style)}-{_value(v[1], style)}"
    if key == "set":
        items = v if isinstance(v, list) else [v]
        return "{ " + ", ".join(_element(x, style) for x in items) + " }"
    if key == "concat":
        parts = style.parts or [_PLAIN] * len(v)
        return " . ".join(_value(x, parts[i] if i < len(parts) else _PLAIN) for i, x in enumerate(v))
    if key == "elem":
        return _element(e, style)
    if key in _BINOPS:
        return f"{_value(v[0], style)} {key} {_value(v[1], style)}"
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
                text += f" {opt} {el[opt]}s"
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


def _match(stmt: dict[str, Any]) -> tuple[str, Match]:
    op = stmt.get("op", "==")
    left, right = stmt["left"], stmt["right"]
    style = _style_of(left)
    # nft prints `tcp flags & (syn | ack) == syn` as `tcp flags syn / syn,ack`.
    if isinstance(left, dict) and "&" in left and isinstance(left["&"][1], list | str) and op in ("==", "!="):
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


def _limit(v: dict[str, Any]) -> list[str]:
    parts = ["limit", "rate"]
    if v.get("inv"):
        parts.append("over")
    unit = v.get("rate_unit", "packets")
    parts.append(
        f"{v['rate']}/{v.get('per', 'second')}" if unit == "packets" else f"{v['rate']} {unit}/{v['per']}"
    )
    burst = v.get("burst", 5 if unit == "packets" else 0)
    if (unit == "packets" and burst != 5) or (unit != "packets" and burst):
        parts += ["burst", str(burst), v.get("burst_unit", "packets")]
    return parts


def _nat(key: str, v: Any) -> list[str]:
    parts = [key]
    v = v or {}
    if "family" in v:
        parts.append(v["family"])
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
        parts.append(",".join(flags) if isinstance(flags, list) else str(flags))
    return parts


def _log(v: dict[str, Any] | None) -> list[str]:
    parts = ["log"]
    v = v or {}
    if "prefix" in v:
        parts += ["prefix", _quote(v["prefix"])]
    for opt in ("group", "snaplen", "queue-threshold", "level"):
        if opt in v:
            parts += [opt, str(v[opt])]
    if "flags" in v:
        flags = v["flags"]
        parts += ["flags", ",".join(flags) if isinstance(flags, list) else str(flags)]
    return parts


def _reject(v: dict[str, Any] | None) -> list[str]:
    if not v:
        return ["reject"]
    kind = v.get("type", "")
    if kind == "tcp reset":
        return ["reject", "with", "tcp", "reset"]
    parts = ["reject", "with", kind]
    if "expr" in v:
        parts.append(str(v["expr"]))
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
        return _Stmt(["counter"], "counter")
    if key in _VERDICTS:
        if key == "queue":
            parts = ["queue"]
            if isinstance(v, dict):
                if "num" in v:
                    parts += ["num", _value(v["num"])]
                if v.get("flags"):
                    flags = v["flags"]
                    parts.append(",".join(flags) if isinstance(flags, list) else str(flags))
            return _Stmt(parts, "terminal", target=Target(name="QUEUE", kind="verdict", args=parts[1:]))
        return _Stmt([key], "terminal", target=Target(name=_VERDICTS[key], kind="verdict"))
    if key in ("jump", "goto"):
        return _Stmt([key, v["target"]], "terminal", target=Target(name=v["target"], kind=key))
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
        parts = [
            v["op"],
            v["set"],
            "{",
            _value(v["elem"]) if not isinstance(v["elem"], dict) else _lhs(v["elem"]),
            "}",
        ]
        return _Stmt(parts, "action", target=Target(name="set", kind="extension", args=parts))
    if key == "ct helper":
        parts = ["ct", "helper", "set", _quote(v)]
        return _Stmt(parts, "action", target=Target(name="ct helper set", kind="extension", args=[v]))
    if key == "flow":
        parts = ["flow", v["op"], v["flowtable"]]
        return _Stmt(parts, "terminal", target=Target(name="flow", kind="extension", args=parts[1:]))
    raise _Unknown


def _unknown_statement(stmt: dict[str, Any]) -> _Stmt:
    raw = json.dumps(stmt, separators=(",", ":"), sort_keys=False)
    key = next(iter(stmt), "")
    if key == "xt" and isinstance(stmt["xt"], dict):
        xt = stmt["xt"]
        parts = ["xt", str(xt.get("type", "")), _quote(str(xt.get("name", "")))]
        if xt.get("type") == "target":
            return _Stmt(
                parts, "unknown", target=Target(name=str(xt.get("name", "")), kind="extension", args=[raw])
            )
    else:
        parts = [raw]
    return _Stmt(parts, "unknown", match=Match(module="nft", option=key, args=[raw], known=False))


def _counters(exprs: list[Any]) -> tuple[int, int, list[Any]]:
    """Packets and bytes of the rule's counter statements, and the statements with the numbers taken out."""
    packets = bytes_ = 0
    stripped: list[Any] = []
    for stmt in exprs:
        counter = stmt.get("counter") if isinstance(stmt, dict) else None
        if isinstance(counter, dict):
            packets += int(counter.get("packets", 0))
            bytes_ += int(counter.get("bytes", 0))
            stmt = {"counter": {}}
        stripped.append(stmt)
    return packets, bytes_, stripped


@lru_cache(maxsize=65536)
def _render_cached(key: bytes) -> tuple[str, tuple[Match, ...], Target | None, bool]:
    """Render a rule from its counter-free JSON; cached because a 1 s poll mostly sees the same rules."""
    exprs, comment = msgspec.json.decode(key)
    statements: list[_Stmt] = []
    unknown = False
    for stmt in exprs:
        try:
            if not isinstance(stmt, dict) or not stmt:
                raise _Unknown
            st = _statement(stmt)
        except (_Unknown, KeyError, TypeError, ValueError, IndexError):
            st = _unknown_statement(stmt if isinstance(stmt, dict) else {"?": stmt})
            unknown = True
        statements.append(st)
    matches = tuple(s.match for s in statements if s.match is not None)
    target = next(
        (s.target for s in reversed(statements) if s.role in ("terminal", "unknown") and s.target), None
    )
    if target is None:
        target = next((s.target for s in reversed(statements) if s.target is not None), None)
    words = [" ".join(s.parts) for s in statements]
    if comment is not None:
        words.append(f"comment {_quote(comment)}")
    return " ".join(words), matches, target, unknown


def render_rule(rule: dict[str, Any]) -> tuple[str, list[Match], Target | None, int, int, bool]:
    """Text, matches, target, packets, bytes and the unknown flag of one JSON rule."""
    packets, bytes_, exprs = _counters(rule.get("expr", []))
    text, matches, target, unknown = _render_cached(msgspec.json.encode([exprs, rule.get("comment")]))
    return text, list(matches), target, packets, bytes_, unknown


def _set_elements(obj: dict[str, Any]) -> list[str]:
    style = _style_of_type(obj.get("type"))
    elems = obj.get("elem", [])
    if not isinstance(elems, list):
        elems = [elems]
    out = []
    for el in elems:
        try:
            out.append(_element(el, style))
        except (_Unknown, KeyError, TypeError, ValueError, IndexError):
            out.append(json.dumps(el, separators=(",", ":")))
    return out


def _load(data: dict[str, Any] | str | bytes) -> list[dict[str, Any]]:
    if isinstance(data, str | bytes):
        try:
            data = msgspec.json.decode(data)
        except msgspec.DecodeError as exc:
            raise NftJsonError(f"not JSON: {exc}") from None
    if not isinstance(data, dict) or not isinstance(data.get("nftables"), list):
        raise NftJsonError('not nft -j output (no "nftables" list)')
    return [o for o in data["nftables"] if isinstance(o, dict) and len(o) == 1]


def parse_nft_json(data: dict[str, Any] | str | bytes) -> list[Table]:
    """Parse `nft -j list ruleset` (or `nft -j list table ...`) output into Table records, in listing order.

    Raises NftJsonError (a ValueError) for data that is not nft JSON.
    """
    with gc_paused():
        return _parse_objects(_load(data))


def _parse_objects(objects: list[dict[str, Any]]) -> list[Table]:
    tables: dict[tuple[str, str], dict[str, Any]] = {}

    def table_for(family: str, name: str) -> dict[str, Any]:
        return tables.setdefault((family, name), {"chains": {}, "rules": {}, "sets": {}})

    for obj in objects:
        ((kind, v),) = obj.items()
        if not isinstance(v, dict):
            continue
        if kind == "table":
            table_for(v["family"], v["name"])
        elif kind == "chain":
            t = table_for(v["family"], v["table"])
            t["chains"][v["name"]] = v
        elif kind == "rule":
            t = table_for(v["family"], v["table"])
            t["rules"].setdefault(v["chain"], []).append(v)
        elif kind in ("set", "map"):
            t = table_for(v["family"], v["table"])
            t["sets"][v["name"]] = _set_elements(v)

    result: list[Table] = []
    for (family, name), t in tables.items():
        chains: list[Chain] = []
        chain_names = list(t["chains"]) + [c for c in t["rules"] if c not in t["chains"]]
        for cname in chain_names:
            cdef = t["chains"].get(cname, {})
            rules = []
            for pos, r in enumerate(t["rules"].get(cname, []), 1):
                text, matches, target, packets, bytes_, unknown = render_rule(r)
                rules.append(
                    Rule(
                        table=name,
                        chain=cname,
                        position=pos,
                        text=text,
                        matches=matches,
                        target=target,
                        packets=packets,
                        bytes=bytes_,
                        comment=r.get("comment", ""),
                        handle=r.get("handle"),
                        unknown=unknown,
                    )
                )
            base = "hook" in cdef
            chains.append(
                Chain(
                    name=cname,
                    policy=str(cdef.get("policy", "accept")).upper() if base else None,
                    builtin=base,
                    rules=rules,
                    hook=cdef.get("hook", ""),
                    priority=cdef.get("prio") if base else None,
                    type=cdef.get("type", "") if base else "",
                )
            )
        result.append(Table(source="nftables", family=family, name=name, chains=chains, sets=t["sets"]))
    return result
