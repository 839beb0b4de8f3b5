"""The footer and the focused pane's border, driven through the Pilot on the recorded lab: the footer follows
the focus (each pane's own keys), clicking a key presses it (the bell, and nothing else, for a disabled one),
the key under the mouse has its help as tooltip, the placement on the line keeps the command palette's key
at the right edge; the border of the pane holding the focus is marked."""

from __future__ import annotations

from typing import Any

from textual.color import Color
from textual.pilot import Pilot
from textual.widgets import Input

from dockwire.tui.app import DockwireApp
from dockwire.tui.bindings import APP_KEYS
from dockwire.tui.container_screen import ContainerScreen
from dockwire.tui.help_screen import HelpScreen
from dockwire.tui.key_footer import FooterItem, KeyFooter, item_at, place
from dockwire.tui.main_screen import pane_of
from tests.tui_harness import app_of, app_on, press, ready, settle, until

#: The main screen's bordered panes.
PANE_IDS = ("topology", "containers-box", "firewall-box", "detail", "result", "events")


def footer_line(app: DockwireApp) -> str:
    """The footer as drawn: the screen's last line."""
    return app.screen._compositor.render_strips()[-1].text


async def click_key(pilot: Pilot[Any], key: str) -> None:
    """Click the middle of `key` on the footer of the screen on top."""
    app = app_of(pilot)
    footer = app.screen.query_one(KeyFooter)
    spot = next(p for p in footer.placed if p.item.key == key)
    assert await pilot.click(KeyFooter, offset=((spot.start + spot.end) // 2, 0))
    await settle(pilot)


async def test_the_footer_shows_the_keys_of_the_focused_pane() -> None:
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        await press(pilot, "2")
        await until(pilot, lambda: "⏎ Open" in footer_line(app), "the containers' enter in the footer")
        assert "space Mark" in footer_line(app)
        await press(pilot, "3")
        await until(pilot, lambda: "⏎ Fold" in footer_line(app), "the firewall's enter in the footer")
        assert "n Next hit" in footer_line(app) and "⏎ Open" not in footer_line(app)
        await press(pilot, "4")
        await until(pilot, lambda: "⏎" not in footer_line(app), "no enter key for the detail pane")
        assert "space Mark" not in footer_line(app) and "q Quit" in footer_line(app)


async def test_clicking_a_footer_key_presses_it() -> None:
    async with app_on().run_test(size=(120, 36)) as pilot:
        app = await ready(pilot)
        await press(pilot, "2")
        await until(pilot, lambda: "⏎ Open" in footer_line(app), "the containers' enter in the footer")
        await click_key(pilot, "enter")  # the focused table's own key
        await until(pilot, lambda: isinstance(app.screen, ContainerScreen), "the container's screen")
        await press(pilot, "escape")
        await until(pilot, lambda: app.screen is app.main_screen, "the main screen again")
        await click_key(pilot, "question_mark")  # an app key
        await until(pilot, lambda: isinstance(app.screen, HelpScreen), "the help screen")


async def test_a_disabled_footer_key_does_nothing_and_the_hovered_key_tells_its_help() -> None:
    rerun = next(k for k in APP_KEYS if k.id == "rerun")
    async with app_on().run_test(size=(120, 36), tooltips=True) as pilot:
        app = await ready(pilot)
        footer = app.screen.query_one(KeyFooter)
        item = next(i for i in footer.items if i.key == rerun.key)
        assert not item.enabled  # nothing to run again yet
        await click_key(pilot, rerun.key)
        assert app.last_request is None and app.screen is app.main_screen
        spot = next(p for p in footer.placed if p.item == item)
        await pilot.hover(KeyFooter, offset=(spot.start, 0))
        await until(pilot, lambda: footer.tooltip == rerun.help, "the key's help as the footer's tooltip")


def test_the_palette_key_stays_at_the_right_edge_and_covers_what_does_not_fit() -> None:
    keys = [FooterItem(k, k, "Describe", k, True, "") for k in ("a", "b", "c")]
    palette = FooterItem("ctrl+p", "^p", "palette", "command_palette", True, "", palette=True)
    placed = place([*keys, palette], 30)
    assert [(p.item.key, p.start, p.end) for p in placed] == [
        ("a", 0, 10),
        ("b", 11, 18),  # cut where the palette's key begins
        ("ctrl+p", 18, 29),  # one cell in from the edge, as Textual's compact footer
    ]
    assert item_at(placed, 17) == keys[1] and item_at(placed, 10) is None and item_at(placed, 28) == palette


async def test_the_border_of_the_pane_holding_the_focus_is_marked() -> None:
    """Tab moves the mark (`-focused`, the primary border colour) with the focus, one pane at a time; a
    filter box inside a pane keeps its pane marked; outside the panes (the command line) none is."""
    async with app_on().run_test(size=(160, 40)) as pilot:
        app = await ready(pilot)
        screen = app.main_screen
        primary = Color.parse(app.theme_variables["primary"])

        def marked() -> list[str]:
            return [pane.id or "" for pane in screen.query(".pane") if pane.has_class("-focused")]

        seen = []
        for _ in range(6):
            await press(pilot, "tab")
            pane = pane_of(app.focused)
            assert pane is not None and marked() == [pane.id]
            assert pane.styles.border_top == ("round", primary)
            seen.append(pane.id)
        assert sorted(seen) == sorted(PANE_IDS)
        await press(pilot, "2", "slash")
        assert isinstance(app.focused, Input) and marked() == ["containers-box"]
        await press(pilot, "escape", "colon")
        assert marked() == []
