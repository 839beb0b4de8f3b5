"""`held_refreshes` and `redraw_restyled` on a real Textual widget: the refreshes a restyle asks for are held,
then redrawn as narrowly as what changed allows, and the widget's own `refresh` is back afterwards."""

from __future__ import annotations

from textual import events
from textual.app import App, ComposeResult
from textual.containers import Vertical
from textual.geometry import Region

from dockwire.widgets.quick_focus import held_refreshes, redraw_restyled, restyle


class Boxes(App[None]):
    CSS = """
    #box { border: round red; border-title-color: red; height: 8; }
    #box.-marked { border: round blue; border-title-color: blue; }
    #box.-filled { background: green; }
    """

    def compose(self) -> ComposeResult:
        with Vertical(id="box"):
            yield Vertical(id="inside")


def edges(width: int, height: int) -> set[Region]:
    return {
        Region(0, 0, width, 1),
        Region(0, height - 1, width, 1),
        Region(0, 0, 1, height),
        Region(width - 1, 0, 1, height),
    }


async def test_a_border_colour_change_redraws_the_border_alone_and_a_background_the_whole_pane() -> None:
    async with Boxes().run_test(size=(40, 12)) as pilot:
        app = pilot.app
        box, inside = app.query_one("#box"), app.query_one("#inside")
        await pilot.pause()
        box._repaint_regions.clear()
        inside._repaint_regions.clear()
        box.set_class(True, "-marked", update=False)
        restyle(box, lambda: app.stylesheet.update_nodes([box], animate=True))
        width, height = box.outer_size
        assert set(box._repaint_regions) == edges(width, height)
        assert not inside._repaint_regions  # a colour rule would have refreshed what the box holds
        await pilot.pause()
        box.set_class(True, "-filled", update=False)
        restyle(box, lambda: app.stylesheet.update_nodes([box], animate=True))
        assert Region(0, 0, width, height) in box._repaint_regions
        assert "refresh" not in vars(box) and "refresh" not in vars(box.styles.base)


async def test_a_hold_inside_another_passes_its_redraws_to_the_outer_one() -> None:
    async with Boxes().run_test(size=(40, 12)) as pilot:
        box = pilot.app.query_one("#box")
        await pilot.pause()
        with held_refreshes(box) as outer:
            with held_refreshes(box) as inner:
                box.refresh(Region(1, 1, 2, 2))
            assert inner.regions == [Region(1, 1, 2, 2)] and not outer.regions and not outer.whole
            before = box.styles.base.get_rules()
            redraw_restyled(box, inner, before, before)
            assert outer.regions == [Region(1, 1, 2, 2)]
        assert "refresh" not in vars(box)


def test_no_other_class_of_a_focus_redraw_pane_handles_focus_or_blur() -> None:
    """`FocusRedraw` answers Focus and Blur in place of `Widget`'s handlers and stops the walk down the MRO
    (`prevent_default`): a handler any other class of a pane defined (a Textual upgrade, a mixin) would be
    skipped silently."""
    from textual.widget import Widget

    from dockwire.widgets.containers import ContainersTable
    from dockwire.widgets.detail import DetailPane
    from dockwire.widgets.events import EventLog
    from dockwire.widgets.firewall import FirewallView
    from dockwire.widgets.quick_focus import FocusRedraw
    from dockwire.widgets.topology import TopologyTree
    from dockwire.widgets.verdict_panel import VerdictPanel, VerdictReport

    names = {"_on_focus", "on_focus", "_on_blur", "on_blur"}
    for pane in (
        ContainersTable,
        DetailPane,
        EventLog,
        FirewallView,
        TopologyTree,
        VerdictPanel,
        VerdictReport,
    ):
        assert issubclass(pane, FocusRedraw)
        others = []
        for cls in pane.__mro__:
            if cls in (FocusRedraw, Widget):
                continue
            others += [f"{cls.__name__}.{name}" for name in sorted(names & set(vars(cls)))]
            decorated = vars(cls).get("_decorated_handlers") or {}
            others += [
                f"{cls.__name__} @on({kind.__name__})"
                for kind in (events.Focus, events.Blur)
                if kind in decorated
            ]
        assert others == [], pane.__name__
