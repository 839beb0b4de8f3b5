"""`run_probe`: resolve SRC and DST, start the sender and the trace together, and tell the story.

Nothing here blocks the event loop: the sender is a worker process, the firewall commands run in threads
or as asyncio subprocesses.
"""

from __future__ import annotations

import asyncio
import random
import re
import time
from typing import Any

import msgspec

from dockwire.actions.compare import compare_static
from dockwire.actions.endpoints import (
    ProbeError,
    Source,
    address_literal,
    check_outbound,
    container_netns,
    is_loopback,
    resolve_destination,
    resolve_source,
)
from dockwire.actions.interpret import interpret
from dockwire.actions.netns_exec import Worker, WorkerReport, WorkerRequest, check_privileges
from dockwire.actions.result import Evidence, ProbeResult
from dockwire.actions.tracing.base import Marker, Tracer, new_run_id
from dockwire.actions.tracing.session import TraceSession, cancel_on_sigterm, choose_tracer
from dockwire.docker_client import daemon_errors, unreachable
from dockwire.model import EMBEDDED_DNS, HostModel

PROTOS = ("icmp", "tcp", "udp", "dns", "trace")
MAX_COUNT = 10
MAX_HOPS = 16
MAX_TIMEOUT = 5.0


_DST_PORT = re.compile(r"^(?:\[(?P<v6>[0-9A-Fa-f:.]+)\]|(?P<dst>[^:\[\]]+)):(?P<port>\d+)$")


def split_destination(dst: str, proto: str, port: int | None) -> tuple[str, str, int | None]:
    """Accept `why`'s destination forms too: `name:NAME` is a DNS probe, `DST:PORT` or `[IPV6]:PORT` a TCP
    one (or UDP)."""
    if dst.startswith("name:") and proto in ("icmp", "dns"):
        return dst.removeprefix("name:"), "dns", port
    if port is None and proto != "dns" and (m := _DST_PORT.match(dst)):
        return m["v6"] or m["dst"], "tcp" if proto == "icmp" else proto, int(m["port"])
    return dst, proto, port


def check_family(family: int | None) -> None:
    if family not in (None, 4, 6):
        raise ProbeError(f"unknown address family {family}: use 4 or 6")


def check_args(proto: str, port: int | None, count: int, timeout: float, max_hops: int) -> None:
    if proto not in PROTOS:
        raise ProbeError(f"unknown protocol {proto!r}: use one of {', '.join(PROTOS)}")
    if proto in ("tcp", "udp") and port is None:
        raise ProbeError(f"--proto {proto} needs --port")
    if port is not None and not 1 <= port <= 65535:
        raise ProbeError(f"port {port} is out of range 1-65535")
    if proto == "icmp" and port is not None:
        raise ProbeError("--port makes no sense with icmp (use --proto tcp or udp)")
    if not 1 <= count <= MAX_COUNT:
        raise ProbeError(f"--count must be 1-{MAX_COUNT}")
    if not 0.1 <= timeout <= MAX_TIMEOUT:
        raise ProbeError(f"--timeout must be 0.1-{MAX_TIMEOUT:g} s")
    if not 1 <= max_hops <= MAX_HOPS:
        raise ProbeError(f"--max-hops must be 1-{MAX_HOPS}")


async def _fresh_source(model: HostModel, client: Any, src: str, outside: str | None) -> Source:
    """Resolve SRC; when the model's pid is stale, ask Docker for the current one."""
    try:
        return resolve_source(model, src, outside)
    except ProbeError:
        c = model.container(src)
        if c is None or client is None:
            raise
    owner = model.container(c.netns_owner) if c.netns_owner else c
    owner = owner or c
    try:
        state = await asyncio.to_thread(lambda: client.api.inspect_container(owner.id)["State"])
    except daemon_errors() as exc:
        raise ProbeError(f"cannot ask Docker about {owner.name}: {unreachable(exc)}") from None
    pid = int(state.get("Pid") or 0)
    status = str(state.get("Status", ""))
    fresh = msgspec.structs.replace(owner, pid=pid or None, state=status)
    container_netns(fresh)  # raises the clear error when it is still not running
    containers = [fresh if x.id == owner.id else x for x in model.containers]
    return resolve_source(msgspec.structs.replace(model, containers=containers), src, outside)


def _transport(proto: str, port: int | None) -> str:
    if proto == "icmp" or (proto == "trace" and port is None):
        return "icmp"
    return "udp" if proto in ("udp", "dns") else "tcp"


def _new_marker(transport: str) -> int:
    rng = random.SystemRandom()
    return rng.randint(1, 0xFFFF) if transport == "icmp" else rng.randint(40000, 60999)


def _dns_target(source: Source, qname: str, server: str | None) -> tuple[str, str]:
    """(resolver address, reason not to send) for a DNS probe."""
    if server:
        address = address_literal(server)
        if address is None:
            raise ProbeError(f"--server {server}: not an IP address")
        return str(address), ""
    if not source.resolvers:
        raise ProbeError(f"no resolver is known for {source.label}: name one with --server")
    resolver = source.resolvers[0]
    if resolver == EMBEDDED_DNS:
        return resolver, ""
    return resolver, (
        f"{source.label}'s resolver is {resolver}, not Docker's embedded DNS (as on the default bridge), "
        "so container names are not served there; dockwire only queries resolvers you name "
        f"(--server {resolver})"
    )


def _hosts_answer(source: Source, qname: str, family: int) -> list[str]:
    name = qname.rstrip(".")
    return [h.ip for h in source.hosts if name in h.names and (":" in h.ip) == (family == 6)]


def _done(result: ProbeResult, started: float, **changes: Any) -> ProbeResult:
    return msgspec.structs.replace(result, **changes, elapsed_s=round(time.monotonic() - started, 3))


def _dns_without_sending(
    base: ProbeResult, source: Source, qname: str, started: float, family: int
) -> ProbeResult | None:
    """A DNS probe /etc/hosts already answers: the result, with no query sent."""
    found = _hosts_answer(source, qname, family)
    if not found:
        return None
    summary = f"{qname} is in {source.label}'s /etc/hosts: {', '.join(found)} (no query sent)"
    return _done(base, started, outcome="answered", delivered=True, answers=found, summary=summary)


def _choose_tracer_for(source: Source, dst_addr: str, trace: bool, run_id: str, marker: Marker) -> Tracer:
    """Loopback inside a container never meets a host rule: nothing to trace there."""
    if source.kind == "container" and is_loopback(dst_addr):
        what = (
            "Docker's embedded DNS inside SRC's namespace"
            if dst_addr == EMBEDDED_DNS
            else "loopback in SRC's namespace"
        )
        return Tracer(run_id, marker, f"{what}: no host rule is on the path, so nothing was traced")
    return choose_tracer(trace, run_id, marker)


async def _send_traced(
    model: HostModel, request: WorkerRequest, tracer: Tracer
) -> tuple[WorkerReport, Evidence, list[str]]:
    """Send from the worker process while the tracer's rules are in place; they go away whatever happens."""
    worker = await Worker.start(request)
    warnings: list[str] = []
    try:
        with cancel_on_sigterm():
            async with TraceSession(tracer) as session:
                await worker.ready()
                report = await worker.go()
            if session.swept:
                warnings.append(f"removed trace rules left by a crashed run: {'; '.join(session.swept)}")
            answered = any(r.kind not in ("none", "time-exceeded") for r in report.replies)
            evidence = await session.tracer.evidence(model, answered)
    finally:
        await worker.close()
    return report, evidence, warnings


async def run_probe(
    model: HostModel,
    client: Any,
    src: str,
    dst: str,
    proto: str = "icmp",
    port: int | None = None,
    count: int = 1,
    trace: bool = True,
    *,
    timeout: float = 1.0,
    max_hops: int = 8,
    server: str | None = None,
    static: bool = True,
    outside: str | None = None,
    family: int | None = None,
) -> ProbeResult:
    """Send real packets from SRC to DST and report what happened, with the kernel's trace of the rules.

    For `dns`, DST is the name to look up and the query goes to SRC's resolver (or `server`); `family` 6
    asks for its AAAA record. SRC `outside` sends from the network namespace named by `outside` (a name
    under /run/netns). `family` (4 or 6) picks a dual-stack container's address; an address given decides
    by itself. Raises ProbeError (one line) for bad input, missing privileges, or a SRC without a namespace.
    """
    started = time.monotonic()
    dst, proto, port = split_destination(dst, proto, port)
    check_args(proto, port, count, timeout, max_hops)
    check_family(family)
    source = await _fresh_source(model, client, src, outside)
    base = ProbeResult(src=source.label, dst=dst, proto=proto, port=port, count=count, family=family or 4)
    qname = dst if proto == "dns" else ""
    if proto == "dns":
        if (answered := _dns_without_sending(base, source, qname, started, family or 4)) is not None:
            return answered
        dst_addr, skip_reason = _dns_target(source, qname, server)
        if skip_reason:
            summary = f"{source.label} -> {qname} dns: not resolvable by Docker: {skip_reason}"
            return _done(
                base, started, dst_ip=dst_addr, outcome="no-docker-dns", delivered=None, summary=summary
            )
    else:
        destination = resolve_destination(model, source, dst, family)
        check_outbound(source, destination)
        dst_addr = destination.address
        base = msgspec.structs.replace(base, family=destination.family)
    check_privileges(need_trace=trace)

    transport = _transport(proto, port)
    marker = _new_marker(transport)
    run_id = new_run_id()
    # The packets' own version: a DNS query for an AAAA record may still go to an IPv4 resolver.
    packet_family = (6 if ":" in dst_addr else 4) if proto == "dns" else base.family
    request = WorkerRequest(
        netns=source.netns,
        proto=proto,
        dst=dst_addr,
        port=port,
        count=count,
        timeout=timeout,
        marker=marker,
        max_hops=max_hops,
        qname=qname,
        qtype="AAAA" if proto == "dns" and base.family == 6 else "A",
        family=packet_family,
    )
    nft_family = "ip6" if packet_family == 6 else "ip"
    tracer = await asyncio.to_thread(
        _choose_tracer_for, source, dst_addr, trace, run_id, Marker(transport, marker, nft_family)
    )
    report, evidence, warnings = await _send_traced(model, request, tracer)
    if report.error:
        raise ProbeError(f"the probe failed inside {source.label}: {report.error}")
    traced = msgspec.structs.replace(base, run_id=run_id, marker=marker, warnings=warnings)
    result = interpret(traced, source, dst_addr, report, evidence, model)
    if static and proto != "dns":
        result = msgspec.structs.replace(result, static=compare_static(model, source, dst, result))
    return _done(result, started)


__all__ = ["Evidence", "ProbeResult", "WorkerReport", "run_probe"]
