"""Every container pair at once: ICMP and each published or exposed port, as a compact grid.

A blocked cell names the chain of its culprit rule (or the missing piece); details are in `--json`.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import msgspec
from msgspec import Struct, field

from dockwire.errors import DockwireError
from dockwire.model import Container, HostModel
from dockwire.text import safe, shorten
from dockwire.verdict.context import EngineContext, context_for
from dockwire.verdict.endpoints import FlowEnd, resolve_endpoint
from dockwire.verdict.records import ALLOWED, BLOCKED, Verdict
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


def culprit_of(v: object) -> str:
    from dockwire.verdict.records import Verdict

    assert isinstance(v, Verdict)
    if v.culprit is not None:
        return f"{v.culprit.table} {v.culprit.chain}"
    if v.unknown:
        return f"{v.unknown[0].table} {v.unknown[0].chain}"
    return v.missing


def build_matrix(
    model: HostModel, include_stopped: bool = False, family: int = 4, workers: int | None = None
) -> Matrix:
    """Every ordered pair of (running) containers: ICMP, then each published or exposed port of the dst.
    `family` 6: the containers with an IPv6 address, over IPv6.

    Each check is exactly the `evaluate` verdict of that pair (its verdict, culprit and reason). Shared
    between pairs: one engine context (rules compiled and indexed once, see `dockwire.verdict.ruleindex`;
    routing lookups remembered), the endpoints and port lists; and a check's verdict is assembled without the
    path, rule list and fix it does not show. A large matrix is split by rows over `workers` processes
    (default: one per core; see `dockwire.verdict.matrix_pool`).
    """
    job = matrix_job(model, include_stopped, family)
    from dockwire.verdict.matrix_pool import rows_in_processes

    cells = rows_in_processes(job, workers)
    if cells is None:
        cells = job.rows(0, len(job.containers))
    return Matrix(containers=[c.name for c in job.containers], cells=cells)


def matrix_job(model: HostModel, include_stopped: bool = False, family: int = 4) -> MatrixJob:
    """The work of `build_matrix`, before any row is computed."""
    containers = [c for c in model.containers if include_stopped or c.state in ("running", "")]
    if family == 6:
        containers = [c for c in containers if has_ipv6(model, c)]
    return MatrixJob(
        ctx=context_for(model),
        containers=containers,
        endpoints=[FlowEnd("container", c.name, container=c) for c in containers],
        questions=[[("icmp", None), *ports_of(port_owner(model, c))] for c in containers],
        family=family,
    )


@dataclass(frozen=True)
class MatrixJob:
    """What every row of one matrix shares: the engine context, the endpoints and each one's questions."""

    ctx: EngineContext
    containers: list[Container]
    endpoints: list[FlowEnd]
    questions: list[list[tuple[str, int | None]]]
    family: int

    def rows(self, start: int, stop: int) -> list[Cell]:
        """The cells of source rows `start` to `stop` (each row: every other container as destination)."""
        cells = []
        for i in range(start, stop):
            src, src_ep = self.containers[i], self.endpoints[i]
            for dst, dst_ep, wanted in zip(self.containers, self.endpoints, self.questions, strict=True):
                if dst.id != src.id:
                    cells.append(_cell(self.ctx, src_ep, dst_ep, wanted, self.family))
        return cells


#: One cell of the dashboard's grid: (destination id, the ICMP verdict, ((`PORT/PROTO`, verdict), ...)) for
#: each published TCP/UDP port; a verdict is "error" where the question cannot be asked.
StatusCell = tuple[str, str, tuple[tuple[str, str], ...]]


class StatusGrid:
    """The dashboard's grid (light verdicts: no path or fix), a source row at a time; the members' endpoints
    are resolved once."""

    def __init__(self, model: HostModel, members: list[Container], family: int = 4) -> None:
        self.ctx = context_for(model)
        self.members = members
        self.family = family
        self.ends: dict[str, FlowEnd] = {}
        for c in members:
            try:
                self.ends[c.id] = resolve_endpoint(model, c.name)
            except DockwireError:
                continue

    def row(self, src_id: str) -> list[StatusCell]:
        """The cells of `src_id`'s row: every other member as destination, in the members' order."""
        src = self.ends.get(src_id)
        cells = []
        for dst in self.members:
            if dst.id == src_id:
                continue
            end = self.ends.get(dst.id)
            ports = tuple(
                (f"{p.container_port}/{p.proto}", self._status(src, end, p.proto, p.container_port))
                for p in dst.ports
                if p.host_port is not None and p.proto in ("tcp", "udp")
            )
            cells.append((dst.id, self._status(src, end, "icmp", None), ports))
        return cells

    def _status(self, src: FlowEnd | None, dst: FlowEnd | None, proto: str, port: int | None) -> str:
        if src is None or dst is None:
            return "error"
        try:
            return evaluate_in(self.ctx, src, dst, proto, port, detail=False, family=self.family).verdict
        except DockwireError:
            return "error"


def has_ipv6(model: HostModel, c: Container) -> bool:
    """Whether `c` has an IPv6 address (a container:X container: whether X has one)."""
    return any(ep.ipv6 for ep in port_owner(model, c).endpoints)


def port_owner(model: HostModel, c: Container) -> Container:
    """The container whose ports a container:X container's checks use (its namespace owner, when known)."""
    owner = model.container(c.netns_owner) if c.netns_owner else c
    return owner or c


def _cell(
    ctx: EngineContext, src: FlowEnd, dst: FlowEnd, wanted: list[tuple[str, int | None]], family: int = 4
) -> Cell:
    assert src.container is not None and dst.container is not None

    def ask(proto: str, port: int | None) -> Verdict:
        return evaluate_in(ctx, src, dst, proto, port, detail=False, family=family)

    return cell_of(src.container.name, dst.container.name, wanted, ask)


def cell_of(
    src: str, dst: str, wanted: list[tuple[str, int | None]], ask: Callable[[str, int | None], Verdict]
) -> Cell:
    """The cell of one pair: `ask`'s verdict for each wanted (proto, port), or the question's error."""
    checks = []
    try:
        for proto, port in wanted:
            v = ask(proto, port)
            checks.append(
                Check(proto=proto, port=port, verdict=v.verdict, culprit=culprit_of(v), reason=v.reason)
            )
    except DockwireError as exc:
        return Cell(src=src, dst=dst, checks=checks, error=str(exc))
    return Cell(src=src, dst=dst, checks=checks)


def matrix_json(m: Matrix) -> bytes:
    return msgspec.json.format(msgspec.json.encode(m), indent=2) + b"\n"


#: A cell's symbol for what stopped a check, and the legend line that explains it.
SYMBOLS: tuple[tuple[str, str], ...] = (
    ("✓", "reaches (ICMP and every published or exposed port)"),
    ("✗u", "a DOCKER-USER rule drops it (someone's own rule)"),
    ("✗r", "raw PREROUTING drop: Docker's protection against direct access from another interface"),
    ("✗i", "isolation between Docker networks (DOCKER-ISOLATION / DOCKER-INTERNAL)"),
    ("✗c", "inter-container communication is off on the network (icc=false)"),
    ("✗d", "Docker's DOCKER chain drops traffic to ports that are not published"),
    ("✗", "another rule or a chain policy drops it (`why` names it)"),
    ("·", "no route, or no network at all (--network none, --internal)"),
    ("?", "uncertain: a rule dockwire cannot evaluate decides it"),
    ("!", "the question could not be asked (see --json)"),
)
_NO_WAY = ("route", "container-route", "network-none", "reply-route", "not-running", "macvlan-host")
_SAME_BRIDGE_DROP = re.compile(r"-i (\S+) -o \1 -j DROP")


def check_symbol(check: Check) -> str:
    """The compact symbol of one check (see SYMBOLS)."""
    if check.verdict == ALLOWED:
        return "✓"
    if check.verdict != BLOCKED:
        return "?"
    table, _, chain = check.culprit.partition(" ")
    if not chain:
        return "·" if check.culprit in _NO_WAY else "✗"
    if chain == "DOCKER-USER":
        return "✗u"
    if table == "raw":
        return "✗r"
    if chain.startswith("DOCKER-ISOLATION") or chain == "DOCKER-INTERNAL":
        return "✗i"
    if chain in ("DOCKER-FORWARD", "FORWARD") and _SAME_BRIDGE_DROP.search(check.reason):
        return "✗c"
    if chain == "DOCKER":
        return "✗d"
    return "✗"


def cell_symbol(cell: Cell) -> str:
    """The cell's worst check; `~` before it when some checks pass (e.g. ICMP does, a port does not)."""
    if cell.error:
        return "!"
    symbols = [check_symbol(c) for c in cell.checks]
    bad = [x for x in symbols if x != "✓"]
    if not bad:
        return "✓"
    worst = next((x for x in bad if x != "?"), bad[0])
    return ("~" if len(bad) < len(symbols) else "") + worst


def only_checks(m: Matrix, proto: str | None, port: int | None) -> Matrix:
    """The matrix with only the checks of that protocol and/or port (a cell with none left is dropped)."""
    if proto is None and port is None:
        return m

    def wanted(c: Check) -> bool:
        return (proto is None or c.proto == proto) and (port is None or c.port == port)

    cells = []
    for cell in m.cells:
        kept = [c for c in cell.checks if wanted(c)]
        if kept or cell.error:
            cells.append(msgspec.structs.replace(cell, checks=kept))
    return msgspec.structs.replace(m, cells=cells)


def network_groups(model: HostModel, names: list[str]) -> list[tuple[str, list[str]]]:
    """The containers grouped by their first network (in the model's order of networks), names sorted."""
    groups: dict[str, list[str]] = {}
    for name in names:
        c = model.container(name)
        if c is not None and c.netns_owner:  # container:X: on X's networks
            c = port_owner(model, c)
        first = c.endpoints[0].network if c is not None and c.endpoints else ""
        groups.setdefault(first or "none", []).append(name)
    return [(net, sorted(members)) for net, members in sorted(groups.items())]


def render_matrix(m: Matrix, grouping: HostModel | list[tuple[str, list[str]]] | None = None) -> str:
    """Rows are sources, columns destinations (numbered; the legend names them), one compact symbol a cell,
    grouped by network when the model is given (or as `grouping` lists). Names come from the host: shown
    escaped, cut at NAME_WIDTH."""
    if isinstance(grouping, HostModel):
        groups = network_groups(grouping, m.containers)
    else:
        groups = grouping if grouping is not None else [("", list(m.containers))]
    names = [n for _, members in groups for n in members]
    index = {n: i + 1 for i, n in enumerate(names)}
    shown = {n: shorten(n, NAME_WIDTH) for n in names}
    by_pair = {(c.src, c.dst): c for c in m.cells}
    width = max(4, len(str(len(names))) + 2)
    row_label = max(len(shown[n]) for n in names) + 6
    header = " " * row_label + "".join(f"{index[n]:<{width}}" for n in names)
    lines = ["rows: source, columns: destination", header]
    for net, members in groups:
        if net:
            lines.append(f"  {safe(net)}:")
        for src in members:
            cells = []
            for dst in names:
                cell = by_pair.get((src, dst))
                mark = "-" if src == dst else cell_symbol(cell) if cell is not None else ""
                cells.append(mark.ljust(width))
            lines.append(f"{index[src]:>3}. {safe(shown[src]):<{row_label - 5}}" + "".join(cells).rstrip())
    lines.append("")
    lines.extend(f"  {symbol:<3} {meaning}" for symbol, meaning in SYMBOLS)
    lines.append("  ~   before a symbol: other checks of the pair pass (e.g. ICMP does, a port does not)")
    return "\n".join(lines)
