"""What the Line-API panes share to stay cheap on a big host: scrollbars left alone by a layout that changes
nothing of the pane, and the pane's base style worked out once per drawing pass instead of once per line."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterable
from typing import TYPE_CHECKING, Generic, TypeVar

from rich.style import Style
from textual.geometry import Region, Size
from textual.strip import Strip
from textual.widget import Widget

if TYPE_CHECKING:
    from textual.scroll_view import ScrollView as _ScrollView
else:
    _ScrollView = object

CachesT = TypeVar("CachesT")


class SteadyView(_ScrollView):
    """For a `ScrollView` (listed before it, as a mixin: not a DOM class, so the view's CSS and component
    classes are its widget's own): scrollbars redrawn only when its size or virtual size changed.

    Textual hands every widget a layout's virtual size, which a `ScrollView` ignores (it keeps its own): the
    two differ, so each layout anywhere on the screen (a footer key changing width on a pane switch) redrew
    every pane's scrollbars, some 30 ms at 200 containers. Here a layout that brings the same size, container
    size and virtual size as the last one changes nothing.

    `line_style` is the pane's `rich_style` during `render_lines` (Textual works it out by walking every
    ancestor's styles, which cost more than drawing a cached line)."""

    _steady: tuple[Size, Size, Size] | None = None
    _pass_style: Style | None = None

    def _size_updated(
        self, size: Size, virtual_size: Size, container_size: Size, layout: bool = True
    ) -> bool:
        if self._steady == (size, container_size, self.virtual_size):
            return False
        resized = super()._size_updated(size, virtual_size, container_size, layout)
        self._steady = (size, container_size, self.virtual_size)
        return resized

    def render_lines(self, crop: Region) -> list[Strip]:
        self._before_pass()
        self._pass_style = self.rich_style
        try:
            return super().render_lines(crop)
        finally:
            self._pass_style = None

    def _before_pass(self) -> None:
        """A hook for the view: called as a drawing pass starts."""

    @property
    def line_style(self) -> Style:
        """The base style of a line: the pass's, or worked out now outside a pass."""
        return self._pass_style if self._pass_style is not None else self.rich_style


class StyleKeptCaches(Generic[CachesT]):
    """A widget's render caches kept per look, so that a focus change (which restyles the pane: a tint, the
    cursor's colours) draws from the caches of the last time it had that look instead of from nothing.

    Textual's DataTable and Tree empty their caches on every style update, so each pane switch drew every
    row in view again (some 50 ms for the containers table here). `look` is what the drawing depends on
    besides the cache keys (the widget's style, pseudo-classes and component styles), worked out when a
    pass starts, once the new styles are in place."""

    KEPT = 4

    def __init__(self, fresh: Callable[[], CachesT]) -> None:
        self._fresh = fresh
        self._kept: OrderedDict[Hashable, CachesT] = OrderedDict()
        self._look: Hashable = None

    def swap(self, look: Hashable, current: CachesT) -> CachesT | None:
        """The caches to use for `look` when it is not the current one (kept ones or fresh), else None."""
        if look == self._look:
            return None
        if self._look is not None:
            self._kept[self._look] = current
            while len(self._kept) > self.KEPT:
                self._kept.popitem(last=False)
        self._look = look
        return self._kept.pop(look, None) or self._fresh()

    def forget(self) -> None:
        """The data changed: no kept cache holds what is drawn now."""
        self._kept.clear()


def look_of(widget: Widget, components: Iterable[str], focus: bool = True) -> Hashable:
    """What a widget's drawing depends on in its styles: its own and each component's, and pseudo-classes
    (without the focus when `focus` is False: the widget's cache keys tell it apart where it shows)."""
    state = widget.get_pseudo_class_state()
    return (
        state if focus else state._replace(focus=False),
        widget.rich_style,
        tuple(widget.get_component_rich_style(name, partial=True) for name in sorted(components)),
    )
