"""Every container pair at once: ICMP and each published or exposed port, as a compact grid.

A blocked cell names the chain of its culprit rule (or the missing piece); details are in `--json`.
"""

from __future__ import annotations

import msgspec
from msgspec import Struct, field

from dockwire.errors import DockwireError
from dockwire.model import Container, HostModel
from dockwire.text import safe, shorten
from dockwire.verdict.context import EngineContext, context_for
from dockwire.verdict.endpoints import FlowEnd
from dockwire.verdict.records import ALLOWED, BLOCKED
from dockwire.verdict.verdict import evaluate_in

CELL_WIDTH = 18
#: Names longer than this end in an ellipsis in the text grid (`--json` has them whole).
NAME_WIDTH = 40


class Check(Struct, frozen=True, kw_only=True):
    proto: str
    port: int | None
    verdict: str
    # Chain of the culprit rule ("raw PREROUTING", "filter DOCKER-USER"), or the missing piece.
    culprit: str = ""
    reason: str = ""


class Cell(Struct, frozen=True, kw_only=True):
    src: str
    dst: str
    checks: list[Check] = field(default_factory=list)
    error: str = ""

    @property
    def summary(self) -> str:
        if self.error:
            return "error"
        if all(c.verdict == ALLOWED for c in self.checks):
            return "ok"
        bad = next((c for c in self.checks if c.verdict == BLOCKED), None)
        mark = ""
        if bad is None:
            bad = next(c for c in self.checks if c.verdict != ALLOWED)
            mark = "?"
        what = "" if bad.proto == "icmp" else f"{bad.port}:"
        partial = "~" if any(c.verdict == ALLOWED for c in self.checks) else ""
        return f"{partial}{mark}{what}{bad.culprit or bad.verdict}"


class Matrix(Struct, frozen=True, kw_only=True):
    schema_version: int = 1
    containers: list[str] = field(default_factory=list)
    cells: list[Cell] = field(default_factory=list)


def ports_of(c: Container) -> list[tuple[str, int]]:
    """(proto, container port) of every published or exposed port, sorted and unique."""
    found = {(b.proto, b.container_port) for b in c.ports}
    for text in c.exposed:
        port, _, proto = text.partition("/")
        if port.isdigit():
            found.add((proto or "tcp", int(port)))
    return sorted(found, key=lambda p: (p[1], p[0]))


def _culprit(v: object) -> str:
    from dockwire.verdict.records import Verdict

    assert isinstance(v, Verdict)
    if v.culprit is not None:
        return f"{v.culprit.table} {v.culprit.chain}"
    if v.unknown:
        return f"{v.unknown[0].table} {v.unknown[0].chain}"
    return v.missing


def build_matrix(model: HostModel, include_stopped: bool = False) -> Matrix:
    """Every ordered pair of (running) containers: ICMP, then each published or exposed port of the dst.

    Each check is exactly the `evaluate` verdict of that pair (its verdict, culprit and reason). Shared
    between pairs: one engine context (rules compiled and indexed once, see `dockwire.verdict.ruleindex`;
    routing lookups remembered), the endpoints and port lists; and a check's verdict is assembled without the
    path, rule list and fix it does not show.
    """
    containers = [c for c in model.containers if include_stopped or c.state in ("running", "")]
    ctx = context_for(model)
    endpoints = [FlowEnd("container", c.name, container=c) for c in containers]
    questions = [[("icmp", None), *ports_of(_port_owner(model, c))] for c in containers]
    cells = []
    for src, src_ep in zip(containers, endpoints, strict=True):
        for dst, dst_ep, wanted in zip(containers, endpoints, questions, strict=True):
            if dst.id == src.id:
                continue
            cells.append(_cell(ctx, src_ep, dst_ep, wanted))
    return Matrix(containers=[c.name for c in containers], cells=cells)


def _port_owner(model: HostModel, c: Container) -> Container:
    """The container whose ports a container:X container's checks use (its namespace owner, when known)."""
    owner = model.container(c.netns_owner) if c.netns_owner else c
    return owner or c


def _cell(ctx: EngineContext, src: FlowEnd, dst: FlowEnd, wanted: list[tuple[str, int | None]]) -> Cell:
    assert src.container is not None and dst.container is not None
    checks = []
    try:
        for proto, port in wanted:
            v = evaluate_in(ctx, src, dst, proto, port, detail=False)
            checks.append(
                Check(proto=proto, port=port, verdict=v.verdict, culprit=_culprit(v), reason=v.reason)
            )
    except DockwireError as exc:
        return Cell(src=src.container.name, dst=dst.container.name, checks=checks, error=str(exc))
    return Cell(src=src.container.name, dst=dst.container.name, checks=checks)


def matrix_json(m: Matrix) -> bytes:
    return msgspec.json.format(msgspec.json.encode(m), indent=2) + b"\n"


def render_matrix(m: Matrix) -> str:
    """Rows are sources, columns destinations (numbered; the legend names them).

    Names and chains come from the host: shown escaped (`dockwire.text.safe`), names cut at NAME_WIDTH."""
    names = m.containers
    index = {n: i + 1 for i, n in enumerate(names)}
    shown = {n: shorten(n, NAME_WIDTH) for n in names}
    by_pair = {(c.src, c.dst): c for c in m.cells}
    width = max(CELL_WIDTH, 4)
    row_label = max(len(shown[n]) for n in names) + 5
    header = " " * row_label + "".join(f"{index[n]:<{width}}" for n in names)
    lines = [
        "rows: source, columns: destination; a cell shows `ok`, or the chain (or missing piece) that "
        "blocks, `PORT:` when only that port is blocked, `~` when other checks pass, `?` when uncertain",
        header,
    ]
    for src in names:
        cells = []
        for dst in names:
            if src == dst:
                cells.append("-".ljust(width))
                continue
            text = safe(by_pair[(src, dst)].summary)
            if len(text) > width - 1:
                text = text[: width - 2] + "…"
            cells.append(text.ljust(width))
        lines.append(f"{index[src]:>3}. {shown[src]:<{row_label - 5}}" + "".join(cells).rstrip())
    return "\n".join(lines)
