"""The reachability matrix: one row per source container, one column per destination.

Each cell shows two marks: ICMP, then the destination's published ports (all of them reachable, none, some).
A Line-API view: only the cells in view are drawn (200 containers are 40,000 cells; a `DataTable` drew every
column of each line in view, again after each update, and starved the worker computing them). The source
column and the header row stay in place while the grid scrolls. A cell's text is one shared `Text` per kind
of mark (a dozen kinds), and equal cells are kept once (not the worker's 40,000 copies). The grid counts the
rows done (`progress`), so the screen can say how far the computation is and compute the rows in view first
(`rows_in_view_first`).
"""

from __future__ import annotations

from collections.abc import Collection, Iterator, Mapping, MutableMapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any, ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.coordinate import Coordinate
from textual.geometry import Region, Size
from textual.message import Message
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dockwire.answer import Status
from dockwire.model import Container
from dockwire.widgets.formatting import NAME_CELLS, cell

#: Cells a destination column takes: a space, the two marks (4 cells), a space.
COLUMN_CELLS = 6
#: The source column's key (`get_cell(source, SOURCE_COLUMN)` is a row's label).
SOURCE_COLUMN = "__src__"

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
    """The cell's marks (a shared `Text`: never change it in place)."""
    if self_pair:
        return _marks("self", None, False)
    if cell is None or cell.pending:
        return _marks("pending", None, False)
    return _marks(cell.icmp, cell.ports_status, bool(cell.ports))


@lru_cache(maxsize=64)
def _marks(icmp: str | None, ports_status: str | None, has_ports: bool) -> Text:
    if icmp == "self":
        return Text(" ══ ", style="dim")
    if icmp == "pending":
        return Text(" …  ", style="dim")
    mark, mark_style = MARKS[icmp]
    ports, ports_style = MARKS[ports_status] if has_ports else ("-", "dim")
    return Text.assemble(" ", (mark, mark_style), " ", (ports, ports_style))


class CellTable(MutableMapping[tuple[str, str], MatrixCell]):
    """The grid's cells by (source, destination), kept row by row: a dict of destinations per source, so
    40,000 cells make 200 dicts and no key tuple of their own (tens of thousands of small objects, allocated
    while the grid fills and freed when it goes, would leave the allocator's pools in pieces)."""

    def __init__(self) -> None:
        self.rows: dict[str, dict[str, MatrixCell]] = {}

    def __getitem__(self, key: tuple[str, str]) -> MatrixCell:
        return self.rows[key[0]][key[1]]

    def get(self, key: tuple[str, str], default: Any = None) -> Any:
        row = self.rows.get(key[0])
        return default if row is None else row.get(key[1], default)

    def __setitem__(self, key: tuple[str, str], value: MatrixCell) -> None:
        self.rows.setdefault(key[0], {})[key[1]] = value

    def __delitem__(self, key: tuple[str, str]) -> None:
        del self.rows[key[0]][key[1]]

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return ((src, dst) for src, row in self.rows.items() for dst in row)

    def __len__(self) -> int:
        return sum(len(row) for row in self.rows.values())

    def keep(self, names: Collection[str]) -> None:
        """Only the cells between these containers."""
        self.rows = {
            src: {dst: cell for dst, cell in row.items() if dst in names}
            for src, row in self.rows.items()
            if src in names
        }


class MatrixGrid(ScrollView, can_focus=True):
    """A grid of reachability marks; highlighting a cell announces the (source, destination) pair.

    The cursor is (row, column) as in a table whose column 0 is the source: destination `d` is column
    `order.index(d) + 1`."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("left,h", "cursor_left", "Left", show=False),
        Binding("right,l", "cursor_right", "Right", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "select", "Why", show=False),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "matrix--header",
        "matrix--label",
        "matrix--even-row",
        "matrix--cursor",
    }

    DEFAULT_CSS = """
    MatrixGrid {
        background: $surface;
        color: $foreground;
        & > .matrix--header { text-style: bold; background: $panel; color: $foreground; }
        & > .matrix--label { background: $surface; }
        & > .matrix--even-row { background: $surface-lighten-1 50%; }
        & > .matrix--cursor {
            background: $block-cursor-blurred-background;
            color: $block-cursor-blurred-foreground;
        }
        &:focus > .matrix--cursor {
            background: $block-cursor-background;
            color: $block-cursor-foreground;
            text-style: $block-cursor-text-style;
        }
    }
    """

    class PairHighlighted(Message):
        def __init__(self, src: str, dst: str) -> None:
            self.src = src
            self.dst = dst
            super().__init__()

    class CellSelected(Message):
        """Enter (or a click) on the highlighted cell."""

        def __init__(self, src: str, dst: str) -> None:
            self.src = src
            self.dst = dst
            super().__init__()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.order: list[str] = []
        self.names: dict[str, str] = {}
        #: Each id of `order`, by itself: the one string object the cells are kept under.
        self._ids: dict[str, str] = {}
        self.cells = CellTable()
        #: One instance of each distinct cell (a few hundred for 40,000 cells), which `cells` points to.
        self._kinds: dict[MatrixCell, MatrixCell] = {}
        #: The source rows whose every cell is computed.
        self.rows_done: set[str] = set()
        self._labels: list[Text] = []
        self._label_cells = 0
        #: Drawn segments: of each kind of cell (marks, even row, cursor), and of each row's label.
        self._cell_cache: dict[tuple[int, bool, bool], list[Segment]] = {}
        self._label_cache: dict[int, Strip] = {}
        self.cursor_row = 0
        self.cursor_column = 0

    # --- data ---------------------------------------------------------------------------------------

    @property
    def progress(self) -> tuple[int, int]:
        """(cells computed, cells in the grid), the diagonal left out."""
        n = len(self.order)
        return len(self.rows_done) * max(n - 1, 0), n * max(n - 1, 0)

    @property
    def done(self) -> bool:
        return len(self.rows_done) == len(self.order)

    @property
    def header_height(self) -> int:
        return 1

    def rows_in_view(self) -> list[str]:
        """The source rows on screen (the first screenful's when the grid is not laid out yet)."""
        height = self.scrollable_content_region.height - self.header_height
        top = round(self.scroll_y)
        return self.order[top : top + (height if height > 0 else 50)]

    @property
    def visible_done(self) -> bool:
        """Whether every row on screen is computed."""
        return all(src in self.rows_done for src in self.rows_in_view())

    def rows_in_view_first(self) -> list[str]:
        """Every source row not computed yet, the ones on screen first, then the rest in order."""
        seen = dict.fromkeys([*self.rows_in_view(), *self.order])
        return [src for src in seen if src not in self.rows_done and src in self.names]

    def forget(self) -> None:
        """Drop every row, column and result (the memory goes with them)."""
        self.order, self.names, self.cells, self.rows_done, self._labels = [], {}, CellTable(), set(), []
        self._ids = {}
        self._kinds = {}
        self.cursor_row = self.cursor_column = 0
        self._resize()

    def set_containers(self, containers: list[Container]) -> bool:
        """Lay the grid out for these containers (by id); True when it had to be rebuilt."""
        order = [c.id for c in containers]
        names = {c.id: c.name for c in containers}
        if order == self.order and names == self.names:
            return False
        pair = self.highlighted_pair
        self.order, self.names = order, names
        self._ids = {i: i for i in order}
        self.cells.keep(names)
        self.rows_done = set()
        self._labels = [
            Text.assemble(f"{i:>2} ", cell(names[src], limit=NAME_CELLS)) for i, src in enumerate(order, 1)
        ]
        self._resize()
        if pair is not None and pair[0] in names and pair[1] in names:
            self.move_cursor(row=order.index(pair[0]), column=order.index(pair[1]) + 1)
        elif order and self.cursor_column == 0:
            self.move_cursor(row=0, column=min(2, len(order)))
        else:
            self.move_cursor(row=self.cursor_row, column=self.cursor_column)
        return True

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._cell_cache.clear()
        self._label_cache.clear()

    def _resize(self) -> None:
        self._label_cache.clear()
        title = cell_len(self.HEADER_TITLE)
        self._label_cells = max([title, *(label.cell_len for label in self._labels)]) + 2
        self.virtual_size = Size(self._label_cells + COLUMN_CELLS * len(self.order), len(self.order) + 1)
        self.refresh()

    def update_cells(self, cells: Mapping[tuple[str, str], MatrixCell], rows: set[str] | None = None) -> None:
        """Write new results into the grid (redrawn only if a changed cell is in view); `rows` are the
        source rows these results complete."""
        changed = False
        ids, table = self._ids, self.cells
        for (src, dst), value in cells.items():
            # Keyed by the grid's own id strings: the results' copies (one per cell) go with the results.
            src, dst = ids.get(src, ""), ids.get(dst, "")
            if src and dst and table.get((src, dst)) != value:
                table[src, dst] = self._kinds.setdefault(value, value)
                changed = True
        self.rows_done |= (rows or set()) & self.names.keys()
        if changed:
            self.refresh()

    def get_cell(self, row_key: str, column_key: str) -> Text:
        """What a cell shows: a source's label (column `SOURCE_COLUMN`) or a pair's marks."""
        if column_key == SOURCE_COLUMN:
            return self._labels[self.order.index(row_key)]
        return cell_text(self.cells.get((row_key, column_key)), row_key == column_key)

    # --- cursor ---------------------------------------------------------------------------------------

    @property
    def cursor_coordinate(self) -> Coordinate:
        return Coordinate(self.cursor_row, self.cursor_column)

    @property
    def highlighted_pair(self) -> tuple[str, str] | None:
        n = len(self.order)
        if not n or not 0 <= self.cursor_row < n or not 1 <= self.cursor_column <= n:
            return None
        return self.order[self.cursor_row], self.order[self.cursor_column - 1]

    def move_cursor(
        self, *, row: int | None = None, column: int | None = None, animate: bool = False
    ) -> None:
        """Put the cursor on (row, column), kept in the grid, and bring it into view."""
        n = len(self.order)
        before, old_row = self.highlighted_pair, self.cursor_row
        if row is not None:
            self.cursor_row = max(0, min(row, n - 1))
        if column is not None:
            self.cursor_column = max(1, min(column, n)) if n else 0
        if self._scroll_cursor_into_view():
            self.refresh()
        else:
            # Only the lines of the old and the new cursor change.
            top, width = round(self.scroll_y), self.size.width
            for line in {old_row, self.cursor_row}:
                self.refresh(Region(0, line - top + self.header_height, width, 1))
        pair = self.highlighted_pair
        if pair is not None and pair != before:
            self.post_message(self.PairHighlighted(*pair))

    def _scroll_cursor_into_view(self) -> bool:
        """Scroll so the cursor's cell is in view; True if it scrolled."""
        width, height = self.scrollable_content_region.size
        rows, cells = max(1, height - self.header_height), max(COLUMN_CELLS, width - self._label_cells)
        x, y = self.scroll_x, self.scroll_y
        if self.cursor_row < y:
            y = self.cursor_row
        elif self.cursor_row >= y + rows:
            y = self.cursor_row - rows + 1
        left = (self.cursor_column - 1) * COLUMN_CELLS
        if left < x:
            x = left
        elif left + COLUMN_CELLS > x + cells:
            x = left + COLUMN_CELLS - cells
        if (x, y) == (self.scroll_x, self.scroll_y):
            return False
        self.scroll_to(x=max(0, x), y=max(0, y), animate=False, immediate=True)
        return True

    def _page(self) -> int:
        return max(1, self.scrollable_content_region.height - self.header_height - 1)

    def action_cursor_up(self) -> None:
        self.move_cursor(row=self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_cursor(row=self.cursor_row + 1)

    def action_cursor_left(self) -> None:
        self.move_cursor(column=self.cursor_column - 1)

    def action_cursor_right(self) -> None:
        self.move_cursor(column=self.cursor_column + 1)

    def action_page_up(self) -> None:
        self.move_cursor(row=self.cursor_row - self._page())

    def action_page_down(self) -> None:
        self.move_cursor(row=self.cursor_row + self._page())

    def action_first(self) -> None:
        self.move_cursor(row=0)

    def action_last(self) -> None:
        self.move_cursor(row=len(self.order) - 1)

    def action_select(self) -> None:
        pair = self.highlighted_pair
        if pair is not None:
            self.post_message(self.CellSelected(*pair))

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y < self.header_height or offset.x < self._label_cells:
            return
        row = round(self.scroll_y) + offset.y - self.header_height
        column = (round(self.scroll_x) + offset.x - self._label_cells) // COLUMN_CELLS + 1
        if not (0 <= row < len(self.order) and 1 <= column <= len(self.order)):
            return
        if (row, column) == (self.cursor_row, self.cursor_column):
            self.action_select()
        else:
            self.move_cursor(row=row, column=column)

    # --- rendering ------------------------------------------------------------------------------------

    HEADER_TITLE = "source \\ destination"

    def render_line(self, y: int) -> Strip:
        width = self.scrollable_content_region.width
        base = self.rich_style
        if y == 0:
            style = base + self.get_component_rich_style("matrix--header")
            left = Strip([Segment(f" {self.HEADER_TITLE}".ljust(self._label_cells), style)])
            left = left.crop_extend(0, self._label_cells, style)
            cells = self._header_cells(style)
        else:
            row = round(self.scroll_y) + y - 1
            if row >= len(self.order):
                return Strip.blank(width, base)
            style = base + self.get_component_rich_style("matrix--even-row") if row % 2 else base
            left = self._label_strip(row, style)
            cells = self._row_cells(row, style)
        body = Strip(cells).crop_extend(0, max(0, width - self._label_cells), style)
        return Strip.join([left, body]).crop_extend(0, width, base)

    def _label_strip(self, row: int, style: Style) -> Strip:
        strip = self._label_cache.get(row)
        if strip is None:
            label = self._labels[row]
            segments = [Segment(" "), *label.render(self.app.console), Segment(" " * self._label_cells)]
            strip = Strip(Segment.apply_style(segments, style)).crop(0, self._label_cells)
            self._label_cache[row] = strip
        return strip

    def _columns_in_view(self) -> range:
        cells = max(0, self.scrollable_content_region.width - self._label_cells)
        first = round(self.scroll_x) // COLUMN_CELLS
        return range(first, min(len(self.order), first + cells // COLUMN_CELLS + 2))

    def _skip(self) -> int:
        """Cells of the first column in view that are scrolled off to the left."""
        return round(self.scroll_x) % COLUMN_CELLS

    def _header_cells(self, style: Style) -> list[Segment]:
        # Each number over its column's ICMP mark.
        text = "".join(f" {i + 1:>2}   " for i in self._columns_in_view())
        return [Segment(text[self._skip() :], style)]

    def _row_cells(self, row: int, style: Style) -> list[Segment]:
        src = self.order[row]
        segments: list[Segment] = []
        even = bool(row % 2)
        cursor_column = self.cursor_column - 1 if row == self.cursor_row else -1
        row_cells = self.cells.rows.get(src, {})
        for column in self._columns_in_view():
            dst = self.order[column]
            shown = cell_text(row_cells.get(dst), src == dst)
            # The marks' Texts are shared and kept (`_marks`), so their id names the kind of cell.
            key = (id(shown), even, column == cursor_column)
            parts = self._cell_cache.get(key)
            if parts is None:
                parts = [Segment(" "), *shown.render(self.app.console), Segment(" ")]
                parts = list(Segment.apply_style(parts, style))
                if column == cursor_column:
                    cursor = self.get_component_rich_style("matrix--cursor", partial=True)
                    parts = list(Segment.apply_style(parts, post_style=cursor))
                self._cell_cache[key] = parts
            segments.extend(parts)
        skip = self._skip()
        return list(Strip(segments).crop(skip, skip + 10**6)) if skip else segments
