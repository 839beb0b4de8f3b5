"""The top line: where the model comes from, whether the daemon answers, probe availability and the marks."""

from __future__ import annotations

from dataclasses import dataclass

from rich.cells import cell_len, set_cell_size
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
    #: The destination is the container under the cursor, not a mark (shown with "(cursor)").
    destination_is_cursor: bool = False
    #: The protocol w, p and t use for the pair (`icmp`, `tcp/80`, `dns`); "" shows none.
    protocol: str = ""


#: The fewest cells a shortened label or name keeps.
LABEL_CELLS = 16
NAME_MIN_CELLS = 12


def middle(value: str, cells: int) -> str:
    """`value` in at most `cells` cells, its middle replaced by `…` (the start and end of a name say most)."""
    if cell_len(value) <= cells:
        return value
    if cells <= 1:
        return "…"[:cells]
    head = (cells - 1) - (cells - 1) // 2
    tail = (cells - 1) // 2
    start = set_cell_size(value, head)
    end = value[::-1]
    end = set_cell_size(end, tail)[::-1] if tail else ""
    return f"{start}…{end}"


def _assemble(status: Status, label: str, source: str, destination: str) -> tuple[Text, int]:
    """The line, and how many cells of it must be seen (up to the end of B's name)."""
    text = Text(no_wrap=True, overflow="ellipsis")
    text.append(" dockwire ", style="bold reverse")
    text.append(" ")
    if status.live:
        text.append(label, style="bold")
    else:
        text.append(f" {label} ", style="bold black on yellow")
    if status.daemon == "lost":
        text.append("  ● docker unreachable, reconnecting… ", style="bold white on red")
    elif status.daemon == "up":
        text.append("  ● docker", style="green")
    if status.show_marks:
        text.append("  ")
        text.append(" A ", style="bold reverse green")
        text.append(f" {source or '-'} ", style="bold" if source else "dim")
        text.append("→ ", style="bold")
        text.append(" B ", style="bold reverse magenta")
        cursor = " (cursor)" if status.destination_is_cursor and destination else ""
        text.append(f" {destination or '-'}{cursor}", style="bold" if destination else "dim")
        if status.protocol:
            text.append("  proto ", style="dim")
            text.append(safe(status.protocol), style="bold cyan")
    needed = text.cell_len
    if status.probes_off:
        text.append(f"  probes off: {safe(status.probes_off)}", style="yellow")
    text.append(f"  {status.containers} containers · {status.rules} rules", style="dim")
    return text, needed


def status_text(status: Status, width: int | None = None) -> Text:
    """Most important first, so a narrow terminal cuts the least useful part. Names from the host are
    escaped here; the caller clips them (`formatting.clip`), so a long one cannot push the rest off.

    Given the `width` it is shown in, the line keeps B's name on screen: the source label, then the names
    lose their middle (`dwlab-cu…tom-a`) until the marks fit; what follows them is cut at the edge."""
    full_label, full_source, full_destination = (
        safe(status.label),
        safe(status.source_name),
        safe(status.destination_name),
    )
    text, needed = _assemble(status, full_label, full_source, full_destination)
    if width is None or needed <= width:
        return text
    label = full_label
    for floor in (max(LABEL_CELLS, cell_len(full_label) - (needed - width)), LABEL_CELLS):
        label = middle(full_label, floor)
        text, needed = _assemble(status, label, full_source, full_destination)
        if needed <= width:
            return text
    source_cells, destination_cells = cell_len(full_source), cell_len(full_destination)
    while needed > width and max(source_cells, destination_cells) > NAME_MIN_CELLS:
        # Shorten the longer name a cell at a time (both end up about as long), down to NAME_MIN_CELLS.
        if source_cells >= destination_cells:
            source_cells -= 1
        else:
            destination_cells -= 1
        text, needed = _assemble(
            status, label, middle(full_source, source_cells), middle(full_destination, destination_cells)
        )
    return text


class StatusLine(Static):
    """The status line, fitted to its width again whenever that changes."""

    DEFAULT_CSS = """
    StatusLine { height: 1; background: $panel; }
    """

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.status: Status | None = None

    def show(self, status: Status) -> None:
        self.status = status
        self.update(status_text(status, self.size.width or None), layout=False)  # one row, always

    def on_resize(self) -> None:
        if self.status is not None:
            self.update(status_text(self.status, self.size.width or None), layout=False)
