"""`held_refreshes` and `redraw_restyled` on a real Textual widget: the refreshes a restyle asks for are held,
then redrawn as narrowly as what changed allows, and the widget's own `refresh` is back afterwards."""

from __future__ import annotations

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
