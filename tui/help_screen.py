"""The `?` help screen, made from the same key data as the bindings."""

from __future__ import annotations

from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.screen import ModalScreen
from textual.widgets import Static

from dockwire.tui.bindings import HELP_KEYS, HELP_SECTIONS, PANE_KEYS, bindings, display, help_text
from dockwire.tui.command_parse import VERBS


def help_body(keymap: dict[str, str] | None = None) -> RenderableType:
    """Every key, by section; keys remapped through the app's keymap are shown as remapped."""
    keymap = keymap or {}
    parts: list[RenderableType] = [
        Text("dockwire — why can't container A reach container B?", style="bold"),
        Text(
            "Mark a source and a destination, then p (probe), P (tcp, udp, dns; port), t (trace) or w (why): "
            "they use the protocol the status line shows (proto). Or type : and ask in the CLI's words "
            "(:why web db tcp/80). Enter on a container opens its screen; q goes back, and quits on the main "
            "screen.",
            style="dim",
        ),
        Text(""),
    ]
    for title, keys in HELP_SECTIONS:
        table = Table.grid(padding=(0, 2))
        table.add_column(style="bold cyan", no_wrap=True, min_width=8)
        table.add_column()
        for key in keys:
            remapped = keymap.get(f"dockwire.{key.id}")
            shown = " ".join(display(k) for k in remapped.split(",")) if remapped else key.key_display
            table.add_row(Text(shown), Text(help_text(key)))
        parts += [Text(title, style="bold reverse"), table, Text("")]
    panes = Table.grid(padding=(0, 2))
    panes.add_column(style="bold cyan", no_wrap=True, min_width=8)
    panes.add_column()
    for key, text in PANE_KEYS:
        panes.add_row(Text(key), Text(text))
    parts += [Text("Inside the panes", style="bold reverse"), panes, Text("")]
    commands = Table.grid(padding=(0, 2))
    commands.add_column(style="bold cyan", no_wrap=True, min_width=8)
    commands.add_column()
    for verb in VERBS:
        also = f" (also :{', :'.join(verb.aliases)})" if verb.aliases else ""
        packets = " (sends real packets)" if verb.active else ""
        commands.add_row(Text(f":{verb.usage}"), Text(f"{verb.help}{packets}{also}"))
    parts += [
        Text("Command line (:)", style="bold reverse"),
        Text(
            "SRC and DST as `dockwire why` takes them: a container (name, id prefix, IP), host, a host IP, "
            "outside, outside:ADDR; DST also HOSTIP:PORT, NAME:PORT, name:OTHER. Tab completes, ↑ ↓ recall, "
            "esc closes.",
            style="dim",
        ),
        commands,
    ]
    return Group(*parts)


class HelpScreen(ModalScreen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings(HELP_KEYS)

    DEFAULT_CSS = """
    HelpScreen { align: center middle; }
    HelpScreen > VerticalScroll {
        width: 96; max-width: 100%; height: auto; max-height: 90%;
        border: round $primary; background: $surface; padding: 0 1;
    }
    """

    def compose(self) -> ComposeResult:
        keymap = dict(getattr(self.app, "_keymap", {}) or {})
        with VerticalScroll() as scroll:
            scroll.border_title = "help"
            scroll.border_subtitle = "esc/q close · ↑ ↓ scroll"
            yield Static(help_body(keymap))
