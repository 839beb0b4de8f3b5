"""What every tracer shares: the run id and marker, the command runner, and the tracer interface."""

from __future__ import annotations

import asyncio
import os
import re
import secrets
import shutil
import subprocess
from dataclasses import dataclass

from dockwire.actions.evidence import ProbeKey
from dockwire.actions.result import Evidence
from dockwire.model import TRACE_PREFIX, HostModel

PREFIX = TRACE_PREFIX
PRIORITY = -350
ACCEPT = "policy accept;"
RUN_ID = re.compile(r"dockwire-trace-(\d+)-[0-9a-f]+")
# The families dockwire's trace objects live in, and the iptables command of each.
IPTABLES = {"ip": "iptables", "ip6": "ip6tables"}
_TIMEOUT = 10


class TraceUnavailable(RuntimeError):
    """The trace rules could not be installed; the probe continues without kernel evidence."""


def new_run_id() -> str:
    """`<pid>-<random>`: unique per probe, and tells the sweep whether the owning process still lives."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Marker:
    """The probe's marker as firewall matches: ICMP echo id, or the TCP/UDP port on our side."""

    proto: str  # "icmp" (ICMPv6 when family is "ip6"), "tcp", "udp"
    value: int
    # The nft family of the probe's packets: "ip" or "ip6" (trace tables and ip6tables rules for IPv6).
    family: str = "ip"

    @property
    def key(self) -> ProbeKey:
        return ProbeKey(self.proto, self.value)

    @property
    def iptables(self) -> str:
        """The iptables command of the marker's family."""
        return IPTABLES[self.family]

    def nft_matches(self) -> list[str]:
        if self.proto == "icmp":
            icmp = "icmpv6" if self.family == "ip6" else "icmp"
            return [f"{icmp} type {{ echo-request, echo-reply }} {icmp} id {self.value}"]
        return [f"{self.proto} sport {self.value}", f"{self.proto} dport {self.value}"]

    def iptables_matches(self) -> list[list[str]]:
        if self.proto == "icmp" and self.family == "ip6":
            # u32: the 16-bit echo id 4 bytes into the ICMPv6 header, after the fixed 40-byte IPv6 header.
            return [["-p", "ipv6-icmp", "-m", "u32", "--u32", f"44>>16={self.value:#x}"]]
        if self.proto == "icmp":
            # u32: the 16-bit ICMP id at offset 4 of the ICMP header (IHL*4 bytes into the packet).
            return [["-p", "icmp", "-m", "u32", "--u32", f"0>>22&0x3C@4>>16={self.value:#x}"]]
        return [
            ["-p", self.proto, "-m", self.proto, "--sport", str(self.value)],
            ["-p", self.proto, "-m", self.proto, "--dport", str(self.value)],
        ]


def run_command(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command synchronously (in a thread, or at exit); never raises for a failing command."""
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 1, "", str(exc))


async def run_command_async(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(run_command, argv, stdin)


def first_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()
    return lines[0] if lines else f"exit {proc.returncode}"


def iptables_backend() -> str:
    """ "nft" or "legacy" as `iptables -V` says, "" when there is no iptables."""
    if shutil.which("iptables") is None:
        return ""
    out = run_command(["iptables", "-V"]).stdout
    if "nf_tables" in out:
        return "nft"
    return "legacy" if out.strip() else ""


class Tracer:
    """No tracing: the base for the others, and the `--no-trace` mode."""

    mode = "none"

    def __init__(self, run_id: str, marker: Marker, note: str = "") -> None:
        self.run_id = run_id
        self.marker = marker
        self.comment = PREFIX + run_id
        self.note = note

    async def start(self) -> None:
        """Install the rules and start listening."""

    async def stop(self) -> None:
        """Remove everything start() added; idempotent."""

    def remove_now(self) -> None:
        """Synchronous emergency removal (cancellation, interpreter exit); idempotent."""

    async def evidence(self, model: HostModel, answered: bool) -> Evidence:
        return Evidence(mode=self.mode, note=self.note)
