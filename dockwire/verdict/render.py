"""Verdicts and matrices as text for a terminal, and as stable JSON."""

from __future__ import annotations

import msgspec

from dockwire.model import RuleRef
from dockwire.text import safe
from dockwire.verdict.records import ALLOWED, BLOCKED, Bypassed, EndpointRef, Verdict

WORDS = {ALLOWED: "ALLOWED", BLOCKED: "BLOCKED"}
NOT_ON_PATH = "⚠ not on this path:"


def verdict_json(verdict: Verdict) -> bytes:
    return msgspec.json.format(msgspec.json.encode(verdict), indent=2) + b"\n"


def _label(ref: EndpointRef) -> str:
    label = f"{ref.label}@{ref.host}" if ref.host else ref.label
    if ref.address and ref.address not in ref.label:
        return f"{safe(label)} ({safe(ref.address)})"
    return safe(label)


def _where(ref: RuleRef) -> str:
    pos = f" #{ref.position}" if ref.position is not None else " policy"
    family = "" if ref.family == "ip" and ref.source.startswith("iptables") else f"{ref.family} "
    host = f"host {ref.host}: " if ref.host else ""
    return safe(f"{host}{family}{ref.table} {ref.chain}{pos}")


def _counters(ref: RuleRef) -> str:
    return f"{ref.packets} pkts {ref.bytes} bytes"


def render_verdict(v: Verdict, verbose: bool = False) -> str:
    """The answer first (verdict, why, culprit, fix), then the path and the rules met on the way.

    Names, rule texts and comments come from the host: every field is escaped (`dockwire.text.safe`), so the
    only line breaks are these lines' own and nothing reaches the terminal as a control."""
    word = WORDS.get(v.verdict, "UNCERTAIN")
    what = "dns" if v.proto == "dns" else (f"{v.proto}/{v.port}" if v.port else v.proto)
    lines = [f"{word}  {_label(v.src)} -> {_label(v.dst)}  {safe(what)}", f"why:      {safe(v.reason)}"]
    if v.resolved:
        lines.append(f"resolves: {safe(v.resolved)}")
    for b in v.bypassed:
        lines.extend(_bypassed_lines(b))
    if v.culprit is not None:
        c = v.culprit
        lines.append(
            f"culprit:  {_where(c)} [{safe(c.source)}, owner {safe(c.owner)}, {_counters(c)}] "
            f"({safe(c.direction)}, {safe(c.hook.upper())})"
        )
        lines.append(f"          {safe(c.text)}")
    elif v.missing:
        lines.append(f"missing:  {safe(v.missing)}")
    for ref in v.unknown:
        lines.append(f"unknown:  {_where(ref)} [{safe(ref.source)}]: {safe(ref.text)}")
    if v.fix_host:
        lines.append(f"fix on:   host {safe(v.fix_host)}")
    if v.fix:
        lines.append(f"fix:      {safe(v.fix[0])}")
        lines.extend(f"          {safe(cmd)}" for cmd in v.fix[1:])
    if v.fix_note:
        lines.append(f"          ({safe(v.fix_note)})")
    if v.path:
        lines.append("path:")
        direction = None
        width = max((len(h.host) for h in v.path), default=0)
        for hop in v.path:
            if hop.direction != direction:
                direction = hop.direction
                lines.append(f"  {safe(direction)}:")
            host = f"[{safe(hop.host)}]".ljust(width + 3) if width else ""
            lines.append(f"    {host}{safe(hop.text)}")
    if v.matched:
        lines.append("rules matched:")
        shown = v.matched if verbose else [r for r in v.matched if not _is_plain_jump(r)]
        for ref in shown:
            lines.append(
                f"  {safe(ref.direction):<13} {safe(ref.hook.upper()):<11} {_where(ref):<34} "
                f"{safe(ref.effect):<14} {safe(ref.text)}"
            )
        hidden = len(v.matched) - len(shown)
        if hidden:
            lines.append(f"  (+{hidden} plain jumps; --verbose shows them)")
    for ref in v.unevaluated:
        lines.append(f"not evaluated (did not matter): {_where(ref)}: {safe(ref.text)}")
    for note in v.notes:
        lines.append(f"note: {safe(note)}")
    return "\n".join(lines)


def _bypassed_lines(b: Bypassed) -> list[str]:
    """A rule that looks like it protects the flow but is not on its path: which, why not, what does."""
    r = b.rule
    lines = [
        f"{NOT_ON_PATH} {_where(r)} [{safe(r.source)}, owner {safe(r.owner)}, {_counters(r)}] "
        f"(would {safe(r.effect)} this flow at {safe(r.hook.upper())})",
        f"          {safe(r.text)}",
        f"          {safe(b.why)}",
    ]
    if b.fix:
        lines.append(f"to stop:  {safe(b.fix[0])}")
        lines.extend(f"          {safe(cmd)}" for cmd in b.fix[1:])
    if b.fix_note:
        lines.append(f"          ({safe(b.fix_note)})")
    return lines


def _is_plain_jump(ref: RuleRef) -> bool:
    return ref.effect.startswith(("jump ", "goto ", "vmap: jump", "vmap: goto")) and not ref.unknown
