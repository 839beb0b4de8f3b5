"""Every key of the dashboard, as data: the screens' BINDINGS, the help screen and the command palette
are all made from these lists, so they cannot drift apart. Each binding has a stable id for keymaps."""

from __future__ import annotations

from dataclasses import dataclass

from textual.binding import Binding


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

    def binding(self) -> Binding:
        return Binding(
            self.key,
            self.action,
            self.description,
            show=self.show,
            priority=self.priority,
            tooltip=self.help,
            id=f"dockwire.{self.id}",
        )

    @property
    def key_display(self) -> str:
        return self.key.split(",")[0].replace("question_mark", "?").replace("slash", "/")


# fmt: off
APP_KEYS: tuple[Key, ...] = (
    Key("probe", "p", "probe", "Ping", "Ping (ICMP) from the marked source to the destination"),
    Key("probe-options", "P", "probe_options", "Probe…", "Pick protocol, port and trace, then probe"),
    Key("trace", "t", "trace", "Trace", "Trace the path from source to destination, hop by hop"),
    Key("why", "w", "why", "Why", "Explain statically, from the model alone, whether the packet passes"),
    Key("rerun", "r", "rerun", "Re-run", "Run the last probe or why again"),
    Key("matrix", "m", "toggle_matrix", "Matrix", "Reachability of every container pair"),
    Key("save", "s", "save_snapshot", "Save", "Save the model as a snapshot file in the current directory"),
    Key("theme", "T", "toggle_theme", "Theme", "Switch between the dark and the light theme", show=False),
    Key("help", "question_mark", "help", "Help", "Show every key"),
    Key("quit", "q", "quit", "Quit", "Quit dockwire"),
)

MAIN_KEYS: tuple[Key, ...] = (
    Key("mark", "space", "mark", "Mark",
        "Mark the container under the cursor: first the source (A), then the destination (B)", priority=True),
    Key("mark-source", "a", "mark('source')", "Mark A", "Mark the container under the cursor as the source",
        show=False),
    Key("mark-destination", "b", "mark('destination')", "Mark B",
        "Mark the container under the cursor as the destination", show=False),
    Key("clear-marks", "x", "clear_marks", "Unmark", "Clear the marks and the culprit", show=False),
    Key("filter", "slash", "filter", "Filter", "Filter the containers table or the firewall rules"),
    Key("zoom", "z", "zoom", "Zoom", "Maximize the focused pane (escape restores it)", show=False),
    Key("focus-topology", "1", "focus_pane('topology')", "Topology", "Focus the topology tree", show=False),
    Key("focus-containers", "2", "focus_pane('containers')", "Containers", "Focus the table", show=False),
    Key("focus-firewall", "3", "focus_pane('firewall')", "Firewall", "Focus the firewall rules", show=False),
    Key("focus-detail", "4", "focus_pane('detail')", "Detail", "Focus the detail pane", show=False),
    Key("focus-result", "5", "focus_pane('result')", "Result", "Focus the result panel", show=False),
    Key("focus-events", "6", "focus_pane('events')", "Events", "Focus the events log", show=False),
    Key("back", "escape", "back", "Back", "Clear the focused pane's filter, else close the result panel",
        show=False),
)

MATRIX_KEYS: tuple[Key, ...] = (
    Key("matrix-close", "escape", "app.toggle_matrix", "Back", "Back to the main screen", command=False),
)
# fmt: on

#: Keys of the panes themselves (documentation only; the widgets bind them).
PANE_KEYS: tuple[tuple[str, str], ...] = (
    ("↑ ↓ j k", "move the cursor"),
    ("enter", "fold or unfold a firewall table or chain, a tree node"),
    ("← → h l", "scroll sideways (long rules, wide tables)"),
    ("n", "firewall: jump to the next rule whose counters just moved"),
    ("c", "firewall: jump to the rule the last verdict blamed"),
    ("tab / shift+tab", "next / previous pane"),
    ("ctrl+p", "command palette: every action by name"),
    ("mouse", "click to select, wheel to scroll, double-click to fold"),
)


def bindings(keys: tuple[Key, ...]) -> list[Binding]:
    return [k.binding() for k in keys]


HELP_SECTIONS: tuple[tuple[str, tuple[Key, ...]], ...] = (
    ("Probing and everywhere", APP_KEYS),
    ("Main screen", MAIN_KEYS),
    ("Matrix screen", MATRIX_KEYS),
)
