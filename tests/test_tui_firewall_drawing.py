"""The firewall pane draws only what changed (the cursor's two rows on j/k, nothing but its lines on a focus
change, without Textual's restyle), and what it draws is always what a full restyle and redraw would draw.
Driven through the Pilot on the recorded lab."""

from __future__ import annotations

from typing import Any

from rich.style import Style
from textual.pilot import Pilot

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
    """The pane after a full restyle and redraw."""
    app.update_styles(firewall)
    firewall.refresh()
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


async def test_moving_the_cursor_redraws_the_rows_it_left_and_reached() -> None:
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        firewall = app.main_screen.query_one(FirewallView)
        await press(pilot, "3")
        for key in ("j", "j", "j", "k", "G", "k", "g", "j"):
            await press(pilot, key)
            await settle(pilot)
            assert drawn(app, firewall) == await redrawn(pilot, app, firewall), f"after {key}"
        assert firewall.cursor_row == 1
