"""`evaluate(model, src, dst, proto, port)`: can SRC reach DST, and if not, exactly what stops it?

Pure: the model in, a `Verdict` out, no I/O. The flow's request and its reply are both followed (a connection
needs both); the first thing that stops either one is the answer. An allowed answer also names the rules that
look like they protect the flow but are not on its path (`dockwire.verdict.bypassed`).
"""

from __future__ import annotations

from collections.abc import Callable

from msgspec.structs import replace

from dockwire.errors import DockwireError
from dockwire.model import HostModel, RuleRef
from dockwire.verdict.bypassed import find_bypassed
from dockwire.verdict.context import EngineContext, context_for
from dockwire.verdict.dns import resolve_name
from dockwire.verdict.endpoints import DEFAULT_OUTSIDE6, FlowEnd, resolve_endpoint
from dockwire.verdict.fixes import Fix, FixInput, suggest_fix
from dockwire.verdict.notebook import Stop, Trace
from dockwire.verdict.packet import address_text, flow_packet, ip
from dockwire.verdict.path import Arrival, FlowFollower, Place
from dockwire.verdict.records import ALLOWED, BLOCKED, UNCERTAIN, EndpointRef, Hop, Verdict
from dockwire.verdict.refs import rule_ref

PROTOCOLS = ("icmp", "tcp", "udp")
FAMILIES = (4, 6)


class VerdictError(DockwireError):
    """The question cannot be asked as given (bad protocol/port combination)."""


def endpoint_ref(ep: FlowEnd, address: str = "") -> EndpointRef:
    """The end as the verdict reports it; a container the walk never reached is named by its first address."""
    c = ep.container
    if not address and not ep.address and c is not None and ep.kind == "container":
        address = next((e.ip for e in c.endpoints if e.ip), "")
    return EndpointRef(
        kind=ep.kind,
        text=ep.text,
        label=ep.label,
        container=c.name if c else "",
        container_id=c.id if c else "",
        address=address or ep.address,
        port=ep.port,
    )


def check_question(src: FlowEnd, dst: FlowEnd, proto: str, port: int | None) -> None:
    if proto not in PROTOCOLS:
        raise VerdictError(f"protocol {proto!r} is not supported (use icmp, tcp or udp)")
    if proto == "icmp" and port is not None:
        raise VerdictError("a port only makes sense with --proto tcp or udp")
    if proto != "icmp" and port is None and dst.kind != "dns":
        raise VerdictError(f"--proto {proto} needs a destination port (--port N or DST:PORT)")
    if src.kind == "outside" and dst.kind == "outside":
        raise VerdictError("both ends are outside the host: nothing on this host is involved")


def arrived_as_asked(
    follower: FlowFollower,
    dst: FlowEnd,
    dst_place: Place,
    arrival: Arrival,
    src_place: Place,
    first_port: int | None,
    proto: str,
) -> None:
    """Check the request ended where it was meant to; hand a published port over to docker-proxy."""
    got = arrival.place
    if dst.kind in ("published", "host") and got.kind == "container":
        return  # DNAT of a published port took it to its container
    if dst.kind == "published" or (
        dst.kind == "host"
        and first_port is not None
        and got.kind == "host"
        and _is_published(follower, first_port, proto)
    ):
        if got.kind != "host":
            raise Stop("uncertain", f"the packet for the published port ends at {got.label()}")
        assert first_port is not None
        follower.proxy(src_place, first_port, arrival.packet, arrival)
        return
    if dst.kind == "host" and got.kind == "host":
        if first_port is not None:
            follower.trace.note(
                "the packet reaches the host; whether a process listens on that port is out of "
                "scope for a static answer"
            )
        return
    if got.same(dst_place):
        if dst.kind == "container" and first_port is not None:
            follower.trace.note(
                "the packet reaches the container; whether something listens on the port is out "
                "of scope for a static answer"
            )
        return
    raise Stop(
        "blocked", f"the packet ends at {got.label()}, not at {dst.label}", missing="wrong-destination"
    )


def _is_published(follower: FlowFollower, port: int, proto: str) -> bool:
    return any(
        b.host_port == port and b.proto == proto for c in follower.ctx.model.containers for b in c.ports
    )


def flow_family(src: FlowEnd, dst: FlowEnd, family: int | None) -> int:
    """The flow's address family: that of an address given on either end, else `family`, else IPv4."""
    if family is not None and family not in FAMILIES:
        raise VerdictError(f"address family {family} is not supported (use 4 or 6)")
    given = {
        ip(end.address).version: end.label
        for end in (src, dst)
        if end.address and not (end.kind == "outside" and end.assumed_address)
    }
    if len(given) > 1:
        raise VerdictError(f"{given[4]} is IPv4 and {given[6]} is IPv6: a flow has one address family")
    if given:
        (found,) = given
        if family is not None and family != found:
            raise VerdictError(f"{given[found]} is an IPv{found} address, but IPv{family} was asked for")
        return found
    return family or 4


def in_one_namespace(trace: Trace, src_place: Place, dst_place: Place) -> bool:
    """Both ends in one container namespace: loopback, noted in the trace (nothing else to follow)."""
    if src_place.kind != "container" or not src_place.same(dst_place):
        return False
    assert src_place.container is not None
    trace.hop("netns", f"same network namespace ({src_place.container.name}): loopback, no host netfilter")
    trace.src_address = trace.dst_address = "127.0.0.1"
    return True


def _outside6(end: FlowEnd) -> FlowEnd:
    """An `outside` end without an address stands for an IPv6 client in an IPv6 flow."""
    if end.kind == "outside" and end.assumed_address:
        return FlowEnd("outside", end.text, address=DEFAULT_OUTSIDE6, assumed_address=True)
    return end


def _follow(
    ctx: EngineContext,
    trace: Trace,
    src: FlowEnd,
    dst: FlowEnd,
    proto: str,
    port: int | None,
    family: int = 4,
) -> None:
    """Follow the flow, noting its addresses in the trace. Raises Stop when it cannot pass."""
    if family == 6:
        src, dst = _outside6(src), _outside6(dst)
    follower = FlowFollower(ctx, trace, family=family)
    src_place = follower.place_of(src, "src")
    dst_place = follower.place_of(dst, "dst")
    dst_addr = follower.pick_address(dst, dst_place, src_place)
    if in_one_namespace(trace, src_place, dst_place):
        return
    if src_place.kind == "host" and dst_place.kind == "host" and dst.kind == "container":
        trace.hop("netns", "both use the host's network namespace")
    trace.dst_address = address_text(dst_addr)
    src_addr = follower.source_address(src_place, dst_addr)
    trace.src_address = address_text(src_addr)
    first = flow_packet(src_addr, dst_addr, proto, port)
    arrival, _ = follower.connection(src_place, first, "request")
    arrived_as_asked(follower, dst, dst_place, arrival, src_place, port, proto)
    follower.answer(src_place, first, arrival, "reply")


def dns_verdict(ctx: EngineContext, src: FlowEnd, dst: FlowEnd) -> Verdict:
    dst_ref = endpoint_ref(dst)
    if src.container is None:
        return Verdict(
            verdict=BLOCKED,
            src=endpoint_ref(src),
            dst=dst_ref,
            proto="dns",
            reason=f"{src.label} does not use Docker's DNS: container names resolve only inside containers",
            missing="dns",
        )
    answer = resolve_name(ctx, src.container, dst.name)
    return Verdict(
        verdict=answer.verdict,
        src=endpoint_ref(src),
        dst=dst_ref,
        proto="dns",
        reason=answer.reason,
        path=[Hop(direction="request", kind="dns", text=s) for s in answer.steps],
        missing=answer.missing,
        fix=answer.fix,
        fix_note=answer.fix_note,
        resolved=answer.resolved,
    )


def evaluate(
    model: HostModel,
    src: str | FlowEnd,
    dst: str | FlowEnd,
    proto: str = "icmp",
    port: int | None = None,
    family: int | None = None,
) -> Verdict:
    """Can `src` reach `dst` with `proto`/`port`? Pure: reads only the model.

    `src`/`dst` are endpoint texts (see `resolve_endpoint`) or resolved Endpoints. `family` (4 or 6) picks
    which address of a dual-stack container the flow uses; an address given on either end decides it. Raises
    DockwireError (EndpointError, VerdictError) when the question itself is wrong.
    """
    src_ep = resolve_endpoint(model, src, "src") if isinstance(src, str) else src
    dst_ep = resolve_endpoint(model, dst, "dst") if isinstance(dst, str) else dst
    return evaluate_in(context_for(model), src_ep, dst_ep, proto, port, family=family)


def evaluate_in(
    ctx: EngineContext,
    src_ep: FlowEnd,
    dst_ep: FlowEnd,
    proto: str = "icmp",
    port: int | None = None,
    *,
    detail: bool = True,
    family: int | None = None,
) -> Verdict:
    """`evaluate` on an engine context and resolved endpoints.

    `detail=False` (the matrix) leaves out what only a full report shows: `path`, `matched`, `unevaluated`,
    `fix` and `fix_note` stay empty. Every other field is what `evaluate` gives.
    """
    if dst_ep.kind == "dns":
        return dns_verdict(ctx, src_ep, dst_ep)
    if port is None:
        port = dst_ep.port
    proto = proto.lower()
    check_question(src_ep, dst_ep, proto, port)
    flow = flow_family(src_ep, dst_ep, family)
    trace = Trace()
    stop: Stop | None = None
    try:
        _follow(ctx, trace, src_ep, dst_ep, proto, port, flow)
    except Stop as exc:
        # Without its traceback (never shown), the Stop does not keep the walk's frames alive in a cycle.
        stop = exc.with_traceback(None)
        stop.direction = trace.direction
    return assemble(
        ctx, trace, src_ep, dst_ep, proto, port, stop, trace.src_address, trace.dst_address, detail
    )


def assemble(
    ctx: EngineContext,
    trace: Trace,
    src: FlowEnd,
    dst: FlowEnd,
    proto: str,
    port: int | None,
    stop: Stop | None,
    src_addr: str,
    dst_addr: str,
    detail: bool = True,
    fix_for: Callable[[FixInput], Fix] = suggest_fix,
) -> Verdict:
    base = Verdict(
        verdict=ALLOWED,
        src=endpoint_ref(src, src_addr),
        dst=endpoint_ref(dst, dst_addr),
        proto=proto,
        port=port,
        path=[Hop(direction=h.direction, kind=h.kind, text=h.text, host=h.host) for h in trace.hops]
        if detail
        else [],
        matched=[rule_ref(r.direction, r.hit, r.host) for r in trace.hits] if detail else [],
        unevaluated=(
            _dedupe([rule_ref(r.direction, r.hit, r.host) for r in trace.harmless_unknowns]) if detail else []
        ),
        notes=list(trace.notes),
    )
    stale = sorted(k for k in ctx.model.stale if k.startswith("firewall"))
    if stale and any(h.kind == "hook" for h in trace.hops) and (stop is None or stop.verdict != UNCERTAIN):
        answer = "allowed" if stop is None else f"blocked ({stop.reason})"
        return replace(
            base,
            verdict=UNCERTAIN,
            reason=f"the firewall could not be read completely ({stale[0]}: {ctx.model.stale[stale[0]]})",
            notes=[*trace.notes, f"with the rules that could be read, the answer is: {answer}"],
        )
    if stop is None:
        what = f" on {proto}/{port}" if port else f" ({proto})"
        return replace(
            base, reason=f"{src.label} can reach {dst.label}{what}", bypassed=find_bypassed(ctx, trace)
        )
    if stop.verdict == UNCERTAIN:
        unknown = _dedupe([rule_ref(stop.direction, h, stop.host) for h in stop.unknown])
        return replace(base, verdict=UNCERTAIN, reason=f"{stop.direction}: {stop.reason}", unknown=unknown)
    culprit = rule_ref(stop.direction, stop.culprit, stop.host) if stop.culprit is not None else None
    fix = (
        fix_for(FixInput(ctx, src, dst, proto, port, stop.culprit, stop.missing, stop.facts, stop.direction))
        if detail
        else None
    )
    rule = stop.culprit.rule.rule if stop.culprit is not None and stop.culprit.rule is not None else None
    return replace(
        base,
        verdict=BLOCKED,
        reason=f"{stop.direction}: {stop.reason}",
        culprit=culprit,
        rule=rule,
        missing=stop.missing,
        fix=fix.commands if fix is not None else [],
        fix_note=fix.note if fix is not None else "",
    )


def _dedupe(refs: list[RuleRef]) -> list[RuleRef]:
    seen = set()
    out = []
    for ref in refs:
        key = (ref.host, ref.source, ref.family, ref.table, ref.chain, ref.position)
        if key not in seen:
            seen.add(key)
            out.append(ref)
    return out


__all__ = ["PROTOCOLS", "Verdict", "VerdictError", "evaluate", "evaluate_in", "resolve_endpoint"]
