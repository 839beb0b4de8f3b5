"""What the terminal is sent (the partial updates that `ShownCompositor` draws from the widgets shown in the
changed regions) adds up to the screen: after each key, the cells written so far equal the screen drawn
whole. Driven through the Pilot on the recorded lab."""

from __future__ import annotations

from typing import Any

from rich.cells import cell_len
from rich.segment import Segment
from textual._compositor import ChopsUpdate, LayoutUpdate

from dockwire.tui.app import DockwireApp
from dockwire.tui.shown_compositor import ShownCompositor
from tests.tui_harness import app_on, press, ready, settle

Cells = list[list[tuple[str, Any]]]


def cells_of(segments: list[Segment]) -> list[tuple[str, Any]]:
    cells: list[tuple[str, Any]] = []
    for segment in segments:
        assert cell_len(segment.text) == len(segment.text), segment  # one cell a character here
        cells.extend((char, segment.style) for char in segment.text)
    return cells


def whole_screen(app: DockwireApp) -> Cells:
    return [cells_of(list(strip)) for strip in app.screen._compositor.render_strips()]


class Terminal:
    """The cells a terminal shows, written by the updates the screen sends."""

    def __init__(self, cells: Cells) -> None:
        self.cells = cells
        self.partial = 0

    def write(self, update: object) -> None:
        if isinstance(update, LayoutUpdate):
            for y, line in enumerate(update.strips, update.region.y):
                row = cells_of([segment for strip in line for segment in strip])
                self.cells[y][update.region.x : update.region.x + len(row)] = row
        elif isinstance(update, ChopsUpdate):
            self.partial += 1
            for y, x1, x2 in update.spans:
                for (x, strip), end in zip(update.chops[y].items(), update.chop_ends[y], strict=True):
                    if strip is None or end <= x1 or x >= x2:
                        continue
                    row = cells_of(list(strip))
                    assert len(row) == end - x, (y, x, end)
                    for column in range(max(x, x1), min(end, x2)):
                        self.cells[y][column] = row[column - x]


async def test_the_partial_updates_sent_add_up_to_the_screen() -> None:
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        await settle(pilot)
        compositor = app.screen._compositor
        assert isinstance(compositor, ShownCompositor)
        terminal = Terminal(whole_screen(app))
        render_update = compositor.render_update

        def sent(*args: Any, **kwargs: Any) -> Any:
            update = render_update(*args, **kwargs)
            terminal.write(update)
            return update

        compositor.render_update = sent
        keys = ["2", *["tab"] * 6, *["shift+tab"] * 6, "down", "down", "pagedown", "G", "g", "3", "j", "j"]
        keys += ["end", "1", "down", "z", "escape", "5", "6", "4", "2", "up"]
        for key in keys:
            await press(pilot, key)
            await settle(pilot)
            assert terminal.cells == whole_screen(app), f"after {key}"
        assert terminal.partial >= len(keys) // 2  # the keys were drawn as partial updates


async def test_a_pane_switch_sends_the_borders_and_the_cursor_lines_not_the_panes() -> None:
    """Tab from the containers to the firewall: of the two panes, the terminal is sent their border's cells,
    the table's header and the two cursors' lines, and no other line of either pane."""
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        await press(pilot, "2")
        await settle(pilot)
        compositor = app.screen._compositor
        sent_cells: set[tuple[int, int]] = set()
        render_update = compositor.render_update

        def sent(*args: Any, **kwargs: Any) -> Any:
            update = render_update(*args, **kwargs)
            assert not isinstance(update, LayoutUpdate), "a pane switch is drawn as partial updates"
            if isinstance(update, ChopsUpdate):
                sent_cells.update((y, x) for y, x1, x2 in update.spans for x in range(x1, x2))
            return update

        compositor.render_update = sent
        table, rules = app.screen.query_one("#containers"), app.screen.query_one("#firewall")
        table_cursor = table.cursor_row + table.header_height - round(table.scroll_y)
        rules_cursor = rules.cursor_row + 1 - round(rules.scroll_y)
        await press(pilot, "tab")
        await settle(pilot)
        assert app.focused is rules
        for pane, focus_lines in ((table, {0, table_cursor}), (rules, {rules_cursor})):
            inside = pane.content_region
            for line in range(inside.height):
                drawn = {x for x in range(inside.x, inside.right) if (inside.y + line, x) in sent_cells}
                assert bool(drawn) == (line in focus_lines), (pane.id, line)
            box = pane.parent.region
            top = {(box.y, x) for x in range(box.x, box.right)}
            left = {(y, box.x) for y in range(box.y, box.bottom)}
            assert top | left <= sent_cells, pane.id  # the border's colour changed
