"""The events log: Docker events, link changes, probe and verdict results, newest at the bottom."""

from __future__ import annotations

from collections.abc import Callable

from rich.text import Text
from textual.widgets import RichLog

from dockwire.text import safe

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
    return "info"


class EventLog(RichLog):
    """A bounded, timestamped log. The clock is injected so tests render the same every time."""

    DEFAULT_CSS = """
    EventLog { background: $surface; scrollbar-size-vertical: 1; }
    """

    def __init__(
        self, clock: Callable[[], str], *, id: str | None = None, classes: str | None = None
    ) -> None:
        super().__init__(max_lines=2000, wrap=True, markup=False, auto_scroll=True, id=id, classes=classes)
        self.clock = clock
        self.can_focus = True

    def add(self, kind: str, message: str | Text) -> None:
        """Log one line; a string (which names things on the host) is shown escaped, as plain text."""
        tag, style = KINDS.get(kind, (kind, ""))
        line = Text.assemble((self.clock(), "dim"), " ", (f"{safe(tag):>6}", style), " ")
        line.append_text(message if isinstance(message, Text) else Text(safe(message)))
        self.write(line, expand=True)
