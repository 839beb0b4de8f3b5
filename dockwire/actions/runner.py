"""`run_probe`: resolve SRC and DST, start the sender and the trace together, and tell the story.

Nothing here blocks the event loop: the sender is a worker process, the firewall commands run in threads
or as asyncio subprocesses.
"""

from __future__ import annotations

import asyncio
import ipaddress
import random
import re
import time
from typing import Any

import msgspec

from dockwire.actions.compare import compare_static
from dockwire.actions.endpoints import (
    ProbeError,
    Source,
    check_outbound,
    container_netns,
    resolve_destination,
    resolve_source,
)
from dockwire.actions.interpret import interpret
from dockwire.actions.netns_exec import Worker, WorkerReport, WorkerRequest, check_privileges
from dockwire.actions.result import Evidence, ProbeResult
from dockwire.actions.tracing.base import Marker, Tracer, new_run_id
from dockwire.actions.tracing.session import TraceSession, cancel_on_sigterm, choose_tracer
from dockwire.model import EMBEDDED_DNS, HostModel

PROTOS = ("icmp", "tcp", "udp", "dns", "trace")
MAX_COUNT = 10
MAX_HOPS = 16
MAX_TIMEOUT = 5.0


_DST_PORT = re.compile(r"^(?P<dst>[^:]+):(?P<port>\d+)$")


def split_destination(dst: str, proto: str, port: int | None) -> tuple[str, str, int | None]:
    """Accept `why`'s destination forms too: `name:NAME` is a DNS probe, `DST:PORT` a TCP one (or UDP)."""
    if dst.startswith("name:") and proto in ("icmp", "dns"):
        return dst.removeprefix("name:"), "dns", port
    if port is None and proto != "dns" and (m := _DST_PORT.match(dst)):
        return m["dst"], "tcp" if proto == "icmp" else proto, int(m["port"])
    return dst, proto, port


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
    state = await asyncio.to_thread(lambda: client.api.inspect_container(owner.id)["State"])
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
        try:
            return str(ipaddress.IPv4Address(server)), ""
        except ValueError:
            raise ProbeError(f"--server {server}: not an IPv4 address") from None
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


def _hosts_answer(source: Source, qname: str) -> list[str]:
    name = qname.rstrip(".")
    return [h.ip for h in source.hosts if name in h.names and ":" not in h.ip]


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
) -> ProbeResult:
    """Send real packets from SRC to DST and report what happened, with the kernel's trace of the rules.

    For `dns`, DST is the name to look up and the query goes to SRC's resolver (or `server`). SRC `outside`
    sends from the network namespace named by `outside` (a name under /run/netns).
    Raises ProbeError (one line) for bad input, missing privileges, or a SRC without a namespace.
    """
    started = time.monotonic()
    dst, proto, port = split_destination(dst, proto, port)
    check_args(proto, port, count, timeout, max_hops)
    source = await _fresh_source(model, client, src, outside)
    base = ProbeResult(src=source.label, dst=dst, proto=proto, port=port, count=count)
    qname, skip_reason, dst_addr = "", "", ""
    if proto == "dns":
        qname = dst
        found = _hosts_answer(source, qname)
        if found:
            return msgspec.structs.replace(
                base,
                outcome="answered",
                delivered=True,
                answers=found,
                summary=f"{qname} is in {source.label}'s /etc/hosts: {', '.join(found)} (no query sent)",
                elapsed_s=round(time.monotonic() - started, 3),
            )
        dst_addr, skip_reason = _dns_target(source, qname, server)
        if skip_reason:
            return msgspec.structs.replace(
                base,
                dst_ip=dst_addr,
                outcome="no-docker-dns",
                delivered=None,
                summary=f"{source.label} -> {qname} dns: not resolvable by Docker: {skip_reason}",
                elapsed_s=round(time.monotonic() - started, 3),
            )
    else:
        destination = resolve_destination(model, source, dst)
        check_outbound(source, destination)
        dst_addr = destination.address
    check_privileges(need_trace=trace)

    transport = _transport(proto, port)
    marker = _new_marker(transport)
    run_id = new_run_id()
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
    )
    if source.kind == "container" and dst_addr.startswith("127."):
        what = (
            "Docker's embedded DNS inside SRC's namespace"
            if dst_addr == EMBEDDED_DNS
            else "loopback in SRC's namespace"
        )
        tracer: Tracer = Tracer(
            run_id, Marker(transport, marker), f"{what}: no host rule is on the path, so nothing was traced"
        )
    else:
        tracer = await asyncio.to_thread(choose_tracer, trace, run_id, Marker(transport, marker))

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
    if report.error:
        raise ProbeError(f"the probe failed inside {source.label}: {report.error}")
    result = interpret(
        msgspec.structs.replace(base, run_id=run_id, marker=marker, warnings=warnings),
        source,
        dst_addr,
        report,
        evidence,
        model,
    )
    if static and proto != "dns":
        result = msgspec.structs.replace(result, static=compare_static(model, source, dst, result))
    return msgspec.structs.replace(result, elapsed_s=round(time.monotonic() - started, 3))


__all__ = ["Evidence", "ProbeResult", "WorkerReport", "run_probe"]
