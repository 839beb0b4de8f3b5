"""The matrix across hosts: every container of every host, named `NAME@HOST`, against every other."""

from __future__ import annotations

from dockwire.fleet import Fleet
from dockwire.verdict.endpoints import FlowEnd
from dockwire.verdict.fleet_ends import HostEnd
from dockwire.verdict.fleet_verdict import evaluate_fleet
from dockwire.verdict.matrix import Cell, Matrix, cell_of, network_groups, port_owner, ports_of
from dockwire.verdict.records import Verdict


def build_fleet_matrix(fleet: Fleet, include_stopped: bool = False) -> Matrix:
    """`build_matrix` over several hosts: each check is the `evaluate_fleet` verdict of that pair."""
    ends: list[tuple[str, HostEnd, list[tuple[str, int | None]]]] = []
    for host, model in fleet:
        for c in model.containers:
            if include_stopped or c.state in ("running", ""):
                wanted: list[tuple[str, int | None]] = [("icmp", None), *ports_of(port_owner(model, c))]
                end = HostEnd(host, FlowEnd("container", c.name, container=c))
                ends.append((f"{c.name}@{host}", end, wanted))
    cells = []
    for src_name, src, _ in ends:
        for dst_name, dst, wanted in ends:
            if dst_name != src_name:
                cells.append(_cell(fleet, src_name, src, dst_name, dst, wanted))
    return Matrix(containers=[name for name, _, _ in ends], cells=cells)


def _cell(
    fleet: Fleet,
    src_name: str,
    src: HostEnd,
    dst_name: str,
    dst: HostEnd,
    wanted: list[tuple[str, int | None]],
) -> Cell:
    def ask(proto: str, port: int | None) -> Verdict:
        return evaluate_fleet(fleet, src, dst, proto, port, detail=False)

    return cell_of(src_name, dst_name, wanted, ask)


def fleet_groups(fleet: Fleet, names: list[str]) -> list[tuple[str, list[str]]]:
    """The containers grouped by host, then by their first network on it."""
    groups: list[tuple[str, list[str]]] = []
    for host, model in fleet:
        mine = [n.rpartition("@")[0] for n in names if n.rpartition("@")[2] == host]
        for net, members in network_groups(model, mine):
            groups.append((f"{host} {net}", [f"{m}@{host}" for m in members]))
    return groups


__all__ = ["build_fleet_matrix", "fleet_groups"]
