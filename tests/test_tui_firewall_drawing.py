"""The firewall pane draws only what changed (the cursor's two rows on j/k; on a focus change, without
Textual's restyle, its lines from those it kept), and what it draws is always what a full restyle and a
redraw from nothing would draw. Driven through the Pilot on the recorded lab."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.pilot import Pilot

from dockwire.model import RuleRef
from dockwire.tui.app import DockwireApp
from dockwire.widgets.firewall import FirewallView
from tests.tui_harness import app_on, press, ready, settle

Cells = list[list[tuple[str, Style | None]]]


def drawn(app: DockwireApp, firewall: FirewallView) -> Cells:
    """Each cell of the pane on the screen: its character and style (however Textual splits segments)."""
    area = firewall.region
    lines = [line.crop(area.x, area.right) for line in app.screen._compositor.render_strips()]
    return [[(char, seg.style) for seg in line for char in seg.text] for line in lines[area.y : area.bottom]]


async def redrawn(pilot: Pilot[Any], app: DockwireApp, firewall: FirewallView) -> Cells:
    """The pane after a full restyle and a redraw from nothing (no kept line)."""
    app.update_styles(firewall)
    firewall.redraw()
    await settle(pilot)
    return drawn(app, firewall)


async def test_the_firewall_pane_looks_the_same_without_a_restyle_on_focus_change() -> None:
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        firewall = app.main_screen.query_one(FirewallView)
        for key in ("3", "2"):
            await press(pilot, key)
            await settle(pilot)
            assert drawn(app, firewall) == await redrawn(pilot, app, firewall), f"focus key {key}"


async def test_moving_folding_and_blaming_draw_what_a_redraw_from_nothing_draws() -> None:
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        firewall = app.main_screen.query_one(FirewallView)
        await press(pilot, "3")
        shown = len(firewall.rows)
        for key in (*"jjjkGkgj", "pagedown", "pageup", "enter", "enter", "k", "enter"):
            await press(pilot, key)
            await settle(pilot)
            assert drawn(app, firewall) == await redrawn(pilot, app, firewall), f"after {key}"
        assert len(firewall.rows) < shown  # the last enter folded the table under the cursor
        await press(pilot, "enter")
        row = next(row for row in firewall.rows if row.rule is not None and row.chain is not None)
        assert row.rule is not None and row.chain is not None
        blamed = RuleRef(
            family=row.table.family,
            table=row.table.name,
            chain=row.chain.name,
            position=row.rule.position,
            text=row.rule.text,
        )
        for spot in (blamed, None):  # the rule a verdict blames is drawn marked, then not
            firewall.mark_culprit(spot)
            await settle(pilot)
            assert drawn(app, firewall) == await redrawn(pilot, app, firewall), f"culprit {spot}"


async def test_the_cursor_shows_whether_the_pane_has_the_focus() -> None:
    """The cursor's background is the theme's, blended on the pane's: brighter with the focus than without
    (a style taken without its alpha drew both at full strength)."""
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        firewall = app.main_screen.query_one(FirewallView)
        backgrounds = []
        for key in ("3", "2"):
            await press(pilot, key)
            await settle(pilot)
            cursor_line = drawn(app, firewall)[firewall.cursor_row + 1 - round(firewall.scroll_y)]
            line = cursor_line[: firewall.scrollable_content_region.width]  # not the scrollbar
            backgrounds.append({style.bgcolor for _, style in line if style is not None} - {None})
        focused, blurred = backgrounds
        assert len(focused) == 1 and len(blurred) == 1 and focused != blurred
