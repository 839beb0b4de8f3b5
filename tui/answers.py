"""The TUI's only coupling to the verdict engine and the active probes: Questions in, Answers out."""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import msgspec

from dockwire.answer import Answer, Bypass, Question, Status
from dockwire.errors import DockwireError
from dockwire.fleet import Fleet
from dockwire.model import Container, HostModel, RuleRef
from dockwire.verdict import FlowEnd as FlowEnd  # re-exported: the command line resolves words with it
from dockwire.verdict import Verdict, evaluate, resolve_endpoint
from dockwire.verdict.fleet_ends import resolve_on_fleet, resolve_pair
from dockwire.verdict.fleet_verdict import evaluate_fleet
from dockwire.verdict.matrix import StatusGrid, has_ipv6
from dockwire.verdict.matrix_pool import VerdictWorker, grid_in_processes, status_rows
from dockwire.widgets.matrix import MatrixCell

if TYPE_CHECKING:
    from dockwire.actions.result import ProbeResult
    from dockwire.verdict.records import Bypassed, Hop


_STATUSES: dict[str, Status] = {"allowed": "allowed", "blocked": "blocked"}


def is_root() -> bool:
    return os.geteuid() == 0


def probe_disabled_reason(live: bool, root: bool) -> str:
    """Why active probes cannot run here, or "" when they can (demo mode falls back to the static verdict)."""
    if live and not root:
        return "not root (probes need CAP_NET_RAW and CAP_SYS_ADMIN)"
    return ""


def _hop(hop: Hop) -> str:
    where = f"[{hop.host}] " if hop.host else ""
    return f"{hop.direction:<8} {hop.kind:<7} {where}{hop.text}"


def _bypass(b: Bypassed) -> Bypass:
    return Bypass(rule=b.rule, why=b.why, fix=tuple(b.fix), fix_note=b.fix_note)


def answer_from_verdict(request: Question, verdict: Verdict, banner: str = "") -> Answer:
    """Translate the engine's Verdict into what the panes show."""
    status = _STATUSES.get(verdict.verdict, "uncertain")
    return Answer(
        request=request,
        mode="static",
        status=status,
        summary=verdict.reason,
        path=tuple(_hop(h) for h in verdict.path),
        rules=tuple(verdict.matched),
        culprit=verdict.culprit,
        missing=verdict.missing,
        fix=tuple(verdict.fix),
        fix_note=verdict.fix_note,
        unknown=tuple(verdict.unknown),
        notes=tuple(verdict.notes),
        banner=banner,
        bypassed=tuple(_bypass(b) for b in verdict.bypassed),
        fix_host=verdict.fix_host,
    )


def resolve_end(scope: HostModel | Fleet, text: str, role: str = "dst") -> FlowEnd:
    """One end of a question on one host, or (`NAME@HOST`) on a fleet of several."""
    if isinstance(scope, Fleet):
        return resolve_on_fleet(scope, text, role).end
    return resolve_endpoint(scope, text, role)


def resolve_ends(scope: HostModel | Fleet, src: str, dst: str) -> tuple[FlowEnd, FlowEnd]:
    """Both ends; on a fleet an end without a host (`host`, `outside`) takes the other end's."""
    if isinstance(scope, Fleet):
        s, d = resolve_pair(scope, src, dst)
        return s.end, d.end
    return resolve_endpoint(scope, src, "src"), resolve_endpoint(scope, dst, "dst")


def _dst_port(scope: HostModel | Fleet, request: Question) -> int | None:
    if isinstance(scope, Fleet):
        return resolve_ends(scope, request.src, request.dst)[1].port
    return resolve_endpoint(scope, request.dst, "dst").port


def _proto(model: HostModel | Fleet, request: Question) -> str:
    """The request's protocol, as the CLI takes it: a destination with a port (HOSTIP:PORT, NAME:PORT) and
    no protocol but the default means tcp."""
    if request.proto == "icmp" and request.port is None and _dst_port(model, request):
        return "tcp"
    return request.proto


def why(model: HostModel | Fleet, request: Question, banner: str = "") -> Answer:
    """The static verdict for a request (blocking; run it in a thread), on one host or across a fleet's.
    `banner` says why it stands in for a probe, when it does."""
    try:
        proto = _proto(model, request)
        if isinstance(model, Fleet):
            verdict = evaluate_fleet(
                model, request.src, request.dst, proto=proto, port=request.port, family=request.family
            )
        else:
            verdict = evaluate(
                model, request.src, request.dst, proto=proto, port=request.port, family=request.family
            )
    except DockwireError as exc:
        return Answer(request, "static", "error", str(exc), banner=banner)
    return answer_from_verdict(request, verdict, banner)


async def probe(model: HostModel, client: Any, request: Question) -> Answer:
    """Send real packets (with the kernel's trace of the rules); the static verdict fills in the path and the
    fix."""
    from dockwire.actions.runner import run_probe

    static_request = Question(
        request.src,
        request.dst,
        "icmp" if request.trace else request.proto,
        request.port,
        family=request.family,
    )
    proto = "trace" if request.trace else request.proto
    port = request.port if proto != "trace" or request.proto == "tcp" else None
    try:
        result = await run_probe(
            model, client, request.src, request.dst, proto, port, trace=True, family=request.family
        )
    except DockwireError as exc:
        return Answer(request, "active", "error", str(exc))
    except Exception as exc:  # a broken probe is a result to show, never a crash of the dashboard
        return Answer(request, "active", "error", f"the probe failed: {type(exc).__name__}: {exc}")
    static = await asyncio.to_thread(why, model, static_request)
    return answer_from_probe(request, result, static)


def _kernel_ref(ref: RuleRef) -> RuleRef:
    """The prober's rule as the panes show it: a policy it names dropped the packet."""
    return msgspec.structs.replace(ref, effect="DROP") if ref.is_policy and not ref.effect else ref


def answer_from_probe(request: Question, result: ProbeResult, static: Answer) -> Answer:
    """What the packets showed, with the static verdict's path and fix beside it."""
    status: Status = (
        "uncertain" if result.delivered is None else ("allowed" if result.delivered else "blocked")
    )
    dropped = result.evidence.dropped_by
    culprit = (
        _kernel_ref(dropped) if dropped is not None else (static.culprit if status == "blocked" else None)
    )
    same = static.culprit
    if culprit is not None and same is not None and same.same_rule(culprit):
        culprit = same  # the static engine's copy also knows the rule's source and owner
    notes = [
        f"kernel evidence: {result.evidence.mode}"
        + (f" ({result.evidence.note})" if result.evidence.note else "")
    ]
    if result.static.available and result.static.agrees is False:
        notes.insert(0, f"THE PROBE AND THE STATIC VERDICT DISAGREE: static says {static.summary}")
    notes.extend(result.warnings)
    hops = tuple(
        f"{h.ttl:>2}  {h.address or '*':<15} {h.role if h.role != '*' else '':<12}"
        + (f" {h.rtt_ms:g} ms" if h.rtt_ms is not None else "")
        for h in result.hops
    )
    return Answer(
        request=request,
        mode="active",
        status=status,
        summary=result.summary,
        path=static.path,
        rules=static.rules,
        culprit=culprit,
        missing=static.missing if status == "blocked" else "",
        fix=static.fix if status == "blocked" else (),
        fix_note=static.fix_note if status == "blocked" else "",
        rtt_ms=result.rtt_ms_avg,
        notes=tuple(notes),
        trace=hops,
        # The packets went through: a rule that looks like it stops them is worth saying all the more.
        bypassed=static.bypassed if status == "allowed" else (),
    )


# --- the matrix ---------------------------------------------------------------------------------------


def matrix_members(model: HostModel, family: int = 4) -> list[Container]:
    """The containers the matrix shows: running ones, in name order; for IPv6 those with an IPv6 address
    (or sharing the namespace of one that has)."""
    running = sorted((c for c in model.containers if c.state == "running"), key=lambda c: c.name)
    return running if family != 6 else [c for c in running if has_ipv6(model, c)]


class CellExplainer:
    """The full `why` of a matrix cell. For a grid computed in worker processes (a large one), asked of a
    process of its own (`matrix_pool.VerdictWorker`), so that the dashboard's process never compiles that
    model's rules; else `why` here. Blocking (run it in a thread); `close` ends the process."""

    def __init__(self, members: int) -> None:
        self._asks_a_worker = grid_in_processes(members)
        self._worker: VerdictWorker | None = None
        self._lock = threading.Lock()  # the worker in use: swapped by one thread at a time

    def why(self, model: HostModel, request: Question) -> Answer:
        if not self._asks_a_worker:
            return why(model, request)
        try:
            proto = _proto(model, request)
            verdict = self._worker_for(model).verdict(
                request.src, request.dst, proto, request.port, request.family
            )
        except DockwireError as exc:
            return Answer(request, "static", "error", str(exc))
        return answer_from_verdict(request, verdict)

    def _worker_for(self, model: HostModel) -> VerdictWorker:
        """The worker fed `model` (a new model gets a new one: the old one ends)."""
        old = None
        with self._lock:
            worker = self._worker
            if worker is None or worker.model is not model:
                old, worker = worker, VerdictWorker(model)
                self._worker = worker
        if old is not None:
            old.close()
        return worker

    def close(self) -> None:
        """End the worker (a question it is answering fails, and its answer is dropped)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.close()


def matrix_cells(
    model: HostModel, members: list[Container], family: int = 4
) -> Iterator[dict[tuple[str, str], MatrixCell]]:
    """One batch of cells per source row, in the members' order (blocking; run it in a thread and hand each
    batch to the grid; close it to stop).

    The matrix's light verdicts (no path or fix: a cell shows only its status; selecting it asks the full
    `why`), in processes of their own for a large grid (`dockwire.verdict.matrix_pool.status_rows`), else
    here with one engine context for the whole grid. `family` 6: the flows between IPv6 addresses."""
    rows = status_rows(model, members, family)
    if rows is None:
        grid = StatusGrid(model, members, family)
        rows = (grid.row(src.id) for src in members)
    try:
        for src, row in zip(members, rows, strict=True):
            yield {
                (src.id, dst): MatrixCell(
                    icmp=_status(icmp), ports=tuple((label, _status(v)) for label, v in ports)
                )
                for dst, icmp, ports in row
            }
    finally:
        rows.close()  # stops the worker processes


def _status(verdict: str) -> Status:
    return _STATUSES.get(verdict, "error" if verdict == "error" else "uncertain")


def cell_request(
    model: HostModel, src_id: str, dst_id: str, cell: MatrixCell | None, family: int = 4
) -> Question | None:
    """What selecting a matrix cell explains: its first blocked published port, else ICMP (`family` 6: over
    IPv6)."""
    asked = 6 if family == 6 else None
    src, dst = model.container(src_id), model.container(dst_id)
    if src is None or dst is None:
        return None
    if cell is not None and cell.icmp != "blocked":
        for port_text, status in cell.ports:
            if status != "allowed":
                port, proto = port_text.split("/")
                return Question(src.name, dst.name, proto, int(port), family=asked)
    return Question(src.name, dst.name, family=asked)
