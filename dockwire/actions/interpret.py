"""Read the sender's report and the kernel evidence together: what happened to the probe, in one word and
one sentence."""

from __future__ import annotations

import msgspec

from dockwire.actions.endpoints import Source, is_loopback
from dockwire.actions.netns_exec import WorkerReport
from dockwire.actions.result import Evidence, Hop, ProbeResult, Reply
from dockwire.model import HostModel

# Outcomes that mean "the destination answered" / "the probe got nowhere" / "cannot tell".
OK_OUTCOMES = frozenset({"reached", "open", "answered"})
UNCERTAIN_OUTCOMES = frozenset({"open|filtered", "no-answer", "not-sent", "incomplete"})


def _host_addresses(model: HostModel) -> set[str]:
    return {a.address for i in model.host.interfaces for a in i.addresses}


def _avg_rtt(replies: list[Reply]) -> float | None:
    rtts = [r.rtt_ms for r in replies if r.rtt_ms is not None and r.kind not in ("none", "time-exceeded")]
    return round(sum(rtts) / len(rtts), 3) if rtts else None


def _first(replies: list[Reply], *kinds: str) -> Reply | None:
    return next((r for r in replies if r.kind in kinds), None)


def _neighbour_note(report: WorkerReport) -> str:
    state = report.neighbour.split()[-1] if report.neighbour else ""
    if state in ("FAILED", "INCOMPLETE"):
        hop = report.gateway or report.dst
        return f"ARP for {hop} got no answer ({state}): nothing answers at that address on the link"
    return ""


def _outcome(proto: str, dst: str, report: WorkerReport, evidence: Evidence) -> tuple[str, bool | None]:
    replies = report.replies
    dropped = evidence.dropped_by is not None
    if proto == "trace":
        last = report.hops[-1] if report.hops else None
        if last is not None and last.address == dst and last.detail in ("echo-reply", "syn-ack", "rst"):
            return "reached", True
        if _first(replies, "icmp-unreachable"):
            return "unreachable", False
        return ("blocked", False) if dropped else ("incomplete", None)
    if proto == "icmp" and _first(replies, "echo-reply"):
        return "reached", True
    if proto == "tcp":
        if _first(replies, "syn-ack"):
            return "open", True
        if _first(replies, "rst"):
            return "closed", True
    if proto == "udp" and _first(replies, "udp", "dns"):
        return "open", True
    if proto == "dns":
        reply = _first(replies, "dns")
        if reply is not None:
            if reply.detail == "NOERROR":
                return ("answered", True) if report.answers else ("no-data", True)
            return (reply.detail.lower(), True)
    unreach = _first(replies, "icmp-unreachable")
    if unreach is not None:
        if unreach.detail == "port-unreachable" and unreach.src == dst:
            return "closed", True
        return "unreachable", False
    if dropped:
        return "blocked", False
    if proto == "udp":
        return "open|filtered", None
    if proto == "tcp":
        return "filtered", None
    if proto == "dns":
        return "timeout", None
    return "no-answer", None


def _summary(result: ProbeResult, report: WorkerReport, evidence: Evidence) -> str:
    if result.proto == "dns":
        what = f"{result.src} asks {result.dst_ip} for {result.dst} (dns)"
    else:
        what = f"{result.src} -> {result.dst}"
        if result.dst_ip and result.dst_ip != result.dst:
            what += f" ({result.dst_ip})"
        what += f" {result.proto}" + (f"/{result.port}" if result.port else "")
    rtt = f", rtt {result.rtt_ms_avg:g} ms" if result.rtt_ms_avg is not None else ""
    o = result.outcome
    if o == "no-route":
        return f"{what}: the packet never left {result.src}: {report.route or 'no route'}"
    if o == "blocked" and evidence.dropped_by is not None:
        return f"{what}: BLOCKED by {evidence.dropped_by.label()}"
    if o == "reached":
        return f"{what}: reached, {result.received}/{result.sent} answered{rtt}"
    if o == "open":
        return f"{what}: open (the destination answered){rtt}"
    if o == "closed":
        src = next((r.src for r in result.replies if r.kind in ("rst", "icmp-unreachable")), "")
        return f"{what}: closed: the packet got through but nothing listens ({src} refused it){rtt}"
    if o == "unreachable":
        r = _first(result.replies, "icmp-unreachable")
        return f"{what}: unreachable ({r.detail if r else ''} from {r.src if r else '?'})"
    if o == "answered":
        return f"{what}: answered: {', '.join(result.answers)}{rtt}"
    if o in ("nxdomain", "no-data", "servfail", "refused"):
        return f"{what}: the resolver answered {o.upper()}{rtt}"
    if o == "filtered":
        return f"{what}: no answer (filtered), and no rule on the host was seen dropping it"
    if o == "open|filtered":
        return f"{what}: no answer: open (silent service) or filtered; no host rule was seen dropping it"
    if o == "incomplete":
        return f"{what}: the trace did not reach the destination within {len(result.hops)} hops"
    if o == "timeout":
        return f"{what}: the resolver did not answer"
    return f"{what}: no answer, and no rule on the host was seen dropping it"


def _hops(hops: list[Hop], report: WorkerReport, dst: str, host_addrs: set[str]) -> list[Hop]:
    out = []
    for h in hops:
        role = h.role
        if h.address and h.address == dst and h.detail != "time-exceeded":
            role = "destination"
        elif h.address and h.address == report.gateway:
            role = "gateway"
        elif h.address in host_addrs:
            role = "host"
        out.append(msgspec.structs.replace(h, role=role))
    return out


# The bindings a loopback destination of each family reaches.
WILDCARD_OR_LOOPBACK = {4: ("", "0.0.0.0", "127.0.0.1"), 6: ("", "::", "::1")}


def _proxy_note(model: HostModel, source: Source, dst: str, port: int | None, proto: str) -> str:
    """The host reaching a published port on loopback talks to docker-proxy, whose own leg is not traced."""
    if source.kind != "host" or not is_loopback(dst) or port is None:
        return ""
    family = 6 if ":" in dst else 4
    for c in model.containers:
        for b in c.ports:
            if b.host_port == port and b.proto == proto and b.host_ip in WILDCARD_OR_LOOPBACK[family]:
                return (
                    f"{dst}:{port} is published by {c.name}: on loopback the userland proxy (docker-proxy) "
                    f"answers and forwards to {c.name}:{b.container_port}; that second leg is not traced"
                )
    return ""


def interpret(
    base: ProbeResult, source: Source, dst: str, report: WorkerReport, evidence: Evidence, model: HostModel
) -> ProbeResult:
    dst = report.dst or dst
    warnings = list(base.warnings)
    outcome: str
    delivered: bool | None
    if report.no_route:
        outcome, delivered = "no-route", False
        result = msgspec.structs.replace(
            base,
            dst_ip=dst,
            outcome=outcome,
            delivered=delivered,
            routes=report.routes,
            route=report.route,
            evidence=evidence,
        )
        return msgspec.structs.replace(result, summary=_summary(result, report, evidence))
    outcome, delivered = _outcome(base.proto, dst, report, evidence)
    for note in (_neighbour_note(report), _proxy_note(model, source, dst, base.port, base.proto)):
        if note:
            warnings.append(note)
    answered = [r for r in report.replies if r.kind not in ("none", "time-exceeded")]
    if base.proto == "trace":
        answered = [r for r in report.replies if r.src == dst and r.kind in ("echo-reply", "syn-ack", "rst")]
    result = msgspec.structs.replace(
        base,
        dst_ip=dst,
        src_ip=report.src_ip or (source.addresses[0] if source.addresses else ""),
        outcome=outcome,
        delivered=delivered,
        sent=report.sent,
        received=len(answered),
        replies=report.replies,
        rtt_ms_avg=_avg_rtt(answered),
        hops=_hops(report.hops, report, dst, _host_addresses(model)),
        answers=report.answers,
        route=report.route,
        neighbour=report.neighbour,
        evidence=evidence,
        warnings=warnings,
    )
    if outcome in ("no-answer", "filtered", "open|filtered", "timeout") and evidence.mode == "nftrace":
        if evidence.request_traced and not evidence.reply_traced:
            warnings.append(
                "the request passed every traced host rule and no reply came back: the destination did not "
                "answer (not listening, its own firewall, rp_filter, ARP or MTU)"
            )
        elif not evidence.request_traced:
            warnings.append(
                "the request never reached the host's firewall (it stayed inside the source or its bridge)"
            )
        result = msgspec.structs.replace(result, warnings=warnings)
    return msgspec.structs.replace(result, summary=_summary(result, report, evidence))
