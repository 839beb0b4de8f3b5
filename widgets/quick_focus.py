"""A pane's focus change without a restyle from the stylesheet each time.

Textual answers a widget's focus change by applying the whole stylesheet to it and to its scrollbars
(`Widget.watch_has_focus`): every rule is matched again, every component style rebuilt, and every rule set
again, which redraws the scrollbars even where nothing changed (a scrollbar colour refreshes them whenever
it is set; they need it only for a new background, which shows through them). On the 200-container host
that was some 3 ms of each pane switch, and 1 ms more for the scrollbars drawn again.

`restyle` does that restyle once per look (the stylesheet, and the type, id, classes and pseudo-classes of
the widget and of each of its ancestors), keeps the styles it gave, and the next time the widget has a
look it has seen puts them back: only the rules that differ are set (so only what they change is
redrawn), and the component styles are swapped in whole. `QuickFocus` does so on a pane's focus change;
what the pane holds is restyled as before (its rules may depend on the pane's focus), its scrollbars are
not, not even the first time (their own rules do not)."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import TYPE_CHECKING

from textual.css.styles import RenderStyles, RulesMap

if TYPE_CHECKING:
    from textual.widget import Widget as _Widget
else:
    _Widget = object


class KeptLooks:
    """The styles a widget had in each look it was restyled in (the last few)."""

    KEPT = 8

    def __init__(self) -> None:
        self._rules: object = None
        self._kept: OrderedDict[Hashable, tuple[RulesMap, dict[str, RenderStyles]]] = OrderedDict()

    @staticmethod
    def look(widget: _Widget) -> Hashable:
        """What the stylesheet's rules can tell apart about a widget: its path from the app down."""
        return tuple(
            (node._css_type_name, node.id, node.classes, node.pseudo_classes)
            for node in widget.css_path_nodes
        )

    def put_back(self, widget: _Widget, look: Hashable) -> bool:
        """Give the widget the styles kept for `look`; False when there are none (or the stylesheet changed
        since: a theme switch, new CSS)."""
        rules = widget.app.stylesheet.rules
        if rules is not self._rules:
            self._rules = rules
            self._kept.clear()
            return False
        kept = self._kept.get(look)
        if kept is None:
            return False
        self._kept.move_to_end(look)
        wanted, components = kept
        base = widget.styles.base
        current = base.get_rules()
        changed = _changed_rules(current, wanted)
        for name in changed:
            setattr(base, name, wanted.get(name))
        _redraw_scrollbars_on_background(widget, changed)
        components_changed = widget._component_styles != components
        widget._component_styles = dict(components)
        if changed or components_changed:
            # (Nothing changed: no cache to empty, as Textual's own restyle returns early then.)
            widget.notify_style_update()
        if components_changed:
            widget.refresh()
        return True

    def keep(self, widget: _Widget, look: Hashable) -> None:
        """Keep the styles the stylesheet just gave the widget for `look` (not when a rule animates: the
        styles set at once would skip its transition)."""
        rules = widget.styles.base.get_rules()
        if rules.get("transitions"):
            return
        self._kept[look] = (rules, dict(widget._component_styles))
        while len(self._kept) > self.KEPT:
            self._kept.popitem(last=False)


def _changed_rules(before: RulesMap, after: RulesMap) -> list[str]:
    return [name for name in before.keys() | after.keys() if before.get(name) != after.get(name)]


def _redraw_scrollbars_on_background(widget: _Widget, changed: list[str]) -> None:
    if any(name.startswith("background") for name in changed):
        _redraw_scrollbars(widget)


def _redraw_scrollbars(widget: _Widget) -> None:
    """Scrollbars are drawn over the widget's background: a new one (a focus tint) shows in them too, once
    the styles each scrollbar keeps from its ancestors are forgotten."""
    bars: list[_Widget] = []
    if widget.show_vertical_scrollbar:
        bars.append(widget.vertical_scrollbar)
    if widget.show_horizontal_scrollbar:
        bars.append(widget.horizontal_scrollbar)
    if widget.show_vertical_scrollbar and widget.show_horizontal_scrollbar:
        bars.append(widget.scrollbar_corner)
    for bar in bars:
        bar.notify_style_update()
        bar.refresh()


def restyle(widget: _Widget, full: Callable[[], object]) -> bool:
    """Restyle a widget alone (not what it holds): the styles kept for its look if there are some (True),
    else `full` (Textual's restyle), whose result is kept for next time."""
    kept: KeptLooks | None = getattr(widget, "_kept_looks", None)
    if kept is None:
        kept = KeptLooks()
        setattr(widget, "_kept_looks", kept)  # noqa: B010 (not an attribute Textual's Widget declares)
    look = kept.look(widget)
    if kept.put_back(widget, look):
        return True
    full()
    kept.keep(widget, look)
    return False


class QuickFocus(_Widget):
    """For a pane's widget (listed before its Textual base, as a mixin): a focus change puts back the styles
    of the last time it had that look, else restyles as Textual does and keeps the result."""

    def watch_has_focus(self, has_focus: bool) -> None:
        restyle(self, lambda: _restyle_alone(self))
        # What the widget holds (not its scrollbars) is restyled as Textual would.
        self.app.stylesheet.update_nodes(self.walk_children(), animate=True)


def _restyle_alone(widget: _Widget) -> None:
    """Textual's restyle of the widget itself, without its scrollbars: their own rules do not change with
    the pane's focus, and setting them all again lays the whole screen out (some 10 ms). They are redrawn
    when the background changed, as `KeptLooks.put_back` does."""
    before = widget.styles.base.get_rules()
    widget.app.stylesheet.apply(widget, animate=True)
    _redraw_scrollbars_on_background(widget, _changed_rules(before, widget.styles.base.get_rules()))
