"""The `P` dialog: protocol, port (or, for dns, the name to look up) and trace for the next probe.

Enter runs it from any field (ctrl+s too), escape or q cancel; the keys are written in the dialog's frame.
"""

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
from dockwire.tui.bindings import PROBE_KEYS, bindings, display, footer_text
from dockwire.widgets.formatting import clip

PROTOCOLS = ("tcp", "udp", "icmp", "dns")
#: How a DNS probe names its destination: the name to look up (as `dockwire why SRC name:OTHER`).
NAME_PREFIX = "name:"

#: The dialog's own keys, in its frame: `enter run · esc cancel`.
KEYS_SHOWN = footer_text((display(k.key.split(",")[0]), k.description.lower()) for k in PROBE_KEYS if k.show)
#: How to move between the fields, under them.
KEY_HINT = footer_text([("← →", "protocol"), ("tab", "next field"), ("space", "tick the box")])
#: What the choice does beyond this probe.
STICKY_HINT = "tcp, udp and icmp stay the protocol of w, p and t (the status line's proto)"


class ProtocolChoice(RadioSet):
    """A radio set whose arrows choose (not only highlight) the protocol, so enter runs what is shown."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("down,right", "choose(1)", "Next protocol", show=False),
        Binding("up,left", "choose(-1)", "Previous protocol", show=False),
    ]

    def action_choose(self, step: int) -> None:
        buttons = list(self.query(RadioButton))
        if buttons:
            now = self.pressed_index
            buttons[(now + step) % len(buttons) if now >= 0 else 0].value = True


class ProbeDialog(ModalScreen[Question | None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings(PROBE_KEYS)

    DEFAULT_CSS = """
    ProbeDialog { align: center middle; }
    ProbeDialog > Vertical {
        width: 60; max-width: 100%; height: auto; border: round $primary; background: $surface; padding: 0 1;
    }
    ProbeDialog RadioSet { layout: horizontal; width: auto; }
    ProbeDialog RadioButton { width: auto; }
    ProbeDialog .row { height: auto; margin-top: 1; }
    ProbeDialog .row Label { width: 10; padding: 1 0 0 0; }
    ProbeDialog #port { width: 14; }
    ProbeDialog #qname { width: 1fr; }
    ProbeDialog #known-ports { width: 1fr; color: $text-muted; padding: 1 0 0 1; }
    ProbeDialog #keys { width: 1fr; color: $text-muted; }
    ProbeDialog #sticky { width: 1fr; color: $text-muted; margin-top: 1; }
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
            box.border_subtitle = Content(KEYS_SHOWN)
            with Horizontal(classes="row"):
                yield Label("protocol")
                with ProtocolChoice(id="proto"):
                    for proto in PROTOCOLS:
                        yield RadioButton(proto, value=proto == req.proto, id=f"proto-{proto}")
            with Horizontal(classes="row", id="port-row"):
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
            with Horizontal(classes="row", id="name-row"):
                yield Label("name")
                # The text is the user's (and the destination's name): an Input shows it as typed, no markup.
                yield Input(req.dst.removeprefix(NAME_PREFIX), placeholder="the name to look up", id="qname")
            with Horizontal(classes="row"):
                yield Label("")
                yield Checkbox("trace the path hop by hop", req.trace, id="trace")
            with Horizontal(classes="row"):
                yield Label("")
                yield Checkbox("IPv6 (dns: ask for AAAA)", req.family == 6, id="ipv6")
            yield Label(STICKY_HINT, id="sticky", markup=False)
            yield Label(KEY_HINT, id="keys", markup=False)
            with Horizontal(id="buttons"):
                yield Button("Cancel", id="cancel")
                yield Button("Probe", variant="primary", id="run")

    def on_mount(self) -> None:
        self.query_one("#proto", RadioSet).focus()
        self._sync_fields()

    def _proto(self) -> str:
        pressed = self.query_one("#proto", RadioSet).pressed_button
        return str(pressed.label) if pressed is not None else "icmp"

    def _sync_fields(self) -> None:
        """Port for tcp and udp, the name for dns; a DNS query is not traced."""
        proto = self._proto()
        self.query_one("#port", Input).disabled = proto in ("icmp", "dns")
        self.query_one("#port-row").display = proto != "dns"
        self.query_one("#name-row").display = proto == "dns"
        self.query_one("#trace", Checkbox).disabled = proto == "dns"

    @on(RadioSet.Changed)
    def _proto_changed(self) -> None:
        self._sync_fields()

    @on(Button.Pressed, "#cancel")
    def action_cancel(self) -> None:
        self.dismiss(None)

    @on(Button.Pressed, "#run")
    @on(Input.Submitted)
    def action_run(self) -> None:
        if self.focused is self.query_one("#cancel"):
            self.dismiss(None)  # enter on Cancel cancels
            return
        proto = self._proto()
        src, dst = self.initial.src, self.initial.dst
        if proto == "dns":
            name = self.query_one("#qname", Input).value.strip()
            if not name:
                self.notify("Give the name to look up", severity="error")
                self.query_one("#qname", Input).focus()
                return
            self.dismiss(Question(src, f"{NAME_PREFIX}{name}", "dns", family=self._family()))
            return
        port: int | None = None
        if proto != "icmp":
            box = self.query_one("#port", Input)
            if not box.is_valid or not box.value:
                self.notify("Give a port between 1 and 65535", severity="error")
                box.focus()
                return
            port = int(box.value)
        trace = self.query_one("#trace", Checkbox).value
        self.dismiss(Question(src, dst, proto, port, trace, self._family()))

    def _family(self) -> int | None:
        """6 when ticked; else what the question had (None: IPv4 unless an address says otherwise)."""
        if self.query_one("#ipv6", Checkbox).value:
            return 6
        return None if self.initial.family == 6 else self.initial.family
