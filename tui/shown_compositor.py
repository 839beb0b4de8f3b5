"""A screen's compositor that draws, for a partial update, only what shows in a changed region.

Textual's partial update draws every widget whose clip (its container's region) overlaps the box around
all changed regions, every line of each, then cuts each of their lines at every widget edge, and sends the
changed regions only. A pane switch changes two panes far apart (and the key footer), so the box is the
whole body: every pane, box, scrollbar and filter was drawn and cut again for the two that changed, some
3 ms of 10 on the 200-container host. Here a widget is drawn only where it shows in a changed region and
no widget in front of it covers that part, and then from the first to the last line of those parts (a
table whose focus shows in its cursor's line, inside a box whose border shows it, draws that line, not
its 40; a pane with a border of its own still draws every line, for the border's two sides); what is sent
is the same."""

from __future__ import annotations

from collections.abc import Iterable

from textual._compositor import ChopsUpdate, Compositor
from textual.geometry import Region
from textual.strip import Strip
from textual.widget import Widget


class ShownCompositor(Compositor):
    """`Compositor`, with a partial update drawn from the lines shown in its changed regions."""

    #: While a partial update is drawn: each widget drawn, and the lines of it to draw (a region of the
    #: screen: its visible region cut to the lines that its changed parts not covered from the front span).
    _drawn: dict[Widget, Region] | None = None

    def render_partial_update(self) -> ChopsUpdate | None:
        changed = list(self._dirty_regions)
        if not changed:
            return super().render_partial_update()
        every = self.visible_widgets
        # The cuts (where each line is cut, at every widget's edges) are worked out from every visible widget
        # and kept for the next updates: before the drawing sees only some of them.
        self.cuts  # noqa: B018
        drawn: dict[Widget, Region] = {}
        # What the widgets in front show (the map runs from the front back): a part of a changed region that
        # one of them covers is drawn by it, not by the widgets behind (a pane behind its scrollbar, the
        # containers behind their panes).
        in_front: list[Region] = []
        for widget, (region, clip) in every.items():
            shown = region.intersection(clip)
            parts = [shown.intersection(dirty) for dirty in changed if shown.overlaps(dirty)]
            if not parts:
                continue
            parts = [part for part in parts if not any(front.contains_region(part) for front in in_front)]
            in_front.append(shown)
            if parts:
                top = min(part.y for part in parts)
                bottom = max(part.bottom for part in parts)
                drawn[widget] = Region(shown.x, top, shown.width, bottom - top)
        # The visible widgets, in their drawing order, while this update is drawn; a layout meanwhile (none
        # is expected: drawing a line lays nothing out) would have emptied them, and is then left alone.
        shown_widgets = {widget: every[widget] for widget in drawn}
        self._visible_widgets = shown_widgets
        self._drawn = drawn
        try:
            return super().render_partial_update()
        finally:
            self._drawn = None
            if self._visible_widgets is shown_widgets:
                self._visible_widgets = every

    def _get_renders(self, crop: Region | None = None) -> Iterable[tuple[Region, Region, list[Strip]]]:
        drawn = self._drawn
        if drawn is None:
            yield from super()._get_renders(crop)
            return
        for widget, (region, _clip) in self.visible_widgets.items():
            part = drawn[widget]
            # What is yielded as the clip is the part drawn: the lines come out for it alone.
            yield region, part, widget.render_lines(part.translate(-region.offset))
