"""What a matching rule does: the model's `Target` read as one engine action (verdict, jump, NAT, mark...)."""

from __future__ import annotations

from dataclasses import dataclass, field
from ipaddress import IPv4Address, ip_address

from dockwire.model import Target

# Targets that never decide a packet's fate: the walk goes on to the next rule.
NON_TERMINAL = {
    "LOG",
    "NFLOG",
    "ULOG",
    "TRACE",
    "CHECKSUM",
    "TCPMSS",
    "TOS",
    "DSCP",
    "TTL",
    "CLASSIFY",
    "AUDIT",
    "SET",
    "COUNTER",
    "CONTINUE",
    "LIMIT",
    "QUOTA",
    "NOTRACK_LOG",
    "CONNSECMARK",
    "SECMARK",
    "IDLETIMER",
    "LED",
    "RATEEST",
    "HMARK",
    "TEE",
    "NONE",
    "FLOW",
    "",
}
NAT_TARGETS = {"DNAT", "SNAT", "MASQUERADE", "REDIRECT", "NETMAP"}


@dataclass(frozen=True, slots=True)
class Action:
    """An engine action; `kind` is one of: accept, drop, reject, return, jump, goto, continue, dnat, snat,
    masquerade, redirect, mark, notrack, vmap, unknown."""

    kind: str
    chain: str = ""
    to_addr: IPv4Address | None = None
    to_port: int | None = None
    mark_value: int | None = None
    mark_mask: int = 0xFFFFFFFF
    mark_op: str = "set"  # "set" (value|mask), "xset" (xor), "or", "and", "unknown"
    # vmap: the key expression and its (key item, action) entries; entries of a named map are resolved later.
    vmap_key: str = ""
    vmap: tuple[tuple[str, Action], ...] = field(default_factory=tuple)
    vmap_ref: str = ""
    text: str = ""


def _opt(args: list[str], *names: str) -> str | None:
    for i, arg in enumerate(args):
        if arg in names and i + 1 < len(args):
            return args[i + 1]
        for name in names:
            if arg.startswith(name + "="):
                return arg.split("=", 1)[1]
    return None


def _addr_port(text: str) -> tuple[IPv4Address | None, int | None]:
    """`10.0.0.2:80`, `10.0.0.2`, `:8080`, `10.0.0.2:80-90` (first port), `[::1]:80` (not IPv4)."""
    text = text.strip().strip('"')
    if text.startswith("["):
        return None, None
    host, _, port = text.partition(":")
    addr = None
    if host:
        host = host.split("-")[0]
        parsed = ip_address(host)
        addr = parsed if isinstance(parsed, IPv4Address) else None
    port_num = int(port.split("-")[0]) if port else None
    return addr, port_num


def _mark_action(name: str, args: list[str]) -> Action:
    for opt, op in (
        ("--set-xmark", "xset"),
        ("--set-mark", "set"),
        ("--or-mark", "or"),
        ("--and-mark", "and"),
        ("--xor-mark", "xor"),
    ):
        value = _opt(args, opt)
        if value is not None:
            v, _, m = value.partition("/")
            mask = int(m, 0) if m else 0xFFFFFFFF
            return Action("mark", mark_value=int(v, 0), mark_mask=mask, mark_op=op, text=name)
    if name == "MARK" and len(args) >= 2 and args[0] in ("set", "mark"):  # nft "meta mark set 0x1"
        return Action("mark", mark_value=int(args[-1], 0), text=name)
    return Action("mark", mark_op="unknown", text=name)


def _nat_action(upper: str, args: list[str]) -> Action:
    """DNAT/SNAT to an address (and port), MASQUERADE and REDIRECT to a port."""
    if upper in ("DNAT", "SNAT"):
        value = _opt(args, "--to-destination", "--to-source", "to", "--to")
        if value is None and args:
            value = args[-1]
        try:
            addr, port = _addr_port(value or "")
        except ValueError:
            return Action("unknown", text=f"{upper} {' '.join(args)}")
        return Action(upper.lower(), to_addr=addr, to_port=port, text=f"{upper} {value}")
    if upper == "MASQUERADE":
        ports = _opt(args, "--to-ports", "to")
        port = int(ports.lstrip(":").split("-")[0]) if ports else None
        return Action("masquerade", to_port=port, text="MASQUERADE")
    ports = _opt(args, "--to-ports", "to")
    if ports is None and args:
        ports = args[-1]
    try:
        port = int(ports.lstrip(":").split("-")[0]) if ports else None
    except ValueError:
        return Action("unknown", text=f"REDIRECT {' '.join(args)}")
    return Action("redirect", to_port=port, text=f"REDIRECT {ports or ''}".strip())


def parse_target(target: Target | None, sets: dict[str, list[str]] | None = None) -> Action:
    """The engine action for a rule target; a rule without one only counts/logs (continue).

    `sets` are the table's named maps, for `vmap @name` targets.
    """
    if target is None:
        return Action("continue")
    name = target.name.strip()
    upper = name.upper()
    args = list(target.args)
    kind = target.kind
    if kind == "goto":
        return Action("goto", chain=name, text=f"goto {name}")
    if (
        kind == "jump"
        and upper not in ("ACCEPT", "DROP", "RETURN", "REJECT", "CONTINUE")
        and upper not in (NAT_TARGETS)
    ):
        return Action("jump", chain=name, text=f"jump {name}")
    if upper == "ACCEPT":
        return Action("accept", text="ACCEPT")
    if upper == "DROP":
        return Action("drop", text="DROP")
    if upper == "REJECT":
        return Action("reject", text="REJECT")
    if upper == "RETURN":
        return Action("return", text="RETURN")
    if upper in ("JUMP", "GOTO") and args:
        return Action(upper.lower(), chain=args[0], text=f"{upper.lower()} {args[0]}")
    if upper in ("DNAT", "SNAT", "MASQUERADE", "REDIRECT"):
        return _nat_action(upper, args)
    if upper in ("MARK",):
        return _mark_action(upper, args)
    if upper in ("CONNMARK",):
        if _opt(args, "--restore-mark") is not None or "--restore-mark" in args:
            return Action("mark", mark_op="unknown", text="CONNMARK --restore-mark")
        return Action("continue", text="CONNMARK")
    if upper in ("NOTRACK",) or (upper == "CT" and "--notrack" in args):
        return Action("notrack", text="NOTRACK")
    if upper == "CT":
        return Action("continue", text="CT")
    if upper == "VMAP" or kind == "vmap":
        return _vmap(args, sets or {})
    if upper.endswith(" SET"):  # nft `meta mark set 0x1`, `ct mark set ...`, `ip dscp set ...`
        if upper in ("META MARK SET", "MARK SET") and args:
            try:
                return Action("mark", mark_value=int(args[0], 0), text=f"{name} {args[0]}")
            except ValueError:
                return Action("mark", mark_op="unknown", text=f"{name} {args[0]}")
        return Action("continue", text=name)
    if upper in NON_TERMINAL:
        return Action("continue", text=upper)
    return Action("unknown", text=f"{name} {' '.join(args)}".strip())


def _vmap(args: list[str], sets: dict[str, list[str]]) -> Action:
    """`vmap` targets: args are the key expression, then `@mapname` or `{ key : verdict, ... }`."""
    if len(args) < 2:
        return Action("unknown", text="vmap")
    key, data = args[0], " ".join(args[1:]).strip()
    text = f"{key.removeprefix('meta ')} vmap {data}"
    if data.startswith("@"):
        members = sets.get(data[1:])
        if members is None:
            return Action("unknown", text=f"{text} (map contents not recorded)")
        items = members
    else:
        items = [part for part in data.strip("{} ").split(",") if part.strip()]
    entries = tuple((k, v) for k, v in (parse_vmap_entry(e) for e in items) if v is not None)
    return Action(
        "vmap", vmap_key=key, vmap=entries, vmap_ref=data if data.startswith("@") else "", text=text
    )


def parse_vmap_entry(text: str) -> tuple[str, Action | None]:
    """`"docker0" : jump filter-forward-in__docker0` as (key, action)."""
    key, sep, verdict = text.partition(":")
    if not sep:
        return text, None
    words = verdict.split()
    if not words:
        return key.strip().strip('"'), None
    word = words[0].lower()
    if word in ("jump", "goto") and len(words) > 1:
        action = Action(word, chain=words[1], text=f"{word} {words[1]}")
    elif word in ("accept", "drop", "reject", "return", "continue"):
        action = Action(word, text=word.upper())
    else:
        action = Action("unknown", text=verdict.strip())
    return key.strip().strip('"'), action


def apply_mark(mark: int | None, action: Action) -> int | None:
    """The packet mark after a mark action (None stays unknown unless fully overwritten)."""
    if action.mark_op == "unknown" or action.mark_value is None:
        return None
    value, mask = action.mark_value, action.mark_mask
    if mark is None:
        return value if mask == 0xFFFFFFFF and action.mark_op in ("set", "xset") else None
    if action.mark_op == "set":
        return (mark & ~mask & 0xFFFFFFFF) | value
    if action.mark_op == "xset":
        return (mark & ~mask & 0xFFFFFFFF) ^ value
    if action.mark_op == "or":
        return mark | value
    if action.mark_op == "and":
        return mark & value
    return mark ^ value
