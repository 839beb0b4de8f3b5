"""A pane switch without Textual's restyle (`QuickFocus` puts back the styles of a look it has seen) and a
containers row drawn from its cells' kept layouts give exactly what Textual's own paths give: the same
styles as a full restyle, the same screen as a redraw from nothing, the same segments as DataTable's cell
render. Driven through the Pilot on the recorded lab."""

from __future__ import annotations

from typing import Any

from rich.segment import Segment
from textual.pilot import Pilot
from textual.widget import Widget
from textual.widgets import DataTable

from dockwire.tui.app import DockwireApp
from dockwire.widgets.containers import ContainersTable
from dockwire.widgets.quick_focus import QuickFocus
from tests.tui_harness import app_on, press, ready, settle


def styles_of(widget: Widget) -> tuple[Any, ...]:
    """What a restyle decides for a widget: its rules and each component's style."""
    components = {name: styles.get_rules() for name, styles in widget._component_styles.items()}
    return widget.styles.base.get_rules(), components


def screen_lines(app: DockwireApp) -> list[list[tuple[str, Any]]]:
    return [[(seg.text, seg.style) for seg in line] for line in app.screen._compositor.render_strips()]


async def restyled_from_nothing(pilot: Pilot[Any], app: DockwireApp) -> list[list[tuple[str, Any]]]:
    """The screen after Textual restyles every node of it and each pane draws again from nothing."""
    app.update_styles(app.screen)
    for widget in app.screen.query(Widget):
        if isinstance(widget, ContainersTable):
            widget._clear_caches()
        widget.refresh()
    await settle(pilot)
    return screen_lines(app)


async def test_a_pane_switch_gives_the_styles_and_screen_of_a_full_restyle() -> None:
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        panes = [w for w in app.main_screen.query(Widget) if isinstance(w, QuickFocus)]
        assert len(panes) >= 5
        # Twice round: the second time every look has been seen, so each switch puts styles back.
        for key in "123456" * 2 + "2":
            await press(pilot, key)
            await settle(pilot)
            before = {pane.id: styles_of(pane) for pane in panes}
            shown = screen_lines(app)
            assert shown == await restyled_from_nothing(pilot, app), f"after {key}"
            assert {pane.id: styles_of(pane) for pane in panes} == before, f"after {key}"


async def test_a_containers_cell_is_what_datatable_draws_in_every_look() -> None:
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        table = app.main_screen.query_one(ContainersTable)
        for key in ("2", "1"):  # focused, then blurred
            await press(pilot, key)
            await settle(pilot)
            base = table.rich_style
            for row in range(min(table.row_count, 8)):
                for column, width in enumerate(col.get_render_width(table) for col in table.ordered_columns):
                    for cursor, hover in ((False, False), (True, False), (False, True)):
                        ours = table._render_cell(row, column, base, width, cursor, hover)
                        table._cell_render_cache.clear()
                        theirs = DataTable._render_cell(table, row, column, base, width, cursor, hover)
                        table._cell_render_cache.clear()
                        assert _same(ours, theirs), (key, row, column, cursor, hover)


def _same(ours: list[list[Segment]], theirs: list[list[Segment]]) -> bool:
    def simple(lines: list[list[Segment]]) -> list[list[Segment]]:
        return [list(Segment.simplify(line)) for line in lines]

    return simple(ours) == simple(theirs)
