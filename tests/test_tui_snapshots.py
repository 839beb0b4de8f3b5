"""Screenshots of every screen on the bundled demo snapshot, compared with the accepted ones.

Regenerate after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update` and look at
the report. The app is built exactly as `dockwire --demo` builds it, with a fixed clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from textual.pilot import Pilot

from dockwire.sources import open_source
from dockwire.tui.app import DockwireApp, make_app
from tests.tui_harness import fixed_clock, mark_by_filter, ready, settle

Keys = Callable[[Pilot[Any]], Awaitable[None]]


def demo_app() -> DockwireApp:
    return make_app(open_source(demo=True), clock=fixed_clock, root=True)


def after(*keys: str, marks: tuple[str, ...] = ()) -> Keys:
    """Wait for the model, mark containers (A then B), press keys, wait for every worker."""

    async def run(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        for name in marks:
            await mark_by_filter(pilot, name)
        await pilot.press(*keys)
        await settle(pilot)

    return run


class TestMainScreen:
    def test_demo_at_120x36(self, snap_compare: Any) -> None:
        """The main screen as `dockwire --demo` opens it."""
        assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=after())

    def test_demo_at_80x24(self, snap_compare: Any) -> None:
        """Every pane still has room on a small terminal."""
        assert snap_compare(demo_app(), terminal_size=(80, 24), run_before=after())

    def test_blocked_probe_at_200x50(self, snap_compare: Any) -> None:
        """P -> tcp/80 from dwlab-default-a to dwlab-default-b: the DOCKER-USER rule lit, the fix shown."""
        run = after("P", "ctrl+s", marks=("dwlab-default-a", "dwlab-default-b"))
        assert snap_compare(demo_app(), terminal_size=(200, 50), run_before=run)

    def test_why_on_isolated_networks_at_120x36(self, snap_compare: Any) -> None:
        """w between two isolated networks in a normal-sized terminal: the result replaces the detail."""
        run = after("w", marks=("dwlab-iso-a", "dwlab-iso-b"))
        assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=run)

    def test_light_theme(self, snap_compare: Any) -> None:
        assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=after("T"))


class TestOtherScreens:
    def test_matrix(self, snap_compare: Any) -> None:
        """Every pair's reachability; the highlighted cell's why underneath."""
        assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=after("m"))

    def test_help(self, snap_compare: Any) -> None:
        assert snap_compare(demo_app(), terminal_size=(110, 50), run_before=after("question_mark"))

    def test_probe_dialog(self, snap_compare: Any) -> None:
        run = after("P", marks=("dwlab-default-a", "dwlab-web"))
        assert snap_compare(demo_app(), terminal_size=(100, 30), run_before=run)
