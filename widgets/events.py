"""The events log: Docker events, link changes, probe and verdict results, newest at the bottom."""

from __future__ import annotations

from collections import deque
from collections.abc import Callable
from typing import ClassVar

from rich.text import Text
from textual import events
from textual.binding import Binding, BindingType
from textual.widgets import RichLog

from dockwire.text import safe
from dockwire.widgets.line_views import SteadyView
from dockwire.widgets.quick_focus import QuickFocus

#: kind -> (tag shown, style).
KINDS: dict[str, tuple[str, str]] = {
    "docker": ("docker", "cyan"),
    "link": ("link", "blue"),
    "firewall": ("fw", "yellow"),
    "probe": ("probe", "magenta"),
    "why": ("why", "magenta"),
    "blocked": ("BLOCK", "bold red"),
    "allowed": ("ok", "bold green"),
    "error": ("error", "bold red"),
    "info": ("info", "dim"),
}


def kind_of(line: str) -> str:
    """Which kind a line from the live model is, by its first word."""
    head = line.split(" ", 1)[0].rstrip(":")
    if head in ("container", "network", "docker"):
        return "docker"
    if head in ("link", "netlink"):
        return "link"
    if head == "firewall":
        return "firewall"
    return "info"


#: How many entries the log keeps (older ones are dropped).
MAX_ENTRIES = 2000


class EventLog(QuickFocus, SteadyView, RichLog):
    """A bounded, timestamped log. The clock is injected so tests render the same every time.

    Lines wrap at the pane's width, and wrap again when it changes (the entries are kept as `Text`, and
    written once more at the new width after a resize)."""

    DEFAULT_CSS = """
    EventLog { background: $surface; scrollbar-size-vertical: 1; }
    """

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "scroll_down", "Down", show=False),
        Binding("k", "scroll_up", "Up", show=False),
        Binding("g", "scroll_home", "First", show=False),
        Binding("G", "scroll_end", "Last", show=False),
    ]

    def __init__(
        self, clock: Callable[[], str], *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(
            max_lines=MAX_ENTRIES * 4, min_width=20, wrap=True, markup=False, auto_scroll=True, id=id,
            classes=classes,
        )  # fmt: skip
        self.clock = clock
        self.can_focus = True
        self.entries: deque[Text] = deque(maxlen=MAX_ENTRIES)
        self._wrapped_at = 0

    def redraw_focus(self) -> None:
        """The focus shows nowhere inside the log: only in the pane's border, which its restyle redraws."""

    def add(self, kind: str, message: str | Text) -> None:
        """Log one line; a string (which names things on the host) is shown escaped, as plain text."""
        tag, style = KINDS.get(kind, (kind, ""))
        if isinstance(message, str) and message.startswith(f"{kind} "):
            message = message[len(kind) + 1 :]  # "link eth0: up" under the tag "link": not "link link eth0"
        line = Text.assemble((self.clock(), "dim"), " ", (f"{safe(tag):>6}", style), " ")
        line.append_text(message if isinstance(message, Text) else Text(safe(message)))
        self.entries.append(line)
        self.write(line, expand=True)

    def on_resize(self, event: events.Resize) -> None:
        width = self.scrollable_content_region.width
        if width and width != self._wrapped_at:
            if self._wrapped_at:
                self.call_after_refresh(self._rewrap)
            self._wrapped_at = width

    def _rewrap(self) -> None:
        """Write every entry again at the current width, keeping the view at the end if it was there."""
        at_end = self.is_vertical_scroll_end or self.max_scroll_y == 0
        top = self.scroll_y
        self.clear()
        for line in self.entries:
            self.write(line, expand=True, scroll_end=False)
        if at_end:
            self.scroll_end(animate=False, immediate=True)
        else:
            self.scroll_to(y=min(top, self.max_scroll_y), animate=False, immediate=True)
