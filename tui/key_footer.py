"""The footer of every dockwire screen: the keys that fit on one line, drawn by one widget.

It shows what Textual's compact `Footer` shows (each key and its description, the command palette's key at
the right edge, keys the app disables dimmed, the key under the mouse highlighted), but as one line of
text instead of one `FooterKey` widget per key: no child widgets to lay out, restyle and render on each
focus change. The line is worked out again when the bindings may have changed (`bindings_updated_signal`:
every focus change) or the width changed, and drawn again only when what it shows differs.
Which keys fit is `bindings.fitting`: the least important go first, `?` and `q` never.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import ClassVar

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding
from textual.screen import Screen
from textual.strip import Strip
from textual.widget import Widget

from dockwire.tui.bindings import fitting

#: What stands left of the command palette's key: Textual's footer draws a `vkey` border there.
PALETTE_EDGE = "▏"


@dataclass(frozen=True, slots=True)
class FooterItem:
    """One key the footer shows."""

    key: str
    display: str
    description: str
    action: str
    enabled: bool
    tooltip: str
    palette: bool = False

    @property
    def cells(self) -> int:
        """The cells it takes on the line (without the gap after it)."""
        described = 1 + cell_len(self.description) if self.description else 0
        return cell_len(self.display) + described + (cell_len(PALETTE_EDGE) if self.palette else 0)


@dataclass(frozen=True, slots=True)
class Placed:
    """An item and the cells of the line it takes, from `start` up to (not including) `end`."""

    item: FooterItem
    start: int
    end: int


def place(items: Sequence[FooterItem], width: int) -> list[Placed]:
    """Where each item goes on a line of `width` cells: the keys from the left with one cell between them,
    the command palette's key at the right edge, one cell in. A key the palette's key would cover is cut off
    there (or left out)."""
    palette = next((item for item in items if item.palette), None)
    limit = width - 1 - palette.cells if palette is not None else width
    placed: list[Placed] = []
    x = 0
    for item in items:
        if item.palette or x >= limit:
            continue
        placed.append(Placed(item, x, min(x + item.cells, limit)))
        x += item.cells + 1
    if palette is not None and limit >= 0:
        placed.append(Placed(palette, limit, limit + palette.cells))
    return placed


def item_at(placed: Sequence[Placed], x: int) -> FooterItem | None:
    return next((p.item for p in placed if p.start <= x < p.end), None)


class KeyFooter(Widget, can_focus=False):
    """The keys of the screen's active bindings that fit (see the module's doc). Clicking a key presses it,
    as in Textual's footer: the bell for a disabled one."""

    ALLOW_SELECT = False
    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "key-footer--key",
        "key-footer--description",
        "key-footer--hover",
        "key-footer--edge",
    }
    DEFAULT_CSS = """
    KeyFooter {
        dock: bottom;
        height: 1;
        color: $footer-foreground;
        background: $footer-background;
        text-wrap: nowrap;
        & > .key-footer--key {
            color: $footer-key-foreground;
            background: $footer-key-background;
            text-style: bold;
        }
        & > .key-footer--description {
            color: $footer-description-foreground;
            background: $footer-description-background;
        }
        & > .key-footer--hover {
            color: $footer-key-foreground;
            background: $block-hover-background;
        }
        & > .key-footer--edge {
            color: $foreground 20%;
        }
    }
    """

    def __init__(self) -> None:
        super().__init__()
        self._items: tuple[FooterItem, ...] = ()
        self._placed: list[Placed] = []
        self._placed_width = -1
        self._hovered: FooterItem | None = None
        self._update_due = False
        #: Whether the screen has told of its bindings yet (before, they may ask widgets not yet mounted).
        self._bindings_ready = False

    @property
    def items(self) -> tuple[FooterItem, ...]:
        """What the footer shows now: the keys that fit, then the command palette's key."""
        return self._items

    @property
    def placed(self) -> list[Placed]:
        """Where on the line each of `items` is."""
        return self._placed

    def on_mount(self) -> None:
        self.screen.bindings_updated_signal.subscribe(self, self._bindings_changed)

    def on_unmount(self) -> None:
        self.screen.bindings_updated_signal.unsubscribe(self)

    def _bindings_changed(self, screen: Screen[object]) -> None:
        self._bindings_ready = True
        if screen.app.app_focus and screen is self.screen and not self._update_due:
            # One update for all the changes of a turn (a focus change publishes more than once).
            self._update_due = True
            self.call_after_refresh(self._update)

    def on_resize(self, event: events.Resize) -> None:
        if self._bindings_ready:
            self._update()

    def _update(self) -> None:
        """Work out the line again; draw it again only when it shows other keys."""
        self._update_due = False
        if not self.is_attached:
            return
        items = tuple(self._wanted())
        if items == self._items and self._placed_width == self.size.width:
            return
        self._items = items
        self._placed = place(items, self.size.width)
        self._placed_width = self.size.width
        if self._hovered not in items:
            self._hover(None)
        self.refresh()

    def _wanted(self) -> list[FooterItem]:
        active = self.screen.active_bindings
        app = self.app
        seen: set[str] = set()
        keys: list[tuple[Binding, FooterItem]] = []
        for _, binding, enabled, tooltip in active.values():
            if binding.show and binding.action not in seen:
                seen.add(binding.action)
                keys.append((binding, self._item(binding, enabled, tooltip)))
        found = active.get(app.COMMAND_PALETTE_BINDING) if app.ENABLE_COMMAND_PALETTE else None
        palette = None
        if found is not None:
            _, binding, enabled, _ = found
            palette = self._item(binding, enabled, binding.tooltip or binding.description, palette=True)
        room = self.size.width - (palette.cells + 1 if palette is not None else 0)
        # A key and the gap after it (a key without a description is counted as one with).
        sizes = [(binding, cell_len(item.display) + cell_len(item.description) + 2) for binding, item in keys]
        shown = [keys[index][1] for index in fitting(sizes, room)]
        return [*shown, palette] if palette is not None else shown

    def _item(self, binding: Binding, enabled: bool, tooltip: str, palette: bool = False) -> FooterItem:
        display = self.app.get_key_display(binding)
        action, description = binding.action, binding.description
        return FooterItem(binding.key, display, description, action, enabled, tooltip, palette)

    def render_line(self, y: int) -> Strip:
        """The line of keys (the Line API: each part styled as Textual's footer styles its keys)."""
        width = self.size.width
        gap = Style(bgcolor=self.rich_style.bgcolor)
        if y != 0:
            return Strip.blank(width, gap)
        key_style = self.get_component_rich_style("key-footer--key")
        description_style = self.get_component_rich_style("key-footer--description")
        hover_style = self.get_component_rich_style("key-footer--hover")
        key_own = self.get_component_rich_style("key-footer--key", partial=True)
        description_own = self.get_component_rich_style("key-footer--description", partial=True)
        dim = Style(dim=True)

        def parts(item: FooterItem) -> list[Segment]:
            hovered = item == self._hovered
            key = hover_style + key_own if hovered else key_style
            description = hover_style + description_own if hovered else description_style
            if not item.enabled:
                key, description = key + dim, description + dim
            shown = Segment(item.display, key)
            return [shown, Segment(" " + item.description, description)] if item.description else [shown]

        keys: list[Segment] = []
        edge = width
        for placed in self._placed:
            if placed.item.palette:
                edge = placed.start
                continue
            space = placed.start - Segment.get_line_length(keys)
            keys += [Segment(" " * space, gap), *parts(placed.item)] if space else parts(placed.item)
        line = Strip(keys).adjust_cell_length(edge, gap)
        palette = [p.item for p in self._placed if p.item.palette]
        if palette:
            edge_style = self.get_component_rich_style("key-footer--edge")
            line = Strip([*line, Segment(PALETTE_EDGE, edge_style), *parts(palette[0])])
        return line.adjust_cell_length(width, gap)

    # --- the mouse ------------------------------------------------------------------------------------------

    def on_mouse_move(self, event: events.MouseMove) -> None:
        self._hover(item_at(self._placed, event.x))

    def on_leave(self, event: events.Leave) -> None:
        self._hover(None)

    def _hover(self, item: FooterItem | None) -> None:
        if item == self._hovered:
            return
        self._hovered = item
        self.tooltip = item.tooltip if item is not None and item.tooltip else None
        self.styles.pointer = "default" if item is None else "pointer"
        self.refresh()

    def on_mouse_down(self, event: events.MouseDown) -> None:
        item = item_at(self._placed, event.x)
        if item is None:
            return
        if item.enabled:
            self.app.simulate_key(item.key)
        else:
            self.app.bell()
