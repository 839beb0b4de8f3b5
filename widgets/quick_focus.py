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
not, not even the first time (their own rules do not).

A restyle that changes only how a pane's border is painted (its colour and the title's: the focus mark)
redraws the border's cells alone. Textual would redraw the whole pane and everything in it: a colour rule
refreshes a node's children too, as colours are inherited, but a border's colour is not."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Hashable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from textual import events
from textual.css.styles import RenderStyles, RulesMap
from textual.geometry import Region

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


def _redraw_scrollbars(widget: _Widget) -> None:
    """Scrollbars are drawn in the widget's scrollbar colours over its background: a new one (a focus tint)
    shows in them once the styles each scrollbar keeps from its ancestors are forgotten."""
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
    else `full` (Textual's restyle), whose result is kept for next time. What the restyle asks to redraw
    is held back, then redrawn as narrowly as what changed allows (`redraw_restyled`)."""
    kept: KeptLooks | None = getattr(widget, "_kept_looks", None)
    if kept is None:
        kept = KeptLooks()
        setattr(widget, "_kept_looks", kept)  # noqa: B010 (not an attribute Textual's Widget declares)
    look = kept.look(widget)
    before = widget.styles.base.get_rules()
    with held_refreshes(widget) as asked:
        put_back = kept.put_back(widget, look)
        if not put_back:
            full()
    redraw_restyled(widget, asked, before, widget.styles.base.get_rules())
    if not put_back:
        kept.keep(widget, look)
    return put_back


def redraw_restyled(widget: _Widget, asked: AskedRefresh, before: RulesMap, after: RulesMap) -> None:
    """Redraw a widget after a focus restyle. When its rules changed only in how the border is painted,
    that is its border's cells, plus, if the whole widget was asked for (a component style changed, or the
    widget's own style hook refreshes), where its focus shows (`FocusRedraw.redraw_focus`; the whole of a
    widget that is not one); otherwise what the restyle asked for."""
    changed = _changed_rules(before, after)
    if asked.layout or asked.recompose or not paints_border_only(changed, before, after):
        asked.replay(widget)
    else:
        if asked.styles:
            refresh_border(widget)
        if asked.whole:
            redraw_focus = widget.redraw_focus if isinstance(widget, FocusRedraw) else widget.refresh
            redraw_focus()
        if asked.regions:
            widget.refresh(*asked.regions)
    # The scrollbars' own refreshes are held for good: Textual's restyle sets every scrollbar colour again,
    # and each one redraws them, changed or not.
    if any(name.startswith(("scrollbar", "background")) for name in changed):
        _redraw_scrollbars(widget)


#: Rules that paint a border's title or subtitle, on the border's top or bottom line.
BORDER_TEXT_RULES = frozenset(
    f"{auto}border_{part}_{what}"
    for part in ("title", "subtitle")
    for auto, what in (("", "color"), ("auto_", "color"), ("", "background"), ("", "style"))
)
BORDER_EDGE_RULES = frozenset(f"border_{edge}" for edge in ("top", "right", "bottom", "left"))


def paints_border_only(changed: list[str], before: RulesMap, after: RulesMap) -> bool:
    """Whether the rules `changed` from `before` to `after` change only how the border is painted: its
    edges' colours (each edge of the same kind, so nothing moves) and its title's and subtitle's style."""
    for name in changed:
        if name in BORDER_TEXT_RULES:
            continue
        if name in BORDER_EDGE_RULES:
            old: Any = before.get(name)
            new: Any = after.get(name)
            if old and new and old[0] == new[0] and old[0] not in ("", "none", "hidden"):
                continue
        return False
    return True


def refresh_border(widget: _Widget) -> None:
    """Redraw the cells of the widget's border alone (its four edges, title and subtitle included)."""
    width, height = widget.outer_size
    if not width or not height:
        return
    # `refresh` takes regions in the widget's content coordinates; the edges lie at its outer ones.
    inside = widget.content_offset
    edges = (
        Region(0, 0, width, 1),
        Region(0, height - 1, width, 1),
        Region(0, 0, 1, height),
        Region(width - 1, 0, 1, height),
    )
    widget.refresh(*(edge.translate(-inside) for edge in edges))


class AskedRefresh:
    """The refreshes asked for while held back: by the widget's styles (a rule set) or by the widget itself
    (the whole of it, or some regions), merged."""

    def __init__(self, widget: _Widget) -> None:
        self.widget = widget
        self.styles = self.whole = self.layout = self.recompose = self.children = self.parent = False
        self.regions: list[Region] = []

    def note_styles(
        self, *, layout: bool = False, children: bool = False, parent: bool = False, repaint: bool = True
    ) -> None:
        """`Styles.refresh`, noted."""
        self.styles = True
        self.layout |= layout
        self.children |= children
        self.parent |= parent

    def note_widget(
        self, *regions: Region, layout: bool = False, recompose: bool = False, **_: object
    ) -> _Widget:
        """`Widget.refresh`, noted (it returns the widget, as that does)."""
        self.layout |= layout
        self.recompose |= recompose
        if regions:
            self.regions.extend(regions)
        else:
            self.whole = True
        return self.widget

    def note_bar(self, *_: object, layout: bool = False, **__: object) -> None:
        """A scrollbar's `refresh`, noted: a layout it asks for is the widget's too; its redraw is decided
        from what changed (`redraw_restyled`)."""
        self.layout |= layout

    def replay(self, widget: _Widget) -> None:
        """Ask for them now, as `Styles.refresh` and `Widget.refresh` would have."""
        if self.parent and widget.parent is not None:
            widget.parent.refresh()
        if self.styles or self.whole:
            widget.refresh(layout=self.layout, recompose=self.recompose)
        elif self.regions:
            widget.refresh(*self.regions, layout=self.layout, recompose=self.recompose)
        if self.children:
            for child in widget.walk_children(with_self=False, reverse=True):
                child.refresh(layout=self.layout)


@contextmanager
def held_refreshes(widget: _Widget) -> Iterator[AskedRefresh]:
    """Note, instead of doing, the refreshes that a widget, its styles and its scrollbars ask for meanwhile
    (an instance's own `refresh` shadows the method, and what it shadowed is put back afterwards, so that
    a hold inside another passes its redraws on to the outer one): the caller decides what to redraw once it
    knows what changed."""
    asked = AskedRefresh(widget)
    held: list[tuple[object, Callable[..., object]]] = [
        (widget.styles.base, asked.note_styles),
        (widget, asked.note_widget),
        *((bar, asked.note_bar) for bar in widget._get_virtual_dom()),
    ]
    shadowed = [(node, vars(node).get("refresh")) for node, _ in held]
    for node, note in held:
        setattr(node, "refresh", note)  # noqa: B010 (for this instance alone)
    try:
        yield asked
    finally:
        for node, before in shadowed:
            if before is None:
                delattr(node, "refresh")
            else:
                setattr(node, "refresh", before)  # noqa: B010


class FocusRedraw(_Widget):
    """For a pane's widget whose focus shows only in some of its lines (listed before its Textual base, as a
    mixin): a focus change redraws those (`redraw_focus`), not the whole widget, which is what Textual's
    focus and blur handlers ask for."""

    def redraw_focus(self) -> None:
        """Redraw where the focus shows: here the whole widget; a widget that knows better says less."""
        self.refresh()

    def _on_focus(self, event: events.Focus) -> None:
        event.prevent_default()  # instead of `Widget._on_focus`, which differs only in what it redraws
        self.has_focus = True
        self.redraw_focus()
        if self.parent is not None:
            self.parent.post_message(events.DescendantFocus(self))

    def _on_blur(self, event: events.Blur) -> None:
        event.prevent_default()  # instead of `Widget._on_blur`
        self.has_focus = False
        self.redraw_focus()
        if self.parent is not None:
            self.parent.post_message(events.DescendantBlur(self))


class QuickFocus(FocusRedraw):
    """For a pane's widget (listed before its Textual base, as a mixin): a focus change puts back the styles
    of the last time it had that look, else restyles as Textual does and keeps the result."""

    def watch_has_focus(self, has_focus: bool) -> None:
        # Textual's restyle of the widget itself, without its scrollbars: their own rules do not change with
        # the pane's focus, and setting them all again lays the whole screen out (some 10 ms).
        restyle(self, lambda: self.app.stylesheet.apply(self, animate=True))
        # What the widget holds (not its scrollbars) is restyled as Textual would.
        self.app.stylesheet.update_nodes(self.walk_children(), animate=True)
