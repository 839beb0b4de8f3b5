"""No trace rules at all: `iptables-save -c` before and after the probe; the rules whose counters moved."""

from __future__ import annotations

import contextlib

import msgspec

from dockwire.actions.evidence import counter_evidence
from dockwire.actions.result import Evidence
from dockwire.actions.tracing.base import Marker, Tracer, TraceUnavailable, first_line, run_command_async
from dockwire.model import HostModel, Table


class CounterTracer(Tracer):
    """No rules at all: reads `iptables-save -c` before and after, and names the rules that counted."""

    mode = "counters"

    def __init__(self, run_id: str, marker: Marker, note: str = "") -> None:
        super().__init__(run_id, marker, note)
        self.before: list[Table] = []
        self.after: list[Table] = []

    async def _read(self) -> list[Table]:
        from dockwire.probes.iptables_save import IptablesSaveError, parse_iptables_save

        tool = f"{self.marker.iptables}-save"
        proc = await run_command_async([tool, "-c"])
        if proc.returncode != 0:
            raise TraceUnavailable(f"{tool} failed: {first_line(proc)}")
        try:
            return parse_iptables_save(proc.stdout, source=self.marker.iptables, family=self.marker.family)
        except IptablesSaveError as exc:
            raise TraceUnavailable(f"{tool} output not understood: {exc}") from None

    async def start(self) -> None:
        self.before = await self._read()

    async def stop(self) -> None:
        if self.before and not self.after:
            with contextlib.suppress(TraceUnavailable):
                self.after = await self._read()

    async def evidence(self, model: HostModel, answered: bool) -> Evidence:
        if not self.after:
            return Evidence(mode=self.mode, note="counters could not be read after the probe")
        ev = counter_evidence(self.before, self.after, answered)
        note = f"{self.note}; {ev.note}" if self.note else ev.note
        return msgspec.structs.replace(ev, note=note)
