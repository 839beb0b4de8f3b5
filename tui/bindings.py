"""Every key of the dashboard, as data: the screens' BINDINGS, the help screen, the command palette, the
footer and the README's key table are all made from these lists, so they cannot drift apart. Each binding
has a stable id for keymaps.

The footer of every dockwire screen (`key_footer.KeyFooter`) shows the bindings that fit, dropping the least
important ones first (`Key.footer`, `fitting`), so `?` (help) and `q` (quit or back) are there at 80 columns.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from textual.binding import Binding

#: A footer rank for bindings that are not in this file (the widgets' own, Textual's).
DEFAULT_RANK = 4


@dataclass(frozen=True, slots=True)
class Key:
    id: str
    key: str
    action: str
    description: str
    help: str
    show: bool = True
    priority: bool = False
    #: Shown in the command palette (False for pure navigation keys).
    command: bool = True
    #: How long the footer keeps it when space runs out: 0 always, higher ranks go first.
    footer: int = DEFAULT_RANK
    #: Listed in the help and the README (False when another line already says it).
    listed: bool = True

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.description,
            show=self.show,
            # The footer shows one key of a binding: for `escape,q` that is `esc/q`.
            key_display="/".join(display(k) for k in self.key.split(",")) if "," in self.key else None,
            priority=self.priority,
            tooltip=self.help,
            id=f"dockwire.{self.id}",
        )

    @property
    def key_display(self) -> str:
        """Every key of the binding as people write it: `esc q`, `?`, `/`, `ctrl+q`."""
        return " ".join(display(k) for k in self.key.split(","))


_DISPLAY = {
    "question_mark": "?",
    "slash": "/",
    "escape": "esc",
    "pageup": "pgup",
    "pagedown": "pgdn",
    "colon": ":",
}


def display(key: str) -> str:
    return _DISPLAY.get(key, key)


# fmt: off
APP_KEYS: tuple[Key, ...] = (
    Key("probe", "p", "probe", "Probe", "Probe from the marked source to the destination with the protocol "
        "the status line shows (icmp until P, :why or a port mark picks another)", footer=2),
    Key("probe-options", "P", "probe_options", "Probe…",
        "Pick protocol (tcp, udp, icmp, dns), port and trace, then probe", footer=3),
    Key("trace", "t", "trace", "Trace", "Trace the path from source to destination, hop by hop", footer=5),
    Key("why", "w", "why", "Why", "Explain statically, from the model alone, whether the packet passes "
        "(with the protocol the status line shows)", footer=2),
    Key("rerun", "r", "rerun", "Re-run", "Run the last probe or why again", footer=5),
    Key("matrix", "m", "toggle_matrix", "Matrix", "Reachability of every container pair", footer=3),
    Key("save", "s", "save_snapshot", "Save", "Save the model as a snapshot file in the current directory",
        footer=6),
    Key("screenshot", "S", "take_screenshot", "Shot", "Save a screenshot (SVG, and PNG when rsvg-convert or "
        "ImageMagick is installed) in the current directory or $DOCKWIRE_SCREENSHOTS", footer=6),
    Key("theme", "T", "toggle_theme", "Theme", "Switch between the dark and the light theme", show=False),
    Key("help", "question_mark", "help", "Help", "Show every key", footer=0),
    # Two bindings of q, one enabled at a time (DockwireApp.check_action), so the footer names what it does.
    Key("quit", "q", "back_or_quit('quit')", "Quit", "Quit dockwire (on the main screen)", footer=0),
    Key("back-screen", "q", "back_or_quit('back')", "Back",
        "Close the screen or dialog on top (everywhere but the main screen)", command=False, footer=0,
        listed=False),
    Key("force-quit", "ctrl+q", "quit", "Quit now", "Quit dockwire from any screen or dialog", show=False,
        priority=True),
)

MAIN_KEYS: tuple[Key, ...] = (
    Key("mark", "space", "mark", "Mark",
        "Mark the container under the cursor: first the source (A), then the destination (B)", priority=True,
        footer=1),
    Key("mark-source", "a", "mark('source')", "Mark A", "Mark the container under the cursor as the source",
        show=False),
    Key("mark-destination", "b", "mark('destination')", "Mark B",
        "Mark the container (or, in the topology, the published port) under the cursor as the destination",
        show=False),
    Key("clear-marks", "x", "clear_marks", "Unmark", "Clear the marks and the culprit", show=False),
    Key("filter", "slash", "filter", "Filter",
        "Filter the focused list: containers, topology or firewall rules", footer=3),
    Key("command-line", "colon", "command_line", "Command",
        "Open the command line: why, dns, probe, trace, matrix, filter, host, help, quit (tab completes)",
        footer=4),
    Key("zoom", "z", "zoom", "Zoom", "Maximize the focused pane (escape restores it)", show=False),
    Key("focus-topology", "1", "focus_pane('topology')", "Topology", "Focus the topology tree", show=False),
    Key("focus-containers", "2", "focus_pane('containers')", "Containers", "Focus the containers table",
        show=False),
    Key("focus-firewall", "3", "focus_pane('firewall')", "Firewall", "Focus the firewall rules", show=False),
    Key("focus-detail", "4", "focus_pane('detail')", "Detail", "Focus the detail pane", show=False),
    Key("focus-result", "5", "focus_pane('result')", "Result", "Focus the result panel", show=False),
    Key("focus-events", "6", "focus_pane('events')", "Events", "Focus the events log", show=False),
    Key("back", "escape", "back", "Back", "Clear the focused pane's filter, else close the result panel",
        show=False),
    # Ahead of the firewall pane's own `n` only when no counter moved (MainScreen.check_action).
    Key("no-moved", "n", "no_moved", "Next hit", "Firewall: jump to the next rule whose counters just moved",
        priority=True, command=False, listed=False),
)

MATRIX_KEYS: tuple[Key, ...] = (
    Key("matrix-close", "escape,q", "app.toggle_matrix", "Back", "Back to the main screen", command=False,
        footer=0),
    Key("matrix-family", "f", "toggle_family", "IPv4/IPv6",
        "Switch the cells between IPv4 and IPv6 (the containers with an IPv6 address)"),
)

CONTAINER_KEYS: tuple[Key, ...] = (
    Key("container-close", "escape,q", "close", "Back", "Back to the main screen", command=False, footer=0),
)

PROBE_KEYS: tuple[Key, ...] = (
    Key("probe-run", "enter", "run", "Run", "Run the probe, from any field", priority=True),
    Key("probe-run-alt", "ctrl+s", "run", "Run", "Run the probe (as enter)", show=False),
    Key("probe-cancel", "escape,q", "cancel", "Cancel", "Close the dialog without probing"),
)

HELP_KEYS: tuple[Key, ...] = (
    Key("help-close", "escape,q,question_mark", "dismiss", "Close", "Close the help", command=False),
)
# fmt: on

#: Keys of the panes themselves (documentation only; the widgets bind them).
PANE_KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓ j k", "move the cursor (scroll the detail pane and the events log)"),
    ("g G home end", "first / last row"),
    ("pgup pgdn", "a page up / down"),
    ("enter", "containers: open the container's screen; firewall: fold a table or chain; tree: fold a node"),
    ("← → h l", "scroll sideways (long rules, wide tables)"),
    ("n", "firewall: jump to the next rule whose counters just moved"),
    ("c", "firewall: jump to the rule the last verdict blamed"),
    ("tab / shift+tab", "next / previous pane"),
    ("ctrl+p", "command palette: every action by name"),
    ("mouse", "click to select, wheel to scroll, double-click to fold"),
)


def bindings(keys: tuple[Key, ...]) -> list[Binding]:
    return [k.binding() for k in keys]


def listed(keys: tuple[Key, ...]) -> tuple[Key, ...]:
    return tuple(k for k in keys if k.listed)


HELP_SECTIONS: tuple[tuple[str, tuple[Key, ...]], ...] = (
    ("Probing and everywhere", listed(APP_KEYS)),
    ("Main screen", listed(MAIN_KEYS)),
    ("Matrix screen", MATRIX_KEYS),
    ("Container screen (enter on a container)", CONTAINER_KEYS),
    ("Probe dialog (P)", PROBE_KEYS),
    ("Help", HELP_KEYS),
)

#: The one help line of q, which is two bindings.
QUIT_HELP = "Quit dockwire on the main screen; on any other screen or dialog, go back"


def help_text(key: Key) -> str:
    return QUIT_HELP if key.id == "quit" else key.help


def cell_text(text: str) -> str:
    """Text for a Markdown table cell: a `|` would end the cell."""
    return text.replace("|", "\\|")


def markdown_keys() -> str:
    """The README's key table, from the same data as the help screen (a test keeps the README in step)."""
    lines: list[str] = []
    for title, keys in HELP_SECTIONS:
        lines += [f"**{title}**", "", "| key | what it does |", "| --- | --- |"]
        lines += [f"| `{k.key_display}` | {cell_text(help_text(k))} |" for k in keys]
        lines.append("")
    lines += ["**Inside the panes**", "", "| key | what it does |", "| --- | --- |"]
    lines += [f"| `{key}` | {cell_text(text)} |" for key, text in PANE_KEYS]
    return "\n".join(lines) + "\n"


# --- the footer -------------------------------------------------------------------------------------------

_RANKS: dict[str, int] = {
    f"dockwire.{k.id}": k.footer
    for keys in (APP_KEYS, MAIN_KEYS, MATRIX_KEYS, CONTAINER_KEYS, PROBE_KEYS, HELP_KEYS)
    for k in keys
}


def rank(binding: Binding) -> int:
    return _RANKS.get(binding.id or "", DEFAULT_RANK)


def fitting(items: list[tuple[Binding, int]], width: int) -> list[int]:
    """Indexes of the items (binding, cells it takes) to show in `width` cells: all if they fit, else the
    most important ones (lowest rank; among equals, the earlier), in their own order."""
    keep = list(range(len(items)))
    by_loss = sorted(keep, key=lambda i: (rank(items[i][0]), i), reverse=True)
    total = sum(cells for _, cells in items)
    for index in by_loss:
        if total <= width:
            break
        if rank(items[index][0]) == 0:
            continue
        keep.remove(index)
        total -= items[index][1]
    return keep


def footer_text(items: Iterable[tuple[str, str]]) -> str:
    """`key description · …`: a one-line key hint for places without a footer (the probe dialog)."""
    return " · ".join(f"{key} {what}" for key, what in items)
