"""`evaluate_fleet(fleet, src, dst, proto, port)`: the verdict for a flow between hosts.

With one host it is `evaluate`. With several, each end is resolved on its host (`CONTAINER@HOST`) and the
packet is followed out of the source host into the next (`dockwire.verdict.crossing`); the culprit, the
hops and the fix name the host they belong to.
"""

from __future__ import annotations

from msgspec.structs import replace

from dockwire.fleet import Fleet
from dockwire.verdict.context import context_for
from dockwire.verdict.crossing import FleetWalk
from dockwire.verdict.crossing_fixes import cross_host_fix
from dockwire.verdict.fixes import Fix, FixInput, suggest_fix
from dockwire.verdict.fleet_ends import HostEnd, resolve_on_fleet, resolve_pair
from dockwire.verdict.notebook import Stop, Trace
from dockwire.verdict.packet import address_text, flow_packet, ipv4
from dockwire.verdict.records import Verdict
from dockwire.verdict.verdict import (
    VerdictError,
    arrived_as_asked,
    assemble,
    check_question,
    evaluate_in,
    flow_family,
    in_one_namespace,
)


def evaluate_fleet(
    fleet: Fleet,
    src: str | HostEnd,
    dst: str | HostEnd,
    proto: str = "icmp",
    port: int | None = None,
    *,
    detail: bool = True,
    family: int | None = None,
) -> Verdict:
    """Can `src` reach `dst` across the fleet's hosts? Pure: reads only the models. `family` as in
    `evaluate` (IPv6 is followed on one host only)."""
    s = src if isinstance(src, HostEnd) else None
    d = dst if isinstance(dst, HostEnd) else None
    if s is None and d is None:
        s, d = resolve_pair(fleet, str(src), str(dst))
    elif s is None:
        assert d is not None
        s = resolve_on_fleet(fleet, str(src), "src", near=d.host)
    elif d is None:
        d = resolve_on_fleet(fleet, str(dst), "dst", near=s.host)
    assert s is not None and d is not None
    if not fleet.several:
        model = fleet.model(s.host)
        return evaluate_in(context_for(model), s.end, d.end, proto, port, detail=detail, family=family)
    if d.end.kind == "dns":
        return _with_hosts(evaluate_in(context_for(fleet.model(s.host)), s.end, d.end, proto, port), s, d)
    if port is None:
        port = d.end.port
    proto = proto.lower()
    check_question(s.end, d.end, proto, port)
    if flow_family(s.end, d.end, family) == 6:
        raise VerdictError("IPv6 flows between hosts are not followed yet: ask each host on its own")
    trace = Trace()
    walk = FleetWalk(fleet, trace)
    stop: Stop | None = None
    try:
        _follow(walk, s, d, proto, port)
    except Stop as exc:
        stop = exc.with_traceback(None)
        stop.direction = trace.direction
        stop.host = trace.host
    where = stop.host if stop is not None and stop.host else d.host
    ctx = walk.on_quietly(where).ctx
    verdict = assemble(
        ctx,
        trace,
        s.end,
        d.end,
        proto,
        port,
        stop,
        trace.src_address,
        trace.dst_address,
        detail,
        fix_for=lambda fx: _fix(walk, where, fx),
    )
    verdict = _with_hosts(verdict, s, d)
    if verdict.fix or verdict.fix_note:
        verdict = replace(verdict, fix_host=where)
    return verdict


def _fix(walk: FleetWalk, host: str, fx: FixInput) -> Fix:
    entry = walk.entries.get(host)
    if entry is not None:
        found = cross_host_fix(fx, entry)
        if found is not None:
            return found
    return suggest_fix(fx)


def _with_hosts(v: Verdict, s: HostEnd, d: HostEnd) -> Verdict:
    return replace(v, src=replace(v.src, host=s.host), dst=replace(v.dst, host=d.host))


def _follow(walk: FleetWalk, s: HostEnd, d: HostEnd, proto: str, port: int | None) -> None:
    trace = walk.trace
    src_place = walk.place_of(s, "src")
    dst_place = walk.place_of(d, "dst")
    here = walk.on(s.host)
    if s.host == d.host:
        dst_addr = here.pick_address(d.end, dst_place, src_place)
    elif d.end.address:
        dst_addr = ipv4(d.end.address)
    elif d.end.kind == "container":
        dst_addr = walk.on_quietly(d.host).pick_address(d.end, dst_place, src_place)
    else:
        dst_addr = walk.address_of_host(d.host, s.host)
    walk.on(s.host)
    if in_one_namespace(trace, src_place, dst_place):
        return
    trace.dst_address = address_text(dst_addr)
    src_addr = here.source_address(src_place, dst_addr)
    trace.src_address = address_text(src_addr)
    first = flow_packet(src_addr, dst_addr, proto, port)
    arrival, legs = walk.connection(src_place, first, "request")
    arrived_as_asked(walk.on(arrival.place.host or d.host), d.end, dst_place, arrival, src_place, port, proto)
    walk.answer(src_place, first, arrival, legs, "reply")


__all__ = ["evaluate_fleet"]
