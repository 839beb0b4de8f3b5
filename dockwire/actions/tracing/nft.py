"""nftrace: a table of dockwire's own marks the probe's packets; `nft monitor` prints every rule they hit."""

from __future__ import annotations

import asyncio
import contextlib
import time

import msgspec

from dockwire.actions.evidence import (
    RuleMapper,
    build_evidence,
    chain_texts_from_save,
    group_nft,
    handle_orders_from_nft_json,
    without_trace_handles,
)
from dockwire.actions.result import Evidence
from dockwire.actions.tracing.base import (
    ACCEPT,
    PRIORITY,
    Marker,
    Tracer,
    TraceUnavailable,
    first_line,
    run_command,
    run_command_async,
)
from dockwire.actions.tracing.parse import TraceEvent, parse_nft_output
from dockwire.model import HostModel

# The iptables-nft listing of a family's tables (for the rules behind nft handles).
SAVE_TOOLS = {"ip": "iptables-nft-save", "ip6": "ip6tables-nft-save"}


class NftTracer(Tracer):
    mode = "nftrace"

    def __init__(self, run_id: str, marker: Marker, note: str = "") -> None:
        super().__init__(run_id, marker, note)
        self.table = self.comment
        self.lines: list[str] = []
        self.proc: asyncio.subprocess.Process | None = None
        self.reader: asyncio.Task[None] | None = None
        self.installed = False

    def script(self) -> str:
        rules = [f'    {m} meta nftrace set 1 comment "{self.comment}"' for m in self.marker.nft_matches()]
        body = "\n".join(rules)
        return (
            f"table {self.marker.family} {self.table} {{\n"
            f"  chain pre {{\n    type filter hook prerouting priority {PRIORITY}; {ACCEPT}\n{body}\n  }}\n"
            f"  chain out {{\n    type filter hook output priority {PRIORITY}; {ACCEPT}\n{body}\n  }}\n"
            "}\n"
        )

    async def _read(self) -> None:
        assert self.proc is not None and self.proc.stdout is not None
        while line := await self.proc.stdout.readline():
            self.lines.append(line.decode(errors="replace").rstrip("\n"))

    async def _wait_for(self, text: str, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if any(text in ln for ln in self.lines):
                return True
            if self.reader is not None and self.reader.done():
                return False
            await asyncio.sleep(0.02)
        return False

    async def start(self) -> None:
        self.proc = await asyncio.create_subprocess_exec(
            "nft",
            "-a",
            "monitor",
            stdin=asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.DEVNULL,
        )
        self.reader = asyncio.create_task(self._read())
        await asyncio.sleep(0.15)  # let the monitor subscribe before the table appears
        self.installed = True
        proc = await run_command_async(["nft", "-f", "-"], self.script())
        if proc.returncode != 0:
            self.installed = False
            raise TraceUnavailable(f"nft could not add the trace table: {first_line(proc)}")
        if not await self._wait_for(f"add table {self.marker.family} {self.table}", 3):
            self.note = "the trace monitor did not confirm the trace table; early packets may be missing"

    async def stop(self) -> None:
        if self.installed:
            self.installed = False
            proc = await run_command_async(["nft", "delete", "table", self.marker.family, self.table])
            if proc.returncode == 0:
                # Trace events queued before the delete arrive before its notification.
                await self._wait_for(f"delete table {self.marker.family} {self.table}", 2)
        self._kill_monitor()
        if self.reader is not None:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await asyncio.wait_for(self.reader, 2)

    def _kill_monitor(self) -> None:
        if self.proc is not None and self.proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.proc.terminate()

    def remove_now(self) -> None:
        if self.installed:
            self.installed = False
            run_command(["nft", "delete", "table", self.marker.family, self.table])
        self._kill_monitor()

    def events(self) -> list[TraceEvent]:
        return parse_nft_output("\n".join(self.lines))

    async def evidence(self, model: HostModel, answered: bool) -> Evidence:
        events = self.events()
        tables = sorted(
            {(ev.family, ev.table) for ev in events if ev.table != self.table and ev.kind != "packet"}
        )
        orders: dict[tuple[str, str, str], list[int]] = {}
        texts: dict[tuple[str, str, str], list[str]] = {}
        for family, table in tables:
            proc = await run_command_async(["nft", "-a", "-j", "list", "table", family, table])
            if proc.returncode == 0:
                with contextlib.suppress(msgspec.DecodeError, AssertionError):
                    orders.update(handle_orders_from_nft_json(msgspec.json.decode(proc.stdout)))
            if family in SAVE_TOOLS:
                # iptables-nft's own listing of the same table tells which rules are trace rules.
                save = await run_command_async([SAVE_TOOLS[family], "-t", table])
                if save.returncode == 0:
                    texts.update(chain_texts_from_save(save.stdout, family))
        mapper = RuleMapper(model, handle_orders=without_trace_handles(orders, texts))
        return build_evidence(
            self.mode, self.note, group_nft(events, self.table, self.marker.key), self.marker.key, mapper
        )
