"""The containers table: one row per container, updated cell by cell so the cursor never jumps."""

from __future__ import annotations

from collections.abc import Hashable
from dataclasses import dataclass
from typing import Any, ClassVar, cast

from rich.padding import Padding
from rich.segment import Segment
from rich.style import Style
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.geometry import Region
from textual.message import Message
from textual.strip import Strip
from textual.widget import PseudoClasses
from textual.widgets import DataTable
from textual.widgets.data_table import RowDoesNotExist

from dockwire.model import Container, HostModel
from dockwire.widgets.formatting import NAME_CELLS, cell, clip, container_ips, port_text, published_ports
from dockwire.widgets.line_views import SteadyView, StyleKeptCaches, look_of
from dockwire.widgets.quick_focus import QuickFocus

#: Most useful first: at 80 columns the name and address are what a probe needs.
COLUMNS: tuple[tuple[str, str], ...] = (
    ("mark", " "),
    ("name", "name"),
    ("ips", "IPs"),
    ("state", "state"),
    ("networks", "networks"),
    ("ports", "published"),
    ("dns", "DNS"),
)

#: A drawn cell: its lines of segments.
CellLines = list[list[Segment]]

#: The component styles DataTable's CSS gives the focus: they show in the cursor's row and in the header only.
FOCUS_COMPONENTS = frozenset({"datatable--cursor", "datatable--fixed-cursor", "datatable--header"})

STATE_STYLES = {
    "running": "green",
    "exited": "red",
    "dead": "red",
    "paused": "yellow",
    "restarting": "yellow",
}


@dataclass(frozen=True, slots=True)
class Marks:
    """The probe's endpoints, by container id."""

    source: str | None = None
    destination: str | None = None

    def badge(self, container_id: str) -> Text:
        if container_id == self.source:
            return Text("A", style="bold reverse green")
        if container_id == self.destination:
            return Text("B", style="bold reverse magenta")
        return Text(" ")


def network_column(model: HostModel, container: Container, limit: int | None = None) -> str:
    """The networks a container is on; with a `limit`, as shown (each name escaped and clipped)."""

    def name(value: str) -> str:
        return clip(value, limit) if limit is not None else value

    if container.netns_owner:
        owner = model.container(container.netns_owner)
        return f"container:{name(owner.name) if owner else name(container.netns_owner[:12])}"
    if container.endpoints:
        return ",".join(name(ep.network) for ep in container.endpoints)
    return name(container.network_mode or "-")


def dns_column(container: Container) -> str:
    if container.dns is None:
        return "?"
    return ",".join(container.dns.nameservers) or "-"


def container_cells(model: HostModel, container: Container, marks: Marks) -> tuple[Text, ...]:
    """The row's cells, all plain `Text` (never markup); names longer than NAME_CELLS end in `…`."""
    state = cell(
        "up" if container.state == "running" else container.state or "?",
        style=STATE_STYLES.get(container.state, ""),
        limit=NAME_CELLS,
    )
    return (
        marks.badge(container.id),
        cell(container.name, style="bold" if container.state == "running" else "dim", limit=NAME_CELLS),
        cell(" ".join(container_ips(container)) or "-"),
        state,
        cell(network_column(model, container, limit=NAME_CELLS)),
        cell(" ".join(published_ports(container))),
        cell(dns_column(container), limit=NAME_CELLS * 2),
    )


def matches(model: HostModel, container: Container, needle: str) -> bool:
    haystack = " ".join(
        [
            container.name,
            container.id[:12],
            container.image,
            container.state,
            network_column(model, container),
            *container_ips(container),
            *(port_text(p) for p in container.ports),
        ]
    ).lower()
    return all(word in haystack for word in needle.lower().split())


class ContainersTable(QuickFocus, SteadyView, DataTable[Text]):
    """Name, state, networks, IPs, published ports and DNS server of every container.

    DataTable keys each drawn line by where the cursor is, so a cursor move (or a scroll by one row) drew
    every row in view again; with a row cursor a line depends only on whether its row is the cursor's (or
    the mouse's), and that is this table's key (`_render_line`): a move draws the two rows it changed.
    The focus shows in the cursor's row and the header alone (`_drawn_state`), so a pane switch draws those
    two rows again; the render caches are kept per look otherwise (`StyleKeptCaches`: a theme, a hover).
    A cell's text is laid out once, whatever the look (`_laid_out`): a row drawn in a new look (the first
    focus change, a cursor or hover) only lays that look's styles over it, in half the time."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        # Home/End go to the first/last row, as in every list (DataTable's own scroll sideways).
        Binding("home,g", "scroll_top", "First", show=False),
        Binding("end,G", "scroll_bottom", "Last", show=False),
        Binding("enter", "open", "Open", tooltip="Open the container's screen: networks, ports, DNS, rules"),
    ]

    class ContainerHighlighted(Message):
        def __init__(self, container_id: str | None) -> None:
            self.container_id = container_id
            super().__init__()

    class ContainerOpened(Message):
        """Enter on a row: show that container's own screen."""

        def __init__(self, container_id: str) -> None:
            self.container_id = container_id
            super().__init__()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        #: Set first: DataTable's constructor empties its caches.
        self._looks: StyleKeptCaches[tuple[LRUCache[Any, Any], ...]] = StyleKeptCaches(
            lambda: (LRUCache(10000), LRUCache(1000), LRUCache(1000))
        )
        #: Each cell's text laid out at its width, without the look's styles (`_laid_out`).
        self._cell_layouts: LRUCache[Hashable, CellLines] = LRUCache(10000)
        super().__init__(id=id, classes=classes, cursor_type="row", zebra_stripes=False)
        self.model = HostModel()
        self.marks = Marks()
        self.filter_text = ""
        self._cells: dict[str, tuple[Text, ...]] = {}

    def on_mount(self) -> None:
        for key, label in COLUMNS:
            self.add_column(label, key=key)

    @property
    def highlighted_id(self) -> str | None:
        if not self.row_count:
            return None
        try:
            return self.coordinate_to_cell_key(self.cursor_coordinate).row_key.value
        except RowDoesNotExist:
            return None

    def show(self, model: HostModel, marks: Marks | None = None) -> None:
        """Bring the rows up to date: changed cells updated, new rows added, gone rows removed."""
        self.model = model
        if marks is not None:
            self.marks = marks
        wanted = sorted(
            (c for c in model.containers if not self.filter_text or matches(model, c, self.filter_text)),
            key=lambda c: (c.state != "running", c.name),
        )
        wanted_ids = [c.id for c in wanted]
        cursor_id = self.highlighted_id
        with self.app.batch_update():
            for stale in [cid for cid in self._cells if cid not in set(wanted_ids)]:
                self.remove_row(stale)
                del self._cells[stale]
            added = False
            for container in wanted:
                cells = container_cells(model, container, self.marks)
                old = self._cells.get(container.id)
                if old is None:
                    self.add_row(*cells, key=container.id)
                    added = True
                elif old != cells:
                    for (column, _), before, after in zip(COLUMNS, old, cells, strict=True):
                        if before != after:
                            self.update_cell(container.id, column, after, update_width=True)
                self._cells[container.id] = cells
            if added and [row.key.value for row in self.ordered_rows] != wanted_ids:
                self.sort("state", "name", key=lambda cells: (str(cells[0]) != "up", str(cells[1])))
            if cursor_id is not None and cursor_id in self._cells:
                index = self.get_row_index(cursor_id)
                if index != self.cursor_row:
                    self.move_cursor(row=index, animate=False, scroll=False)
        if self.highlighted_id != cursor_id:
            # The row under the cursor went away (or a filter hid it): the cursor now names another one.
            self.post_message(self.ContainerHighlighted(self.highlighted_id))

    def action_open(self) -> None:
        if self.highlighted_id is not None:
            self.post_message(self.ContainerOpened(self.highlighted_id))

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self.show(self.model)

    def notify_style_update(self) -> None:
        """The Widget's; DataTable's emptying of the render caches is left to `_before_pass`."""
        super(DataTable, self).notify_style_update()
        self._row_renderable_cache.clear()
        self._styles_cache.clear()

    def _before_pass(self) -> None:
        current = (self._cell_render_cache, self._row_render_cache, self._line_cache)
        look = look_of(self, self.COMPONENT_CLASSES - FOCUS_COMPONENTS, focus=False)
        caches = self._looks.swap(look, current)
        if caches is not None:
            self._cell_render_cache, self._row_render_cache, self._line_cache = caches
            self._get_styles_to_render_cell.cache_clear()

    def watch_has_focus(self, has_focus: bool) -> None:
        super().watch_has_focus(has_focus)
        # The cursor's styles (kept by DataTable without the focus in their key) are the focus's own.
        self._get_styles_to_render_cell.cache_clear()

    def redraw_focus(self) -> None:
        """The focus shows in the header and the cursor's row alone (`_drawn_state`)."""
        if self.show_header:
            self.refresh(Region(0, 0, self.size.width, self.header_height))
        if self.cursor_type == "row":
            self.refresh_row(self.cursor_row)
        else:
            self.refresh()

    def _drawn_state(self, focus_shows: bool) -> PseudoClasses:
        """The pseudo-classes a row's drawing depends on: the focus only shows in the cursor's row and in the
        header (no rule of the table's CSS makes it show elsewhere: the app's has no focus tint), so a focus
        change draws those two rows again, not every row in view."""
        state = self._pseudo_class_state
        return state if focus_shows else state._replace(focus=False)

    def _clear_caches(self) -> None:
        super()._clear_caches()
        self._looks.forget()
        self._cell_layouts.clear()

    def _render_cell(
        self,
        row_index: int,
        column_index: int,
        base_style: Style,
        width: int,
        cursor: bool = False,
        hover: bool = False,
    ) -> CellLines:
        """DataTable's, with the same cache key and result: the cell's layout with the look's styles laid
        over it, as DataTable's `Styled` lays them (the style below the cell's own, the cursor's above)."""
        row_key = self._row_locations.get_key(row_index) if row_index >= 0 else None
        column_key = self._column_locations.get_key(column_index)
        row = self.rows.get(row_key) if row_key is not None else None
        fixed = self.fixed_rows or self.fixed_columns
        if row_key is None or column_key is None or row is None or row.height != 1 or fixed:
            # The header, a label, a row of several lines, fixed rows: DataTable's own way.
            return super()._render_cell(row_index, column_index, base_style, width, cursor, hover)
        key = (
            row_key,
            column_key,
            base_style,
            cursor,
            hover,
            self._show_hover_cursor,
            self._update_count,
            self._drawn_state(cursor),
        )
        lines = self._cell_render_cache.get(key)
        if lines is None:
            component_style, post_style = self._get_styles_to_render_cell(
                False,
                False,
                False,
                hover,
                cursor,
                self.show_cursor,
                self._show_hover_cursor,
                self.cursor_foreground_priority == "css",
                self.cursor_background_priority == "css",
            )
            meta = Style.from_meta({"row": row_index, "column": column_index})
            pre_style = base_style + meta + component_style
            laid_out = self._laid_out(row_index, column_index, width, (row_key, column_key))
            lines = [list(Segment.apply_style(line, pre_style, post_style)) for line in laid_out]
            self._cell_render_cache[key] = lines
        return lines

    def _laid_out(self, row_index: int, column_index: int, width: int, keys: Hashable) -> CellLines:
        """A one-line cell's text padded and cut to its width, with only its own styles (`keys`: the row's
        and the column's)."""
        key = (keys, width, self._update_count)
        laid_out = self._cell_layouts.get(key)
        if laid_out is None:
            cell = self._get_row_renderables(row_index).cells[column_index]
            options = self.app.console_options.update_dimensions(width, 1).update(no_wrap=True)
            laid_out = self._cell_layouts[key] = self.app.console.render_lines(
                Padding(cell, (0, self.cell_padding)), options
            )
        return laid_out

    def render_line(self, y: int) -> Strip:
        """DataTable's, with the base style of the drawing pass (no fixed rows here)."""
        scroll_x, scroll_y = self.scroll_offset
        if y >= (self.header_height if self.show_header else 0):
            y += scroll_y
        return self._render_line(y, scroll_x, scroll_x + self.size.width, self.line_style)

    def _render_line(self, y: int, x1: int, x2: int, base_style: Style) -> Strip:
        if self.cursor_type != "row" or self.fixed_rows or self.fixed_columns:
            return super()._render_line(y, x1, x2, base_style)
        try:
            row_key, _ = self._get_offsets(y)
        except LookupError:
            return super()._render_line(y, x1, x2, base_style)
        row = self._row_locations.get(row_key)
        if row is None:
            row = -1
        is_cursor = row == self.cursor_coordinate.row
        key = (
            "row",
            y,
            x1,
            x2,
            self.size.width,
            is_cursor,
            row == self.hover_coordinate.row,
            base_style,
            self.show_cursor,
            self._show_hover_cursor,
            self._update_count,
            self._drawn_state(is_cursor or row < 0),
        )
        lines = cast("LRUCache[Hashable, Strip]", self._line_cache)  # DataTable's cache, this table's keys
        strip = lines.get(key)
        if strip is None:
            strip = lines[key] = super()._render_line(y, x1, x2, base_style)
        return strip

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        event.stop()
        self.post_message(self.ContainerHighlighted(event.row_key.value))
