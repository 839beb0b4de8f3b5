"""Legacy iptables: `-j TRACE` rules at the top of raw PREROUTING/OUTPUT, read back from the kernel log."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

from dockwire.actions.evidence import RuleMapper, build_evidence, group_log
from dockwire.actions.result import Evidence
from dockwire.actions.tracing.base import (
    PREFIX,
    Marker,
    Tracer,
    TraceUnavailable,
    first_line,
    run_command,
    run_command_async,
)
from dockwire.actions.tracing.parse import TraceEvent, parse_kmsg_record, parse_log_line
from dockwire.model import HostModel

NF_LOG_IPV4 = Path("/proc/sys/net/netfilter/nf_log/2")
NF_LOG_IPV6 = Path("/proc/sys/net/netfilter/nf_log/10")
KMSG = "/dev/kmsg"


def nf_log_file(family: str) -> Path:
    """The kernel's logger binding for the family's TRACE lines (2: IPv4, 10: IPv6)."""
    return NF_LOG_IPV6 if family == "ip6" else NF_LOG_IPV4


def kernel_logger_bound(family: str = "ip") -> bool:
    try:
        value = nf_log_file(family).read_text().strip()
    except OSError:
        return False
    return value not in ("", "NONE")


class LegacyLogTracer(Tracer):
    """TRACE rules in the legacy raw table, read back from the kernel log."""

    mode = "kernel-log"
    CHAINS: tuple[str, ...] = ("PREROUTING", "OUTPUT")

    def __init__(self, run_id: str, marker: Marker, note: str = "") -> None:
        super().__init__(run_id, marker, note)
        self.added: list[tuple[str, list[str]]] = []
        self.kmsg: int | None = None
        self.records: list[str] = []
        # (table, chain) -> positions of every dockwire trace rule there once ours are in (kernel numbering).
        self.trace_positions: dict[tuple[str, str], list[int]] = {}

    def _spec(self, match: list[str]) -> list[str]:
        return [*match, "-m", "comment", "--comment", self.comment, "-j", "TRACE"]

    async def start(self) -> None:
        try:
            self.kmsg = os.open(KMSG, os.O_RDONLY | os.O_NONBLOCK)
            os.lseek(self.kmsg, 0, os.SEEK_END)
        except OSError as exc:
            raise TraceUnavailable(f"cannot read the kernel log {KMSG}: {exc.strerror or exc}") from None
        for chain in self.CHAINS:
            for match in self.marker.iptables_matches():
                spec = self._spec(match)
                self.added.append((chain, spec))
                tool = self.marker.iptables
                proc = await run_command_async([tool, "-w", "5", "-t", "raw", "-I", chain, "1", *spec])
                if proc.returncode != 0:
                    self.added.pop()
                    raise TraceUnavailable(f"{tool} could not add the TRACE rule: {first_line(proc)}")
        for chain in self.CHAINS:
            self.trace_positions[("raw", chain)] = await self._trace_rule_positions(chain)

    async def _trace_rule_positions(self, chain: str) -> list[int]:
        """Where dockwire's trace rules (this run's and any other's) sit in a raw chain, 1-based."""
        proc = await run_command_async([self.marker.iptables, "-w", "5", "-t", "raw", "-S", chain])
        rules = [line for line in proc.stdout.splitlines() if line.startswith("-A ")]
        return [n for n, line in enumerate(rules, 1) if PREFIX in line]

    def _read_kmsg(self) -> None:
        if self.kmsg is None:
            return
        while True:
            try:
                data = os.read(self.kmsg, 8192)
            except BlockingIOError:
                break
            except BrokenPipeError:  # records overwritten while we read: skip ahead
                continue
            if not data:
                break
            self.records.append(parse_kmsg_record(data.decode(errors="replace").rstrip("\n")))
        os.close(self.kmsg)
        self.kmsg = None

    def _remove(self) -> None:
        while self.added:
            chain, spec = self.added.pop()
            run_command([self.marker.iptables, "-w", "5", "-t", "raw", "-D", chain, *spec])

    async def stop(self) -> None:
        await asyncio.sleep(0.2)  # let the last log lines land
        await asyncio.to_thread(self._remove)
        self._read_kmsg()

    def remove_now(self) -> None:
        self._remove()
        if self.kmsg is not None:
            os.close(self.kmsg)
            self.kmsg = None

    async def evidence(self, model: HostModel, answered: bool) -> Evidence:
        events: list[TraceEvent] = []
        for record in self.records:
            events.extend(parse_log_line(record))
        own = len(self.marker.iptables_matches())
        ours = {("raw", c): list(range(1, own + 1)) for c in self.CHAINS}
        mapper = RuleMapper(model, trace_rules=self.trace_positions or ours)
        return build_evidence(self.mode, self.note, group_log(events), self.marker.key, mapper)
