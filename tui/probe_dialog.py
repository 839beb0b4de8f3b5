"""The `P` dialog: protocol, port and trace for the next probe."""

from __future__ import annotations

from typing import ClassVar

from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.content import Content
from textual.screen import ModalScreen
from textual.validation import Integer
from textual.widgets import Button, Checkbox, Input, Label, RadioButton, RadioSet

from dockwire.answer import Question
from dockwire.text import safe
from dockwire.widgets.formatting import clip

PROTOCOLS = ("tcp", "udp", "icmp")


class ProbeDialog(ModalScreen[Question | None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape", "cancel", "Cancel", id="dockwire.probe-cancel"),
        Binding("ctrl+s", "run", "Run", id="dockwire.probe-run"),
    ]

    DEFAULT_CSS = """
    ProbeDialog { align: center middle; }
    ProbeDialog > Vertical {
        width: 60; max-width: 100%; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    ProbeDialog RadioSet { layout: horizontal; width: auto; }
    ProbeDialog .row { height: auto; margin-top: 1; }
    ProbeDialog .row Label { width: 10; padding: 1 0 0 0; }
    ProbeDialog #port { width: 14; }
    ProbeDialog #known-ports { width: 1fr; color: $text-muted; padding: 1 0 0 1; }
    ProbeDialog #buttons { height: auto; align-horizontal: right; margin-top: 1; }
    ProbeDialog Button { margin-left: 1; }
    """

    def __init__(self, initial: Question, known_ports: list[str] | None = None) -> None:
        super().__init__()
        self.initial = initial
        self.known_ports = known_ports or []

    def compose(self) -> ComposeResult:
        req = self.initial
        with Vertical() as box:
            # Plain Content: a string here would be read as markup, and the names come from the host.
            box.border_title = Content(f"probe {clip(req.src)} → {clip(req.dst)}")
            with Horizontal(classes="row"):
                yield Label("protocol")
                with RadioSet(id="proto"):
                    for proto in PROTOCOLS:
                        yield RadioButton(proto, value=proto == req.proto, id=f"proto-{proto}")
            with Horizontal(classes="row"):
                yield Label("port")
                yield Input(
                    str(req.port or ""),
                    placeholder="1-65535",
                    id="port",
                    validators=[Integer(minimum=1, maximum=65535)],
                    type="integer",
                )
                known = f"ports of {clip(req.dst)}: {safe(', '.join(self.known_ports))}"
                yield Label(known if self.known_ports else "", id="known-ports", markup=False)
            with Horizontal(classes="row"):
                yield Label("")
                yield Checkbox("trace the path hop by hop", req.trace, id="trace")
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Probe", variant="primary", id="run")

    def on_mount(self) -> None:
        self.query_one("#proto", RadioSet).focus()
        self._sync_port()

    def _proto(self) -> str:
        pressed = self.query_one("#proto", RadioSet).pressed_button
        return str(pressed.label) if pressed is not None else "icmp"

    def _sync_port(self) -> None:
        self.query_one("#port", Input).disabled = self._proto() == "icmp"

    @on(RadioSet.Changed)
    def _proto_changed(self) -> None:
        self._sync_port()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#run")
    @on(Input.Submitted)
    def action_run(self) -> None:
        proto = self._proto()
        port: int | None = None
        if proto != "icmp":
            box = self.query_one("#port", Input)
            if not box.is_valid or not box.value:
                self.notify("Give a port between 1 and 65535", severity="error")
                box.focus()
                return
            port = int(box.value)
        trace = self.query_one("#trace", Checkbox).value
        self.dismiss(Question(self.initial.src, self.initial.dst, proto, port, trace))
