"""Screenshots of every screen on the bundled demo snapshot, compared with the accepted ones.

Regenerate after an intended change with `pytest tests/test_tui_snapshots.py --snapshot-update` and look at
the report. The app is built exactly as `dockwire --demo` builds it, with a fixed clock.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import pytest
from textual.pilot import Pilot

from dockwire.sources import open_source
from dockwire.tui.app import DockwireApp, make_app
from dockwire.tui.help_screen import HelpScreen
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.tui.probe_dialog import ProbeDialog
from dockwire.widgets.verdict_panel import VerdictPanel
from tests.tui_harness import app_of, fewer_full_collections, fixed_clock, mark, press, ready, settle, until

Keys = Callable[[Pilot[Any]], Awaitable[None]]
Done = Callable[[DockwireApp], bool]


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_less_often() -> Iterator[None]:
    with fewer_full_collections():
        yield


def demo_app() -> DockwireApp:
    return make_app(open_source(demo=True), clock=fixed_clock, root=True)


def has_outcome(app: DockwireApp) -> bool:
    return app.last_outcome is not None


def matrix_explained(app: DockwireApp) -> bool:
    """The matrix is up and the highlighted cell's why is shown under it."""
    return isinstance(app.screen, MatrixScreen) and app.screen.query_one(VerdictPanel).outcome is not None


def after(*keys: str, marks: tuple[str, ...] = (), done: Done | None = None) -> Keys:
    """Wait for the model, mark containers (A then B), press keys, wait until `done` (what the keys lead
    to) holds and then for every worker: what is drawn never depends on how fast the machine is."""

    async def run(pilot: Pilot[Any]) -> None:
        await ready(pilot)
        for name in marks:
            await mark(pilot, name)
        await press(pilot, *keys)
        if done is not None:
            app = app_of(pilot)
            await until(pilot, lambda: done(app), f"what {keys} lead to")
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
        run = after("P", "ctrl+s", marks=("dwlab-default-a", "dwlab-default-b"), done=has_outcome)
        assert snap_compare(demo_app(), terminal_size=(200, 50), run_before=run)

    def test_why_on_isolated_networks_at_120x36(self, snap_compare: Any) -> None:
        """w between two isolated networks in a normal-sized terminal: the result replaces the detail."""
        run = after("w", marks=("dwlab-iso-a", "dwlab-iso-b"), done=has_outcome)
        assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=run)

    def test_light_theme(self, snap_compare: Any) -> None:
        run = after("T", done=lambda app: app.theme == "textual-light")
        assert snap_compare(demo_app(), terminal_size=(120, 36), run_before=run)


class TestOtherScreens:
    def test_matrix(self, snap_compare: Any) -> None:
        """Every pair's reachability; the highlighted cell's why underneath."""
        assert snap_compare(demo_app(), terminal_size=(120, 40), run_before=after("m", done=matrix_explained))

    def test_help(self, snap_compare: Any) -> None:
        run = after("question_mark", done=lambda app: isinstance(app.screen, HelpScreen))
        assert snap_compare(demo_app(), terminal_size=(110, 50), run_before=run)

    def test_probe_dialog(self, snap_compare: Any) -> None:
        run = after(
            "P", marks=("dwlab-default-a", "dwlab-web"), done=lambda app: isinstance(app.screen, ProbeDialog)
        )
        assert snap_compare(demo_app(), terminal_size=(100, 30), run_before=run)
