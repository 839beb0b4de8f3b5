"""The TUI's only coupling to the verdict engine and the active prober: requests in, Outcomes out.

Both engines are optional at run time: when one is missing from this build, the caller gets an Outcome
that says so instead of an exception, so the UI has one code path.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Iterator
from typing import Any

from dockwire.errors import DockwireError
from dockwire.model import Container, HostModel
from dockwire.widgets.matrix import MatrixCell
from dockwire.widgets.outcome import Outcome, ProbeRequest, RuleSpot, Status

NO_ENGINE = "the verdict engine is not available in this build"
NO_PROBER = "active probing is not available in this build"


def is_root() -> bool:
    return os.geteuid() == 0


def _evaluate() -> Callable[..., Any] | None:
    try:
        from dockwire.verdict.verdict import evaluate
    except ImportError:
        return None
    return evaluate


def engine_available() -> bool:
    return _evaluate() is not None


def _prober() -> Callable[..., Any] | None:
    try:
        from dockwire.probe.runner import run_probe
    except ImportError:
        return None
    return run_probe


def probe_disabled_reason(live: bool, root: bool) -> str:
    """Why active probes cannot run here, or "" when they can (demo mode falls back to the static verdict)."""
    if live and not root:
        return "not root (probes need CAP_NET_RAW and CAP_SYS_ADMIN)"
    return ""


def spot(ref: Any) -> RuleSpot:
    """The engine's RuleRef as a RuleSpot."""
    return RuleSpot(
        source=ref.source,
        family=ref.family,
        table=ref.table,
        chain=ref.chain,
        position=ref.position,
        text=ref.text,
        effect=ref.effect,
        owner=ref.owner,
        direction=ref.direction,
        unknown=ref.unknown,
    )


def _hop(hop: Any) -> str:
    return f"{hop.direction:<8} {hop.kind:<7} {hop.text}"


def outcome_from_verdict(request: ProbeRequest, verdict: Any, banner: str = "") -> Outcome:
    """Translate the engine's Verdict into what the panes show."""
    status: Status = (
        verdict.verdict if verdict.verdict in ("allowed", "blocked", "uncertain") else "uncertain"
    )
    return Outcome(
        request=request,
        mode="static",
        status=status,
        summary=verdict.reason,
        path=tuple(_hop(h) for h in verdict.path),
        rules=tuple(spot(r) for r in verdict.matched),
        culprit=spot(verdict.culprit) if verdict.culprit is not None else None,
        missing=verdict.missing,
        fix=tuple(verdict.fix),
        fix_note=verdict.fix_note,
        unknown=tuple(spot(r) for r in verdict.unknown),
        notes=tuple(verdict.notes),
        banner=banner,
    )


def why(model: HostModel, request: ProbeRequest, banner: str = "") -> Outcome:
    """The static verdict for a request (blocking; run it in a thread). `banner` says why it stands in
    for a probe, when it does."""
    evaluate = _evaluate()
    if evaluate is None:
        return Outcome(request, "static", "error", NO_ENGINE, banner=banner)
    try:
        verdict = evaluate(model, request.src, request.dst, proto=request.proto, port=request.port)
    except DockwireError as exc:
        return Outcome(request, "static", "error", str(exc), banner=banner)
    return outcome_from_verdict(request, verdict, banner)


async def probe(model: HostModel, client: Any, request: ProbeRequest) -> Outcome:
    """Send real packets (with the kernel's trace of the rules); the static verdict fills in the path and the
    fix. Without a prober in this build, the static verdict alone, saying so."""
    run_probe = _prober()
    static_request = ProbeRequest(
        request.src, request.dst, "icmp" if request.trace else request.proto, request.port
    )
    if run_probe is None:
        return await asyncio.to_thread(why, model, static_request, f"{NO_PROBER}: this is the static verdict")
    proto = "trace" if request.trace else request.proto
    port = request.port if proto != "trace" or request.proto == "tcp" else None
    try:
        result = await run_probe(model, client, request.src, request.dst, proto, port, trace=True)
    except DockwireError as exc:
        return Outcome(request, "active", "error", str(exc))
    except Exception as exc:  # a broken probe is a result to show, never a crash of the dashboard
        return Outcome(request, "active", "error", f"the probe failed: {type(exc).__name__}: {exc}")
    static = await asyncio.to_thread(why, model, static_request)
    return outcome_from_probe(request, result, static)


def _probe_spot(ref: Any) -> RuleSpot:
    """The prober's RuleRef (no source: the firewall pane matches any) as a RuleSpot."""
    policy = ref.kind == "policy"
    return RuleSpot(
        source="",
        family=ref.family,
        table=ref.table,
        chain=ref.chain,
        position=None if policy else ref.position,
        text=ref.text,
        effect="DROP" if policy else "",
        direction="",
    )


def outcome_from_probe(request: ProbeRequest, result: Any, static: Outcome) -> Outcome:
    """What the packets showed, with the static verdict's path and fix beside it."""
    status: Status = {True: "allowed", False: "blocked"}.get(result.delivered, "uncertain")
    dropped = result.evidence.dropped_by
    culprit = (
        _probe_spot(dropped) if dropped is not None else (static.culprit if status == "blocked" else None)
    )
    same = static.culprit
    if (
        culprit is not None
        and same is not None
        and (same.family, same.table, same.chain, same.position)
        == (culprit.family, culprit.table, culprit.chain, culprit.position)
    ):
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
    return Outcome(
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
    )


# --- the matrix ---------------------------------------------------------------------------------------


def matrix_members(model: HostModel) -> list[Container]:
    """The containers the matrix shows: running ones, in name order."""
    return sorted((c for c in model.containers if c.state == "running"), key=lambda c: c.name)


def matrix_cells(model: HostModel, members: list[Container]) -> Iterator[dict[tuple[str, str], MatrixCell]]:
    """One batch of cells per source row (blocking; run it in a thread and hand each batch to the grid)."""
    for src in members:
        row: dict[tuple[str, str], MatrixCell] = {}
        for dst in members:
            if src.id == dst.id:
                continue
            icmp = why(model, ProbeRequest(src.name, dst.name)).status
            ports = tuple(
                (
                    f"{p.container_port}/{p.proto}",
                    why(model, ProbeRequest(src.name, dst.name, p.proto, p.container_port)).status,
                )
                for p in dst.ports
                if p.host_port is not None and p.proto in ("tcp", "udp")
            )
            row[(src.id, dst.id)] = MatrixCell(icmp=icmp, ports=ports)
        yield row


def cell_request(model: HostModel, src_id: str, dst_id: str, cell: MatrixCell | None) -> ProbeRequest | None:
    """What selecting a matrix cell explains: its first blocked published port, else ICMP."""
    src, dst = model.container(src_id), model.container(dst_id)
    if src is None or dst is None:
        return None
    if cell is not None and cell.icmp != "blocked":
        for port_text, status in cell.ports:
            if status != "allowed":
                port, proto = port_text.split("/")
                return ProbeRequest(src.name, dst.name, proto, int(port))
    return ProbeRequest(src.name, dst.name)
