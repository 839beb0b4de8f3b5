"""Read the legacy iptables backend (x_tables) through python-iptables (libiptc), as `iptables-save -c` text.

dockwire prefers `iptables-legacy-save -c` for the legacy backend (firewall.py): it is the reference
printer and has no side effects. This module is the fallback for hosts that have libiptc but no save
binary, and it runs in a child process (`python -m dockwire.probes.iptables_legacy ip|ip6 TABLE...`), because:
- python-iptables reads an extension's options by pointing file descriptor 1 at a pipe while the extension's
  save() prints; inside a running TUI that would swallow or garble the screen;
- building a Target makes python-iptables open every table it knows (filter, mangle, raw, nat, security),
  which creates missing legacy tables as a side effect: only ever call it when the legacy backend is active.

The text is composed from the rule's parts in iptables-save's order (-s -d -i -o -p -f, then `-m name` plus
the match's own save() output, then -j/-g), so the same parser reads it.

compose_rule/compose_table raise IptablesLegacyError, and nothing else, for parts iptables-save text cannot
carry: a line break or NUL anywhere, a space or tab inside a one-word field (chain, target, interface,
protocol, address, match name), an empty chain name, or negative counters. The child process reports any
failure as one line on stderr and exit status 1.
"""

from __future__ import annotations

import ipaddress
import sys
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any


class IptablesLegacyError(ValueError):
    """Rule parts that cannot be written as an iptables-save line."""


@dataclass(frozen=True)
class RuleParts:
    """One rule as libiptc describes it. Addresses/interfaces/protocol use python-iptables' forms:
    a leading "!" for negation, "addr/netmask" or "addr/prefixlen", "" when unset."""

    chain: str
    src: str = ""
    dst: str = ""
    in_iface: str = ""
    out_iface: str = ""
    proto: str = ""
    # True: `-f`, False: `! -f`, None: not set (IPv4 only).
    fragment: bool | None = None
    # (module name, text its save() printed, e.g. " --dport 80").
    matches: tuple[tuple[str, str], ...] = ()
    target: str = ""
    target_save: str = ""
    goto: bool = False
    packets: int = 0
    bytes: int = 0


@dataclass(frozen=True)
class ChainParts:
    name: str
    # "ACCEPT"/"DROP" for built-in chains, None for user chains.
    policy: str | None = None
    packets: int = 0
    bytes: int = 0
    rules: tuple[RuleParts, ...] = field(default_factory=tuple)


def _negation(value: str) -> tuple[bool, str]:
    return (True, value[1:]) if value.startswith("!") else (False, value)


def _address(value: str) -> tuple[bool, str] | None:
    """(negated, "addr/len") as iptables-save prints it, or None for "any"."""
    negated, value = _negation(value.strip())
    if not value:
        return None
    addr, _, mask = value.partition("/")
    if not mask:
        return negated, value
    if mask.isascii() and mask.isdigit() and len(mask) <= 3:
        prefix: int | None = int(mask)
    elif mask.isascii() and mask.isdigit():  # absurdly long: printed as is
        prefix = None
    else:
        try:
            prefix = ipaddress.ip_network(f"0.0.0.0/{mask}").prefixlen
        except ValueError:  # a non-contiguous netmask is printed as is
            prefix = None
    if prefix == 0 and not negated:
        return None
    return negated, f"{addr}/{mask if prefix is None else prefix}"


_LINE_BREAKS = ("\n", "\r", "\x00")
# What would split a one-word field in two (or the line in two) for the iptables-save parser.
_WORD_BREAKS = (" ", "\t", *_LINE_BREAKS)


def _breaks_word(word: str) -> bool:
    return any(ch in word for ch in _WORD_BREAKS)


def _check(parts: RuleParts) -> None:
    where = f"rule in chain {parts.chain[:40]!r}"
    if not parts.chain:
        raise IptablesLegacyError("a rule without a chain name")
    words = {
        "chain": parts.chain,
        "source": parts.src,
        "destination": parts.dst,
        "in-interface": parts.in_iface,
        "out-interface": parts.out_iface,
        "protocol": parts.proto,
        "target": parts.target,
        **{f"match {i + 1} name": name for i, (name, _) in enumerate(parts.matches)},
    }
    for label, word in words.items():
        if _breaks_word(word):
            raise IptablesLegacyError(f"{where}: {label} {word[:40]!r} holds a space, tab, line break or NUL")
    saved = {
        "target options": parts.target_save,
        **{f"match {i + 1} options": t for i, (_, t) in enumerate(parts.matches)},
    }
    for label, text in saved.items():
        if any(ch in text for ch in _LINE_BREAKS):
            raise IptablesLegacyError(f"{where}: {label} contain a line break or NUL")
    if parts.packets < 0 or parts.bytes < 0:
        raise IptablesLegacyError(f"{where}: negative counters")


def compose_rule(parts: RuleParts) -> str:
    """The rule line as `iptables-save -c` prints it, counters first (IptablesLegacyError if impossible)."""
    _check(parts)
    words = [f"[{parts.packets}:{parts.bytes}]", "-A", parts.chain]
    for flag, value in (("-s", parts.src), ("-d", parts.dst)):
        addr = _address(value)
        if addr is not None:
            words += ["!", flag, addr[1]] if addr[0] else [flag, addr[1]]
    for flag, value in (("-i", parts.in_iface), ("-o", parts.out_iface)):
        negated, name = _negation(value)
        if name:
            words += ["!", flag, name] if negated else [flag, name]
    negated, proto = _negation(parts.proto)
    if proto and proto not in ("all", "0"):
        words += ["!", "-p", proto] if negated else ["-p", proto]
    if parts.fragment is not None:
        words += ["-f"] if parts.fragment else ["!", "-f"]
    line = " ".join(words)
    for name, saved in parts.matches:
        line += f" -m {name}{_spaced(saved)}"
    if parts.target:
        line += f" {'-g' if parts.goto else '-j'} {parts.target}{_spaced(parts.target_save)}"
    return line


def _spaced(saved: str) -> str:
    saved = saved.rstrip()
    return saved if not saved or saved.startswith(" ") else " " + saved


def compose_table(name: str, chains: Iterable[ChainParts]) -> str:
    """One `*table ... COMMIT` block (IptablesLegacyError for parts it cannot carry)."""
    chains = list(chains)
    if not name or _breaks_word(name):
        raise IptablesLegacyError(f"table name {name[:40]!r} is empty or not one word")
    for c in chains:
        if not c.name or _breaks_word(c.name):
            raise IptablesLegacyError(f"chain name {c.name[:40]!r} is empty or not one word")
        if c.policy is not None and (not c.policy or _breaks_word(c.policy)):
            raise IptablesLegacyError(f"chain {c.name[:40]!r}: policy {c.policy[:40]!r} is not one word")
        if c.packets < 0 or c.bytes < 0:
            raise IptablesLegacyError(f"chain {c.name[:40]!r}: negative counters")
    lines = [f"*{name}"]
    for c in chains:
        lines.append(f":{c.name} {c.policy or '-'} [{c.packets}:{c.bytes}]")
    for c in chains:
        lines += [compose_rule(r) for r in c.rules]
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


# --- libiptc (python-iptables) -----------------------------------------------------------------------------


def _saved(module: Any, ip: Any) -> str:
    """What the extension's save() prints (python-iptables only offers this through a private helper)."""
    if module is None:
        return ""
    try:
        buf = module._get_saved_buf(ip)
    except Exception:
        return ""
    if not buf:
        return ""
    return buf.decode(errors="replace") if isinstance(buf, bytes) else str(buf)


def _fragment(ip: Any, family: str) -> bool | None:
    if family != "ip":
        return None
    flags, invflags = int(getattr(ip, "flags", 0)), int(getattr(ip, "invflags", 0))
    if not flags & 0x01:  # IPT_F_FRAG
        return None
    return not invflags & 0x20  # IPT_INV_FRAG


def _rule_parts(rule: Any, chain: str, family: str) -> RuleParts:
    ip = rule.get_ip()
    target = rule.target
    target_name = target.name if target is not None else ""
    packets, bytes_ = rule.get_counters()
    return RuleParts(
        chain=chain,
        src=rule.src or "",
        dst=rule.dst or "",
        in_iface=rule.in_interface or "",
        out_iface=rule.out_interface or "",
        proto=rule.protocol or "",
        fragment=_fragment(ip, family),
        matches=tuple((m.name, _saved(m, ip)) for m in rule.matches),
        target=target_name,
        target_save=_saved(target, ip) if target_name else "",
        goto=bool(getattr(target, "goto", False)),
        packets=int(packets),
        bytes=int(bytes_),
    )


def read_save_text(family: str, table_names: Iterable[str]) -> str:
    """iptables-save -c style text for the given legacy tables, read through libiptc.

    Only call with tables listed in /proc/net/ip_tables_names (or ip6_tables_names), in a child process.
    """
    import iptc  # python-iptables: ~0.6 s to import, and legacy-only (see module docstring)

    table_cls = iptc.Table if family == "ip" else iptc.Table6
    out = [f"# Generated by dockwire (libiptc, {family})"]
    for name in table_names:
        table = table_cls(name, autocommit=False)
        table.refresh()
        chains = []
        for chain in table.chains:
            policy, counters = table.get_policy(chain.name)
            rules = tuple(_rule_parts(r, chain.name, family) for r in chain.rules)
            chains.append(
                ChainParts(
                    name=chain.name,
                    policy=policy.name if policy is not None else None,
                    packets=int(counters[0]) if counters else 0,
                    bytes=int(counters[1]) if counters else 0,
                    rules=rules,
                )
            )
        out.append(compose_table(name, chains).rstrip("\n"))
    return "\n".join(out) + "\n"


def main(argv: list[str] | None = None) -> int:
    """`python -m dockwire.probes.iptables_legacy ip|ip6 TABLE...`: print the tables as iptables-save -c."""
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("ip", "ip6"):
        print("usage: python -m dockwire.probes.iptables_legacy ip|ip6 TABLE...", file=sys.stderr)
        return 2
    try:
        text = read_save_text(args[0], args[1:])
    except Exception as exc:  # libiptc errors, missing library, permissions
        print(f"iptables_legacy: {type(exc).__name__}: {exc}".splitlines()[0], file=sys.stderr)
        return 1
    sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
