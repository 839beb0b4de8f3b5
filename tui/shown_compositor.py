"""A screen's compositor that draws, for a partial update, only the widgets that show in a changed region.

Textual's partial update draws every widget whose clip (its container's region) overlaps the box around
all changed regions, then cuts each of their lines at every widget edge, and sends the changed regions
only. A pane switch changes two panes far apart (and the key footer), so the box is the whole body: every
pane, box, scrollbar and filter was drawn and cut again for the two that changed, some 3 ms of 10 on the
200-container host. A widget that shows in no changed region adds nothing to what is sent, so here it is
left out of the drawing; what is sent is the same."""

from __future__ import annotations

from textual._compositor import ChopsUpdate, Compositor


class ShownCompositor(Compositor):
    """`Compositor`, with a partial update drawn from the widgets shown in its changed regions."""

    def render_partial_update(self) -> ChopsUpdate | None:
        changed = list(self._dirty_regions)
        if not changed:
            return super().render_partial_update()
        every = self.visible_widgets
        # The cuts (where each line is cut, at every widget's edges) are worked out from every visible widget
        # and kept for the next updates: before the drawing sees only some of them.
        self.cuts  # noqa: B018
        shown = {
            widget: (region, clip)
            for widget, (region, clip) in every.items()
            if any(region.intersection(clip).overlaps(dirty) for dirty in changed)
        }
        # The visible widgets, in their drawing order, while this update is drawn; a layout meanwhile (none
        # is expected: drawing a line lays nothing out) would have emptied them, and is then left alone.
        self._visible_widgets = shown
        try:
            return super().render_partial_update()
        finally:
            if self._visible_widgets is shown:
                self._visible_widgets = every
