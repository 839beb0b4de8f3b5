"""Trace tables and rules left on the host by a dockwire that died, and the sweep that removes them."""

from __future__ import annotations

import os
import shlex
import shutil
from dataclasses import dataclass

from dockwire.actions.tracing.base import IPTABLES, PREFIX, RUN_ID, run_command


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


@dataclass(frozen=True)
class TraceObject:
    """A dockwire trace table (nft) or rule (iptables raw) present on the host."""

    kind: str  # "nft-table", "iptables-rule"
    run_id: str
    # nft: the table name; iptables: the chain.
    name: str
    # iptables: the rule spec as `iptables -S` prints it, without `-A CHAIN`.
    spec: tuple[str, ...] = ()
    # "ip" or "ip6": the nft table's family, or iptables against ip6tables.
    family: str = "ip"

    @property
    def pid(self) -> int:
        return int(self.run_id.split("-")[0])

    def describe(self) -> str:
        if self.kind == "nft-table":
            return f"nft table {self.family} {self.name}"
        return f"{self.tool} -t raw -A {self.name} {shlex.join(self.spec)}"

    @property
    def tool(self) -> str:
        return IPTABLES.get(self.family, "iptables")


def list_trace_objects() -> list[TraceObject]:
    """Every dockwire trace table or rule on the host, whichever run made it."""
    found: list[TraceObject] = []
    if shutil.which("nft"):
        for line in run_command(["nft", "list", "tables"]).stdout.splitlines():
            words = line.split()
            m = RUN_ID.fullmatch(words[2]) if len(words) == 3 and words[0] == "table" else None
            if m and words[1] in IPTABLES:
                run_id = m.group(0).removeprefix(PREFIX)
                found.append(TraceObject("nft-table", run_id, words[2], family=words[1]))
    for family, tool in IPTABLES.items():
        found.extend(_iptables_trace_rules(family, tool))
    return found


def _iptables_trace_rules(family: str, tool: str) -> list[TraceObject]:
    found: list[TraceObject] = []
    if shutil.which(tool):
        for chain in ("PREROUTING", "OUTPUT"):
            for line in run_command([tool, "-w", "5", "-t", "raw", "-S", chain]).stdout.splitlines():
                if PREFIX not in line:
                    continue
                try:
                    tokens = shlex.split(line)
                except ValueError:  # not one of ours: ours are written by dockwire, quotes balanced
                    continue
                if tokens[:2] != ["-A", chain]:
                    continue
                m = RUN_ID.search(line)
                if m:
                    run_id = m.group(0).removeprefix(PREFIX)
                    found.append(TraceObject("iptables-rule", run_id, chain, tuple(tokens[2:]), family))
    return found


def remove_object(obj: TraceObject) -> bool:
    if obj.kind == "nft-table":
        return run_command(["nft", "delete", "table", obj.family, obj.name]).returncode == 0
    return run_command([obj.tool, "-w", "5", "-t", "raw", "-D", obj.name, *obj.spec]).returncode == 0


def sweep_leftovers() -> list[str]:
    """Remove trace tables/rules whose dockwire process is gone (a crash); returns what was removed."""
    removed = []
    for obj in list_trace_objects():
        if not _pid_alive(obj.pid) and remove_object(obj):
            removed.append(obj.describe())
    return removed
