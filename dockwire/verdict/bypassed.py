"""Rules that look like they protect an allowed flow but are not on its path.

An allowed flow may still surprise the host's admin: a rule meant to stop it sits in a chain the flow never
goes through. Each check in `CHECKS` finds one such situation in the walk's notebook, names the rule, says
why it does not apply, and gives what does. Checks run only for allowed flows and cost nothing when their
situation did not arise (the matrix's container pairs never meet one).

The first check: a deny in the host's input hook (iptables INPUT, an nft `hook input` chain, a ufw chain
INPUT jumps to) for a published port. The packet to HOSTIP:PORT is DNATed in nat PREROUTING to the container
and forwarded; it never reaches INPUT. Whether the rule would have dropped this very flow (its source, port,
protocol, interface) is decided by the engine's own walk of the input hook, on the packet as INPUT would have
seen it.
"""

from __future__ import annotations

from collections.abc import Callable

from dockwire.verdict.bypass_fixes import Published, forward_fix
from dockwire.verdict.context import EngineContext
from dockwire.verdict.netfilter_eval import Hit
from dockwire.verdict.notebook import Detour, Trace
from dockwire.verdict.packet import Packet, address_text
from dockwire.verdict.records import Bypassed
from dockwire.verdict.refs import rule_ref

Check = Callable[[EngineContext, Trace], list[Bypassed]]

INPUT_SKIPPED = "input-skipped-by-dnat"
# Conditions on the destination port, as iptables-save and the nft reader name them.
_DPORT_OPTIONS = frozenset({"--dport", "--dports", "--destination-port", "--destination-ports", "--ports"})


def find_bypassed(ctx: EngineContext, trace: Trace) -> list[Bypassed]:
    """Every rule that looks like it protects the (allowed) flow of `trace` but is not on its path."""
    found: list[Bypassed] = []
    for check in CHECKS:
        found.extend(check(ctx, trace))
    return found


# --- INPUT denies of a published port -----------------------------------------------------------------------


def names_port(hit: Hit) -> bool:
    """Whether the rule of `hit` has a destination port condition (a deny "for a port")."""
    if hit.rule is None:
        return False
    for m in hit.rule.rule.matches:
        option = m.option.removeprefix("meta ").strip()
        if option in _DPORT_OPTIONS or (m.module == "nft" and option.endswith(" dport")):
            return True
    return False


def _as_for_the_host(d: Detour) -> Packet:
    """The packet as the input hook would have seen it without the DNAT: for the host address and port."""
    after = d.after
    return after.evolve(dst=d.before.dst, dport=d.before.dport, ct_nat=after.ct_nat - {"DNAT"})


def _input_deny(ctx: EngineContext, d: Detour) -> tuple[Hit, Packet] | None:
    """The rule the input hook would have dropped the detoured packet with (addressed to the published port,
    or else to the container's own port), when every way the walk can end drops it by a rule naming a port
    that is not Docker's."""
    for pkt in (_as_for_the_host(d), d.after):
        culprits = [
            o.culprit if o.verdict in ("DROP", "REJECT") else None
            for o in ctx.walker.run("ip", d.skipped, pkt)
        ]
        denies = [c for c in culprits if c is not None and names_port(c)]
        if denies and len(denies) == len(culprits):
            first = denies[0]
            assert first.rule is not None
            if first.rule.rule.owner != "docker":
                return first, pkt
    return None


def _published(ctx: EngineContext, d: Detour) -> Published:
    owner = ctx.owner_by_ip.get(address_text(d.after.dst))
    return Published(
        proto=d.before.proto,
        host_addr=address_text(d.before.dst),
        host_port=d.before.dport or 0,
        container=owner.name if owner is not None else "",
        container_addr=address_text(d.after.dst),
        container_port=d.after.dport or 0,
        iif=d.skipped.iif,
    )


def _why(hit: Hit, pub: Published, by_container_port: bool) -> str:
    iptables = hit.chain.table.source.startswith("iptables")
    what = "INPUT rule" if iptables else "input-hook rule"
    to = f"{pub.container} {pub.container_addr}" if pub.container else pub.container_addr
    also = f", for the host nor as the container's port {pub.container_port}" if by_container_port else ""
    return (
        f"published ports are DNATed in nat/PREROUTING and forwarded: this {what} never sees the packet"
        f"{also} ({pub.proto} {pub.host_addr}:{pub.host_port} becomes {to}:{pub.container_port} and goes "
        "through FORWARD)"
    )


def input_skipped_by_dnat(ctx: EngineContext, trace: Trace) -> list[Bypassed]:
    """INPUT denies of a published port that the request, DNATed and forwarded, never met."""
    found: list[Bypassed] = []
    for d in trace.detours:
        if d.direction != "request":
            continue
        deny = _input_deny(ctx, d)
        if deny is None:
            continue
        hit, pkt = deny
        pub = _published(ctx, d)
        fix = forward_fix(ctx, hit, pub)
        found.append(
            Bypassed(
                kind=INPUT_SKIPPED,
                rule=rule_ref("request", hit),
                why=_why(hit, pub, by_container_port=pkt is d.after),
                fix=fix.commands,
                fix_note=fix.note,
            )
        )
    return found


CHECKS: tuple[Check, ...] = (input_skipped_by_dnat,)
