"""Craft, send and classify the probe packets. Runs only in the worker, after it entered SRC's namespace.

Packets go through a raw IP socket (scapy's L3RawSocket): the kernel of SRC's namespace routes them, resolves
the neighbour and applies that namespace's own rules, exactly as for an application's packet. Every packet
carries the probe's marker (ICMP id, or source port) so replies and the kernel trace belong to this probe.
IPv6 probes go the same way (ICMPv6 echo, TCP, UDP over a raw IPv6 socket); the kernel does the neighbour
discovery, as it does ARP for IPv4.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from typing import Any

import msgspec

from dockwire.actions.endpoints import is_loopback
from dockwire.actions.netns_exec import WorkerReport, WorkerRequest
from dockwire.actions.result import Hop, Reply

# The scapy module, set by load_scapy(); scapy is imported only here, in the worker.
S: Any = None
PAYLOAD = b"dockwire-probe"
IPPROTO_ICMP, IPPROTO_TCP, IPPROTO_UDP, IPPROTO_ICMPV6 = 1, 6, 17, 58
# ICMPv6 types (RFC 4443) and how the IPv4 names of the same answers read.
ICMPV6_UNREACHABLE, ICMPV6_TOO_BIG, ICMPV6_TIME_EXCEEDED, ICMPV6_ECHO_REPLY = 1, 2, 3, 129
ICMPV6_UNREACHABLE_CODES = {
    0: "no-route",
    1: "administratively-prohibited",
    3: "address-unreachable",
    4: "port-unreachable",
    5: "source-address-failed-policy",
    6: "reject-route",
}


def load_scapy() -> None:
    global S
    logging.getLogger("scapy").setLevel(logging.ERROR)
    import scapy.all as scapy_all

    scapy_all.conf.L3socket = scapy_all.L3RawSocket
    scapy_all.conf.verb = 0
    S = scapy_all


# --- the namespace's routing, through `ip` (the worker's children inherit its namespace) --------------------


def _ip(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], capture_output=True, text=True, timeout=5, check=False)


def route_get(dst: str, family: int = 4) -> tuple[str, str, str, str]:
    """(route line, gateway, source address, error) as `ip route get DST` answers in this namespace."""
    proc = _ip(f"-{family}", "-o", "route", "get", dst)
    if proc.returncode != 0:
        err = (proc.stderr.strip() or f"exit {proc.returncode}").splitlines()[0]
        return "", "", "", err.removeprefix("RTNETLINK answers: ")
    line = " ".join(proc.stdout.split("\\")[0].split())
    words = line.split()

    def after(key: str) -> str:
        return words[words.index(key) + 1] if key in words[:-1] else ""

    return line.removesuffix(" uid 0").strip(), after("via"), after("src"), ""


def routing_table(family: int = 4) -> list[str]:
    proc = _ip(f"-{family}", "route", "show")
    return [ln.strip() for ln in proc.stdout.splitlines() if ln.strip()]


def default_gateway(family: int = 4) -> str:
    proc = _ip(f"-{family}", "-j", "route", "show", "default")
    try:
        routes = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        return ""
    return next((r.get("gateway", "") for r in routes if r.get("gateway")), "")


def neighbour(addr: str, family: int = 4) -> str:
    """`ip neigh` state of the next hop: REACHABLE/STALE (it answered ARP or NDP), FAILED/INCOMPLETE (not)."""
    if not addr or is_loopback(addr):
        return ""
    proc = _ip(f"-{family}", "neigh", "show", addr)
    return " ".join(proc.stdout.split())


# --- classification -------------------------------------------------------------------------------------


def _rtt(sent: Any, ans: Any) -> float | None:
    t0 = getattr(sent, "sent_time", None)
    if t0 is None:
        return None
    return round((float(ans.time) - float(t0)) * 1000, 3)


def classify(seq: int, sent: Any, ans: Any) -> Reply:
    """What kind of answer `ans` (a scapy IP packet, or None) is to `sent`."""
    if ans is None:
        return Reply(seq=seq, kind="none")
    src, rtt = str(ans.src), _rtt(sent, ans)
    proto = int(ans.nh) if ans.haslayer(S.IPv6) else int(ans.proto)
    if proto == IPPROTO_ICMPV6:
        return _classify_icmpv6(seq, src, rtt, ans)
    if proto == IPPROTO_ICMP:
        icmp = ans[S.ICMP]
        if icmp.type == 0:
            return Reply(seq=seq, kind="echo-reply", src=src, rtt_ms=rtt)
        code = icmp.sprintf("%ICMP.code%")
        if icmp.type == 3:
            return Reply(seq=seq, kind="icmp-unreachable", src=src, rtt_ms=rtt, detail=code)
        if icmp.type == 11:
            return Reply(seq=seq, kind="time-exceeded", src=src, rtt_ms=rtt)
        return Reply(
            seq=seq, kind="icmp", src=src, rtt_ms=rtt, detail=icmp.sprintf("%ICMP.type% %ICMP.code%")
        )
    if proto == IPPROTO_TCP:
        flags = str(ans[S.TCP].flags)
        if "S" in flags and "A" in flags:
            return Reply(seq=seq, kind="syn-ack", src=src, rtt_ms=rtt, detail=flags)
        if "R" in flags:
            return Reply(seq=seq, kind="rst", src=src, rtt_ms=rtt, detail=flags)
        return Reply(seq=seq, kind="tcp", src=src, rtt_ms=rtt, detail=flags)
    if proto == IPPROTO_UDP:
        if ans.haslayer(S.DNS):
            return Reply(seq=seq, kind="dns", src=src, rtt_ms=rtt, detail=dns_rcode(ans[S.DNS]))
        return Reply(
            seq=seq, kind="udp", src=src, rtt_ms=rtt, detail=f"{len(bytes(ans[S.UDP].payload))} bytes"
        )
    return Reply(seq=seq, kind="other", src=src, rtt_ms=rtt, detail=f"ip proto {proto}")


def _classify_icmpv6(seq: int, src: str, rtt: float | None, ans: Any) -> Reply:
    """ICMPv6 answers by the same names as their IPv4 counterparts (echo-reply, icmp-unreachable, ...)."""
    layer = ans[S.IPv6].payload
    kind, code = int(getattr(layer, "type", -1)), int(getattr(layer, "code", 0))
    if kind == ICMPV6_ECHO_REPLY:
        return Reply(seq=seq, kind="echo-reply", src=src, rtt_ms=rtt)
    if kind == ICMPV6_UNREACHABLE:
        detail = ICMPV6_UNREACHABLE_CODES.get(code, f"code {code}")
        return Reply(seq=seq, kind="icmp-unreachable", src=src, rtt_ms=rtt, detail=detail)
    if kind == ICMPV6_TIME_EXCEEDED:
        return Reply(seq=seq, kind="time-exceeded", src=src, rtt_ms=rtt)
    if kind == ICMPV6_TOO_BIG:
        return Reply(seq=seq, kind="icmp", src=src, rtt_ms=rtt, detail=f"packet too big (mtu {layer.mtu})")
    return Reply(seq=seq, kind="icmp", src=src, rtt_ms=rtt, detail=f"icmpv6 type {kind} code {code}")


def dns_rcode(dns: Any) -> str:
    return {0: "NOERROR", 1: "FORMERR", 2: "SERVFAIL", 3: "NXDOMAIN", 4: "NOTIMP", 5: "REFUSED"}.get(
        int(dns.rcode), f"rcode {int(dns.rcode)}"
    )


def dns_answers(dns: Any) -> list[str]:
    found = []
    for i in range(int(dns.ancount or 0)):
        rr = dns.an[i]
        if int(rr.type) in (1, 5, 28):  # A, CNAME, AAAA
            data = rr.rdata
            found.append(data.decode(errors="replace").rstrip(".") if isinstance(data, bytes) else str(data))
    return found


# --- the probes -----------------------------------------------------------------------------------------


def build(req: WorkerRequest, dst: str, seq: int, ttl: int = 64, src: str = "") -> Any:
    """The probe packet; `src` (the address the kernel's route gives) is needed for IPv6 only."""
    icmp = req.proto == "icmp" or (req.proto == "trace" and req.port is None)
    if req.family == 6:
        ip = S.IPv6(dst=dst, src=src or None, hlim=ttl)
        if icmp:
            return ip / S.ICMPv6EchoRequest(id=req.marker, seq=seq, data=PAYLOAD)
    else:
        ip = S.IP(dst=dst, ttl=ttl)
        if icmp:
            return ip / S.ICMP(id=req.marker, seq=seq) / PAYLOAD
    if req.proto in ("tcp", "trace"):
        return ip / S.TCP(sport=req.marker, dport=req.port or 80, flags="S", seq=seq * 100_000)
    if req.proto == "udp":
        return ip / S.UDP(sport=req.marker, dport=req.port or 53) / PAYLOAD
    if req.proto == "dns":
        query = S.DNS(id=req.marker, rd=1, qd=S.DNSQR(qname=req.qname, qtype=req.qtype))
        return ip / S.UDP(sport=req.marker, dport=req.port or 53) / query
    raise ValueError(f"unknown protocol {req.proto}")


def send_one(req: WorkerRequest, dst: str, seq: int, ttl: int = 64, src: str = "") -> tuple[Reply, Any]:
    pkt = build(req, dst, seq, ttl, src)
    if req.family == 6:
        # sr1's own socket choice takes the IPv4 raw socket once conf.L3socket is set: open the IPv6 one.
        sock = S.L3RawSocket6()
        try:
            ans = sock.sr1(pkt, timeout=req.timeout, verbose=0)
        finally:
            sock.close()
    else:
        ans = S.sr1(pkt, timeout=req.timeout, verbose=0)
    return classify(seq, pkt, ans), ans


def send_repeated(req: WorkerRequest, dst: str, src: str = "") -> tuple[list[Reply], list[str], str]:
    replies: list[Reply] = []
    answers: list[str] = []
    rcode = ""
    for seq in range(1, req.count + 1):
        if seq > 1:
            time.sleep(0.1)
        reply, ans = send_one(req, dst, seq, src=src)
        replies.append(reply)
        if req.proto == "dns" and ans is not None and ans.haslayer(S.DNS) and not answers:
            rcode = dns_rcode(ans[S.DNS])
            answers = dns_answers(ans[S.DNS])
    return replies, answers, rcode


def trace_hops(req: WorkerRequest, dst: str, gateway: str, src: str = "") -> list[Hop]:
    hops = []
    for ttl in range(1, req.max_hops + 1):
        reply, _ = send_one(req, dst, ttl, ttl=ttl, src=src)
        final = reply.kind in ("echo-reply", "syn-ack", "rst", "icmp-unreachable")
        role = ""
        if reply.kind == "none":
            role = "*"
        elif reply.src == dst and final:
            role = "destination"
        elif reply.src == gateway:
            role = "gateway"
        hops.append(Hop(ttl=ttl, address=reply.src, role=role, rtt_ms=reply.rtt_ms, detail=reply.kind))
        if final:
            break
    return hops


def run(req: WorkerRequest) -> WorkerReport:
    dst, family = req.dst, req.family
    if dst == "@gateway":
        dst = default_gateway(family)
        if not dst:
            return WorkerReport(
                no_route=True, routes=routing_table(family), error="no default gateway to call `host`"
            )
    route, gateway, src_ip, err = route_get(dst, family)
    if err:
        return WorkerReport(dst=dst, no_route=True, route=err, routes=routing_table(family))
    if req.proto == "trace":
        hops = trace_hops(req, dst, gateway, src_ip)
        sent = len(hops)
        replies = [Reply(seq=h.ttl, kind=h.detail, src=h.address, rtt_ms=h.rtt_ms) for h in hops]
        report = WorkerReport(
            dst=dst, src_ip=src_ip, route=route, gateway=gateway, sent=sent, hops=hops, replies=replies
        )
    else:
        replies, answers, rcode = send_repeated(req, dst, src_ip)
        report = WorkerReport(
            dst=dst,
            src_ip=src_ip,
            route=route,
            gateway=gateway,
            sent=len(replies),
            replies=replies,
            answers=answers,
            rcode=rcode,
        )
    return msgspec.structs.replace(report, neighbour=neighbour(gateway or dst, family))
