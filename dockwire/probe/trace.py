"""Ask the kernel which rules judge the probe's packets, through temporary trace rules that always go away.

- nft hosts (iptables-nft, or Docker's nftables backend): a table of dockwire's own,
  `ip dockwire-trace-<runid>`, with one chain at prerouting and one at output, priority -350 (before raw),
  whose rules set `nftrace` on packets that carry the probe's marker; `nft -a monitor` prints every rule
  those packets then hit, in every table, with rule handles. No one else's chain is touched.
- legacy iptables: `-j TRACE` rules at the top of raw PREROUTING/OUTPUT; the kernel logs each rule the packet
  hits (`TRACE: table:chain:rule:N`), read from /dev/kmsg. Needs a kernel logger bound for IPv4.
- otherwise, or when that logger is missing: a before/after diff of `iptables-save -c` counters.

Every table/rule carries the comment (and the table the name) `dockwire-trace-<runid>`, the run id starting
with dockwire's pid. Removal happens in a finally (also on cancellation: SIGINT, and SIGTERM through
`cancel_on_sigterm`), at interpreter exit, and rules left by a run whose process is gone are swept at the
next start. `--no-trace` adds nothing at all.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import re
import secrets
import shlex
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import msgspec

from dockwire.model import HostModel, Table
from dockwire.probe.evidence import (
    ProbeKey,
    RuleMapper,
    build_evidence,
    counter_evidence,
    group_log,
    group_nft,
    handle_orders_from_nft_json,
)
from dockwire.probe.result import Evidence
from dockwire.probe.trace_parse import TraceEvent, parse_kmsg_record, parse_log_line, parse_nft_output

PREFIX = "dockwire-trace-"
PRIORITY = -350
ACCEPT = "policy accept;"
NF_LOG_IPV4 = Path("/proc/sys/net/netfilter/nf_log/2")
KMSG = "/dev/kmsg"
_RUN_ID = re.compile(r"dockwire-trace-(\d+)-[0-9a-f]+")
_TIMEOUT = 10


class TraceUnavailable(RuntimeError):
    """The trace rules could not be installed; the probe continues without kernel evidence."""


def new_run_id() -> str:
    """`<pid>-<random>`: unique per probe, and tells the sweep whether the owning process still lives."""
    return f"{os.getpid()}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Marker:
    """The probe's marker as firewall matches: ICMP echo id, or the TCP/UDP port on our side."""

    proto: str  # "icmp", "tcp", "udp"
    value: int

    @property
    def key(self) -> ProbeKey:
        return ProbeKey(self.proto, self.value)

    def nft_matches(self) -> list[str]:
        if self.proto == "icmp":
            return [f"icmp type {{ echo-request, echo-reply }} icmp id {self.value}"]
        return [f"{self.proto} sport {self.value}", f"{self.proto} dport {self.value}"]

    def iptables_matches(self) -> list[list[str]]:
        if self.proto == "icmp":
            # u32: the 16-bit ICMP id at offset 4 of the ICMP header (IHL*4 bytes into the packet).
            return [["-p", "icmp", "-m", "u32", "--u32", f"0>>22&0x3C@4>>16={self.value:#x}"]]
        return [
            ["-p", self.proto, "-m", self.proto, "--sport", str(self.value)],
            ["-p", self.proto, "-m", self.proto, "--dport", str(self.value)],
        ]


def _run(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    """Run a command synchronously (in a thread, or at exit); never raises for a failing command."""
    try:
        return subprocess.run(
            argv, input=stdin, capture_output=True, text=True, timeout=_TIMEOUT, check=False
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return subprocess.CompletedProcess(argv, 1, "", str(exc))


async def _arun(argv: list[str], stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    return await asyncio.to_thread(_run, argv, stdin)


def _first_line(proc: subprocess.CompletedProcess[str]) -> str:
    lines = (proc.stderr.strip() or proc.stdout.strip() or f"exit {proc.returncode}").splitlines()
    return lines[0] if lines else f"exit {proc.returncode}"


def iptables_backend() -> str:
    """ "nft" or "legacy" as `iptables -V` says, "" when there is no iptables."""
    if shutil.which("iptables") is None:
        return ""
    out = _run(["iptables", "-V"]).stdout
    if "nf_tables" in out:
        return "nft"
    return "legacy" if out.strip() else ""


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


# --- what is left over, and the sweep ---------------------------------------------------------------------


@dataclass(frozen=True)
class TraceObject:
    """A dockwire trace table (nft) or rule (iptables raw) present on the host."""

    kind: str  # "nft-table", "iptables-rule"
    run_id: str
    # nft: the table name; iptables: the chain.
    name: str
    # iptables: the rule spec as `iptables -S` prints it, without `-A CHAIN`.
    spec: tuple[str, ...] = ()

    @property
    def pid(self) -> int:
        return int(self.run_id.split("-")[0])

    def describe(self) -> str:
        if self.kind == "nft-table":
            return f"nft table ip {self.name}"
        return f"iptables -t raw -A {self.name} {shlex.join(self.spec)}"


def list_trace_objects() -> list[TraceObject]:
    """Every dockwire trace table or rule on the host, whichever run made it."""
    found: list[TraceObject] = []
    if shutil.which("nft"):
        for line in _run(["nft", "list", "tables", "ip"]).stdout.splitlines():
            words = line.split()
            if len(words) == 3 and words[0] == "table" and (m := _RUN_ID.fullmatch(words[2])):
                found.append(TraceObject("nft-table", m.group(0).removeprefix(PREFIX), words[2]))
    if shutil.which("iptables"):
        for chain in ("PREROUTING", "OUTPUT"):
            for line in _run(["iptables", "-w", "5", "-t", "raw", "-S", chain]).stdout.splitlines():
                if PREFIX not in line:
                    continue
                tokens = shlex.split(line)
                if tokens[:2] != ["-A", chain]:
                    continue
                m = _RUN_ID.search(line)
                if m:
                    run_id = m.group(0).removeprefix(PREFIX)
                    found.append(TraceObject("iptables-rule", run_id, chain, tuple(tokens[2:])))
    return found


def remove_object(obj: TraceObject) -> bool:
    if obj.kind == "nft-table":
        return _run(["nft", "delete", "table", "ip", obj.name]).returncode == 0
    return _run(["iptables", "-w", "5", "-t", "raw", "-D", obj.name, *obj.spec]).returncode == 0


def sweep_leftovers() -> list[str]:
    """Remove trace tables/rules whose dockwire process is gone (a crash); returns what was removed."""
    removed = []
    for obj in list_trace_objects():
        if not _pid_alive(obj.pid) and remove_object(obj):
            removed.append(obj.describe())
    return removed


# --- tracers ----------------------------------------------------------------------------------------------


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
            f"table ip {self.table} {{\n"
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
        proc = await _arun(["nft", "-f", "-"], self.script())
        if proc.returncode != 0:
            self.installed = False
            raise TraceUnavailable(f"nft could not add the trace table: {_first_line(proc)}")
        if not await self._wait_for(f"add table ip {self.table}", 3):
            self.note = "the trace monitor did not confirm the trace table; early packets may be missing"

    async def stop(self) -> None:
        if self.installed:
            self.installed = False
            proc = await _arun(["nft", "delete", "table", "ip", self.table])
            if proc.returncode == 0:
                # Trace events queued before the delete arrive before its notification.
                await self._wait_for(f"delete table ip {self.table}", 2)
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
            _run(["nft", "delete", "table", "ip", self.table])
        self._kill_monitor()

    def events(self) -> list[TraceEvent]:
        return parse_nft_output("\n".join(self.lines))

    async def evidence(self, model: HostModel, answered: bool) -> Evidence:
        events = self.events()
        tables = sorted(
            {(ev.family, ev.table) for ev in events if ev.table != self.table and ev.kind != "packet"}
        )
        orders: dict[tuple[str, str, str], list[int]] = {}
        for family, table in tables:
            proc = await _arun(["nft", "-a", "-j", "list", "table", family, table])
            if proc.returncode == 0:
                with contextlib.suppress(msgspec.DecodeError, AssertionError):
                    orders.update(handle_orders_from_nft_json(msgspec.json.decode(proc.stdout)))
        mapper = RuleMapper(model, handle_orders=orders)
        return build_evidence(
            self.mode, self.note, group_nft(events, self.table, self.marker.key), self.marker.key, mapper
        )


class LegacyLogTracer(Tracer):
    """TRACE rules in the legacy raw table, read back from the kernel log."""

    mode = "kernel-log"
    CHAINS = ("PREROUTING", "OUTPUT")

    def __init__(self, run_id: str, marker: Marker, note: str = "") -> None:
        super().__init__(run_id, marker, note)
        self.added: list[tuple[str, list[str]]] = []
        self.kmsg: int | None = None
        self.records: list[str] = []

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
                proc = await _arun(["iptables", "-w", "5", "-t", "raw", "-I", chain, "1", *spec])
                if proc.returncode != 0:
                    self.added.pop()
                    raise TraceUnavailable(f"iptables could not add the TRACE rule: {_first_line(proc)}")

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
            _run(["iptables", "-w", "5", "-t", "raw", "-D", chain, *spec])

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
        shifts = {("raw", c): len(self.marker.iptables_matches()) for c in self.CHAINS}
        mapper = RuleMapper(model, shifts=shifts)
        return build_evidence(self.mode, self.note, group_log(events), self.marker.key, mapper)


class CounterTracer(Tracer):
    """No rules at all: reads `iptables-save -c` before and after, and names the rules that counted."""

    mode = "counters"

    def __init__(self, run_id: str, marker: Marker, note: str = "") -> None:
        super().__init__(run_id, marker, note)
        self.before: list[Table] = []
        self.after: list[Table] = []

    @staticmethod
    async def _read() -> list[Table]:
        from dockwire.probes.iptables_save import IptablesSaveError, parse_iptables_save

        proc = await _arun(["iptables-save", "-c"])
        if proc.returncode != 0:
            raise TraceUnavailable(f"iptables-save failed: {_first_line(proc)}")
        try:
            return parse_iptables_save(proc.stdout, source="iptables")
        except IptablesSaveError as exc:
            raise TraceUnavailable(f"iptables-save output not understood: {exc}") from None

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


def _kernel_logger_bound() -> bool:
    try:
        value = NF_LOG_IPV4.read_text().strip()
    except OSError:
        return False
    return value not in ("", "NONE")


def choose_tracer(trace: bool, run_id: str, marker: Marker, backend: str | None = None) -> Tracer:
    """The best way this host offers to learn which rule judged the probe."""
    if not trace:
        return Tracer(run_id, marker, "read-only (--no-trace): no trace rules added, no kernel evidence")
    backend = iptables_backend() if backend is None else backend
    if backend in ("nft", "") and shutil.which("nft"):
        return NftTracer(run_id, marker)
    if backend == "legacy":
        if not _kernel_logger_bound():
            return CounterTracer(
                run_id,
                marker,
                f"legacy TRACE logs nothing: no kernel logger for IPv4 ({NF_LOG_IPV4} "
                "is NONE; `modprobe nf_log_syslog` binds one)",
            )
        if not os.access(KMSG, os.R_OK):
            return CounterTracer(run_id, marker, f"cannot read {KMSG} for the TRACE log")
        return LegacyLogTracer(run_id, marker)
    if backend == "nft":
        return CounterTracer(run_id, marker, "the nft command is missing, so packets cannot be traced")
    return Tracer(run_id, marker, "no iptables or nft on this host: no kernel evidence")


# --- the session: rules in, rules out, whatever happens ---------------------------------------------------

_ACTIVE: set[Tracer] = set()
_ATEXIT = threading.Lock()
_atexit_registered = False


def _remove_all_active() -> None:
    for tracer in list(_ACTIVE):
        with contextlib.suppress(Exception):
            tracer.remove_now()
        _ACTIVE.discard(tracer)


def _register_atexit() -> None:
    global _atexit_registered
    with _ATEXIT:
        if not _atexit_registered:
            atexit.register(_remove_all_active)
            _atexit_registered = True


class TraceSession:
    """`async with TraceSession(tracer) as s:` installs the trace rules; leaving removes them, always."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self.swept: list[str] = []
        self.error = ""

    async def __aenter__(self) -> TraceSession:
        if self.tracer.mode != "none":
            self.swept = await asyncio.to_thread(sweep_leftovers)
        _register_atexit()
        _ACTIVE.add(self.tracer)
        try:
            await self.tracer.start()
        except TraceUnavailable as exc:
            await self._cleanup()
            self.error = str(exc)
            await self._fall_back(f"tracing failed ({exc})")
        except BaseException:
            await self._cleanup()
            raise
        return self

    async def _fall_back(self, why: str) -> None:
        """After a failed trace: the counter diff when the tracer was not already that, else nothing."""
        run_id, marker = self.tracer.run_id, self.tracer.marker
        if not isinstance(self.tracer, CounterTracer) and shutil.which("iptables-save"):
            counters = CounterTracer(run_id, marker, why)
            try:
                await counters.start()
            except TraceUnavailable:
                pass
            else:
                self.tracer = counters
                return
        self.tracer = Tracer(run_id, marker, f"no kernel evidence: {why}")

    async def __aexit__(self, *exc: object) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        try:
            await asyncio.shield(self.tracer.stop())
        except asyncio.CancelledError:
            self.tracer.remove_now()
            raise
        except Exception:
            self.tracer.remove_now()
        finally:
            _ACTIVE.discard(self.tracer)


@contextlib.contextmanager
def cancel_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM cancels the current task (so `finally` blocks remove the trace rules).

    Only from the main thread's running loop and when nobody else handles SIGTERM; else it does nothing.
    """
    try:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
    except RuntimeError:
        yield
        return
    usable = (
        task is not None
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
    )
    if not usable:
        yield
        return
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
