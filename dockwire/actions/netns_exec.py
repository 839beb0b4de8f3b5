"""Run the packet sender inside another network namespace, in a worker process.

The worker is a fresh interpreter (`python -m dockwire.actions.worker`), not a bare fork: dockwire's own
process may run an event loop with threads (the TUI), and forking such a process without exec is unsafe.
The worker enters the namespace with setns(2) (Python 3.11 has no os.setns, so through ctypes), only then
imports scapy (so scapy reads that namespace's interfaces and routes), says it is ready, waits for "go",
sends, and writes its report as one JSON line. Talking to it never blocks the event loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import os
import sys
from pathlib import Path

import msgspec

from dockwire.actions.endpoints import ProbeError
from dockwire.actions.result import Hop, Reply

CLONE_NEWNET = 0x40000000
CAP_NET_ADMIN, CAP_NET_RAW, CAP_SYS_ADMIN = 12, 13, 21


class WorkerRequest(msgspec.Struct, frozen=True, kw_only=True):
    """What to send, and from where."""

    netns: str | None
    proto: str
    dst: str
    port: int | None = None
    count: int = 1
    timeout: float = 1.0
    marker: int = 0
    max_hops: int = 8
    qname: str = ""
    # dns: the record asked for ("A", or "AAAA" for IPv6 addresses); the query itself may go over IPv4.
    qtype: str = "A"
    # 4 or 6: the IP version of the packets (and of the routes and neighbours read).
    family: int = 4


class WorkerReady(msgspec.Struct, frozen=True, kw_only=True):
    ready: bool
    error: str = ""


class WorkerReport(msgspec.Struct, frozen=True, kw_only=True):
    """What the worker saw from inside the namespace."""

    error: str = ""
    dst: str = ""
    src_ip: str = ""
    # `ip route get DST` as the namespace answers it; `no_route` when the kernel has none.
    route: str = ""
    gateway: str = ""
    no_route: bool = False
    routes: list[str] = msgspec.field(default_factory=list)
    neighbour: str = ""
    sent: int = 0
    replies: list[Reply] = msgspec.field(default_factory=list)
    hops: list[Hop] = msgspec.field(default_factory=list)
    answers: list[str] = msgspec.field(default_factory=list)
    rcode: str = ""


def enter_netns(path: str) -> None:
    """Move the calling thread (the whole process, when it has one thread) into the namespace at `path`."""
    libc = ctypes.CDLL(None, use_errno=True)
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        if libc.setns(fd, CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns {path}: {os.strerror(err)}")
    finally:
        os.close(fd)


def _effective_caps() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def check_privileges(need_trace: bool) -> None:
    """One-line ProbeError naming what is missing: raw sockets, entering namespaces, trace rules."""
    caps = _effective_caps()
    needed = {"CAP_NET_RAW": CAP_NET_RAW, "CAP_SYS_ADMIN": CAP_SYS_ADMIN}
    if need_trace:
        needed["CAP_NET_ADMIN"] = CAP_NET_ADMIN
    missing = [name for name, bit in needed.items() if not caps & (1 << bit)]
    if missing:
        why = "to send raw packets, enter namespaces" + (" and add trace rules" if need_trace else "")
        raise ProbeError(f"probing needs root ({', '.join(missing)} missing) {why}; try sudo")


class Worker:
    """One sender process in one namespace."""

    def __init__(self, proc: asyncio.subprocess.Process, request: WorkerRequest) -> None:
        self.proc = proc
        self.request = request

    @classmethod
    async def start(cls, request: WorkerRequest) -> Worker:
        proc = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "dockwire.actions.worker",
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        assert proc.stdin is not None
        proc.stdin.write(msgspec.json.encode(request) + b"\n")
        await proc.stdin.drain()
        return cls(proc, request)

    async def _line(self, timeout: float) -> bytes:
        assert self.proc.stdout is not None
        try:
            line = await asyncio.wait_for(self.proc.stdout.readline(), timeout)
        except TimeoutError:
            raise ProbeError(f"the probe worker did not answer within {timeout:g} s") from None
        if not line:
            err = b""
            if self.proc.stderr is not None:
                with contextlib.suppress(TimeoutError):
                    err = await asyncio.wait_for(self.proc.stderr.read(), 2)
            lines = [ln for ln in err.decode(errors="replace").splitlines() if ln.strip()]
            raise ProbeError(f"the probe worker failed: {lines[-1] if lines else 'no output'}")
        return line

    async def ready(self, timeout: float = 20.0) -> None:
        msg = msgspec.json.decode(await self._line(timeout), type=WorkerReady)
        if msg.error:
            raise ProbeError(msg.error)

    async def go(self) -> WorkerReport:
        assert self.proc.stdin is not None
        self.proc.stdin.write(b"go\n")
        await self.proc.stdin.drain()
        req = self.request
        per_packet = req.timeout + 0.5
        budget = 10 + per_packet * (req.max_hops if req.proto == "trace" else req.count)
        report = msgspec.json.decode(await self._line(budget), type=WorkerReport)
        await self.close()
        return report

    async def close(self) -> None:
        """Stop the worker (ours, by its pid) if it is still running, and reap it."""
        if self.proc.returncode is None:
            if self.proc.stdin is not None:
                with contextlib.suppress(OSError):
                    self.proc.stdin.close()
            try:
                await asyncio.wait_for(self.proc.wait(), 2)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.proc.kill()
                await self.proc.wait()
