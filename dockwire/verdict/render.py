"""Verdicts and matrices as text for a terminal, and as stable JSON."""

from __future__ import annotations

import msgspec

from dockwire.model import RuleRef
from dockwire.verdict.records import ALLOWED, BLOCKED, EndpointRef, Verdict

WORDS = {ALLOWED: "ALLOWED", BLOCKED: "BLOCKED"}


def verdict_json(verdict: Verdict) -> bytes:
    return msgspec.json.format(msgspec.json.encode(verdict), indent=2) + b"\n"


def _label(ref: EndpointRef) -> str:
    if ref.address and ref.address not in ref.label:
        return f"{ref.label} ({ref.address})"
    return ref.label


def _where(ref: RuleRef) -> str:
    pos = f" #{ref.position}" if ref.position is not None else " policy"
    family = "" if ref.family == "ip" and ref.source.startswith("iptables") else f"{ref.family} "
    return f"{family}{ref.table} {ref.chain}{pos}"


def _counters(ref: RuleRef) -> str:
    return f"{ref.packets} pkts {ref.bytes} bytes"


def render_verdict(v: Verdict, verbose: bool = False) -> str:
    """The answer first (verdict, why, culprit, fix), then the path and the rules met on the way."""
    word = WORDS.get(v.verdict, "UNCERTAIN")
    what = "dns" if v.proto == "dns" else (f"{v.proto}/{v.port}" if v.port else v.proto)
    lines = [f"{word}  {_label(v.src)} -> {_label(v.dst)}  {what}", f"why:      {v.reason}"]
    if v.resolved:
        lines.append(f"resolves: {v.resolved}")
    if v.culprit is not None:
        c = v.culprit
        lines.append(
            f"culprit:  {_where(c)} [{c.source}, owner {c.owner}, {_counters(c)}] ({c.direction}, "
            f"{c.hook.upper()})"
        )
        lines.append(f"          {c.text}")
    elif v.missing:
        lines.append(f"missing:  {v.missing}")
    for ref in v.unknown:
        lines.append(f"unknown:  {_where(ref)} [{ref.source}]: {ref.text}")
    if v.fix:
        lines.append(f"fix:      {v.fix[0]}")
        lines.extend(f"          {cmd}" for cmd in v.fix[1:])
    if v.fix_note:
        lines.append(f"          ({v.fix_note})")
    if v.path:
        lines.append("path:")
        direction = None
        for hop in v.path:
            if hop.direction != direction:
                direction = hop.direction
                lines.append(f"  {direction}:")
            lines.append(f"    {hop.text}")
    if v.matched:
        lines.append("rules matched:")
        shown = v.matched if verbose else [r for r in v.matched if not _is_plain_jump(r)]
        for ref in shown:
            lines.append(
                f"  {ref.direction:<13} {ref.hook.upper():<11} {_where(ref):<34} {ref.effect:<14} {ref.text}"
            )
        hidden = len(v.matched) - len(shown)
        if hidden:
            lines.append(f"  (+{hidden} plain jumps; --verbose shows them)")
    for ref in v.unevaluated:
        lines.append(f"not evaluated (did not matter): {_where(ref)}: {ref.text}")
    for note in v.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)


def _is_plain_jump(ref: RuleRef) -> bool:
    return ref.effect.startswith(("jump ", "goto ", "vmap: jump", "vmap: goto")) and not ref.unknown
