"""The TUI's only coupling to the verdict engine and the active prober: requests in, Outcomes out.

Both engines are optional at run time: when one is missing from this build, the caller gets an Outcome
that says so instead of an exception, so the UI has one code path.
"""

from __future__ import annotations

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
        from dockwire.probe import run_probe  # type: ignore[import-not-found,unused-ignore]
    except ImportError:
        return None
    return run_probe  # type: ignore[no-any-return,unused-ignore]


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
    """Send real packets; falls back to the static verdict (saying so) when no prober is built in."""
    run_probe = _prober()
    if run_probe is None:
        import asyncio

        return await asyncio.to_thread(why, model, request, f"{NO_PROBER}: this is the static verdict")
    result = await run_probe(
        model, client, request.src, request.dst, request.proto, request.port, trace=request.trace
    )
    return outcome_from_probe(request, result)


def outcome_from_probe(request: ProbeRequest, result: Any) -> Outcome:
    """Translate the prober's result (adapt when dockwire.probe lands)."""
    ok = bool(getattr(result, "reachable", getattr(result, "ok", False)))
    rtt = getattr(result, "rtt_ms", None)
    summary = f"reached, rtt {rtt:.2f} ms" if ok and rtt is not None else ("reached" if ok else "no answer")
    verdict = getattr(result, "verdict", None)
    base = outcome_from_verdict(request, verdict) if verdict is not None else None
    return Outcome(
        request=request,
        mode="active",
        status="allowed" if ok else "blocked",
        summary=summary,
        path=base.path if base else (),
        rules=base.rules if base else (),
        culprit=base.culprit if base and not ok else None,
        fix=base.fix if base and not ok else (),
        fix_note=base.fix_note if base and not ok else "",
        rtt_ms=rtt,
        trace=tuple(str(h) for h in getattr(result, "hops", ()) or ()),
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
