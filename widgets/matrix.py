"""The reachability matrix: one row per source container, one column per destination.

Each cell shows two marks: ICMP, then the destination's published ports (all of them reachable, none, some).
Cells are updated in place; the grid is rebuilt only when the set of containers changes.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.message import Message
from textual.widgets import DataTable
from textual.widgets.data_table import CellDoesNotExist

from dockwire.answer import Status
from dockwire.model import Container
from dockwire.widgets.formatting import NAME_CELLS, cell

MARKS: dict[str | None, tuple[str, str]] = {
    "allowed": ("✔", "bold green"),
    "blocked": ("✘", "bold red"),
    "uncertain": ("?", "bold yellow"),
    "error": ("!", "bold red"),
    None: ("·", "dim"),
}


@dataclass(frozen=True, slots=True)
class MatrixCell:
    """Reachability of `dst` from `src`: ICMP, and each published port as (port text, status)."""

    icmp: Status | None = None
    ports: tuple[tuple[str, Status], ...] = ()
    pending: bool = False

    @property
    def ports_status(self) -> Status | None:
        if not self.ports:
            return None
        states = {s for _, s in self.ports}
        if states == {"allowed"}:
            return "allowed"
        if "allowed" in states:
            return "uncertain"
        return "blocked" if states == {"blocked"} else "uncertain"


def cell_text(cell: MatrixCell | None, self_pair: bool = False) -> Text:
    if self_pair:
        return Text(" ══ ", style="dim")
    if cell is None or cell.pending:
        return Text(" …  ", style="dim")
    icmp, icmp_style = MARKS[cell.icmp]
    ports, ports_style = MARKS[cell.ports_status] if cell.ports else ("-", "dim")
    return Text.assemble(" ", (icmp, icmp_style), " ", (ports, ports_style))


class MatrixGrid(DataTable[Text]):
    """A grid of reachability marks; highlighting a cell announces the (source, destination) pair."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        Binding("h", "cursor_left", "Left", show=False),
        Binding("l", "cursor_right", "Right", show=False),
    ]

    class PairHighlighted(Message):
        def __init__(self, src: str, dst: str) -> None:
            self.src = src
            self.dst = dst
            super().__init__()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes, cursor_type="cell", zebra_stripes=True)
        self.order: list[str] = []
        self.names: dict[str, str] = {}
        self.cells: dict[tuple[str, str], MatrixCell] = {}

    def set_containers(self, containers: list[Container]) -> bool:
        """Lay the grid out for these containers (by id); True when it had to be rebuilt."""
        order = [c.id for c in containers]
        names = {c.id: c.name for c in containers}
        if order == self.order and names == self.names:
            return False
        pair = self.highlighted_pair
        self.order, self.names = order, names
        self.cells = {k: v for k, v in self.cells.items() if k[0] in names and k[1] in names}
        with self.app.batch_update():
            self.clear(columns=True)
            self.add_column(Text("source \\ destination", style="bold"), key="__src__")
            for i, cid in enumerate(order, 1):
                self.add_column(Text(f"{i:>3}", style="bold"), key=cid, width=4)
            for i, src in enumerate(order, 1):
                cells = [cell_text(self.cells.get((src, dst)), src == dst) for dst in order]
                self.add_row(Text.assemble(f"{i:>2} ", cell(names[src], limit=NAME_CELLS)), *cells, key=src)
        if pair is not None and pair[0] in names and pair[1] in names:
            self.move_cursor(row=order.index(pair[0]), column=order.index(pair[1]) + 1, animate=False)
        elif order and self.cursor_column == 0:
            self.move_cursor(column=min(2, len(order)), animate=False)
        return True

    def update_cells(self, cells: Mapping[tuple[str, str], MatrixCell]) -> None:
        """Write new results into the grid, touching only the cells that changed."""
        with self.app.batch_update():
            for (src, dst), cell in cells.items():
                if self.cells.get((src, dst)) == cell or src not in self.names or dst not in self.names:
                    continue
                self.cells[(src, dst)] = cell
                self.update_cell(src, dst, cell_text(cell, src == dst))

    @property
    def highlighted_pair(self) -> tuple[str, str] | None:
        if not self.order:
            return None
        try:
            key = self.coordinate_to_cell_key(self.cursor_coordinate)
        except CellDoesNotExist:
            return None
        src, dst = key.row_key.value, key.column_key.value
        if src is None or dst is None or dst == "__src__":
            return None
        return src, dst

    def on_data_table_cell_highlighted(self, event: DataTable.CellHighlighted) -> None:
        event.stop()
        pair = self.highlighted_pair
        if pair is not None:
            self.post_message(self.PairHighlighted(*pair))
