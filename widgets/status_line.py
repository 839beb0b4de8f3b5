"""The top line: where the model comes from, whether the daemon answers, probe availability and the marks."""

from __future__ import annotations

from dataclasses import dataclass

from rich.text import Text
from textual.widgets import Static

from dockwire.text import safe


@dataclass(frozen=True, slots=True)
class Status:
    label: str
    live: bool
    #: "up", "lost" or "" (not a live source).
    daemon: str = ""
    #: Why probes cannot run, or "" when they can.
    probes_off: str = ""
    source_name: str = ""
    destination_name: str = ""
    containers: int = 0
    rules: int = 0
    show_marks: bool = True


def status_text(status: Status) -> Text:
    """Most important first, so a narrow terminal cuts the least useful part. Names from the host are
    escaped here; the caller clips them (`formatting.clip`), so a long one cannot push the rest off."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" dockwire ", style="bold reverse")
    text.append(" ")
    if status.live:
        text.append(safe(status.label), style="bold")
    else:
        text.append(f" {safe(status.label)} ", style="bold black on yellow")
    if status.daemon == "lost":
        text.append("  ● docker unreachable, reconnecting… ", style="bold white on red")
    elif status.daemon == "up":
        text.append("  ● docker", style="green")
    if status.show_marks:
        text.append("  ")
        text.append(" A ", style="bold reverse green")
        text.append(f" {safe(status.source_name) or '-'} ", style="bold" if status.source_name else "dim")
        text.append("→ ", style="bold")
        text.append(" B ", style="bold reverse magenta")
        destination = safe(status.destination_name) or "-"
        text.append(f" {destination}", style="bold" if status.destination_name else "dim")
    if status.probes_off:
        text.append(f"  probes off: {safe(status.probes_off)}", style="yellow")
    text.append(f"  {status.containers} containers · {status.rules} rules", style="dim")
    return text


class StatusLine(Static):
    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; }
    """

    def show(self, status: Status) -> None:
        self.update(status_text(status))
