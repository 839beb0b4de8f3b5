"""Enter on a container: its own screen, with its networks and veths, published ports, DNS configuration and
the firewall rules that name its addresses (whole addresses, or a range holding them). Escape or q go back."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import VerticalScroll
from textual.content import Content
from textual.screen import Screen
from textual.widgets import Static

from dockwire.tui.bindings import CONTAINER_KEYS, bindings
from dockwire.tui.key_footer import KeyFooter
from dockwire.tui.messages import ModelShown
from dockwire.widgets.detail import SCROLL_BINDINGS, container_screen_body
from dockwire.widgets.formatting import clip
from dockwire.widgets.status_line import Status, StatusLine

if TYPE_CHECKING:
    from dockwire.tui.app import DockwireApp


class ContainerBody(VerticalScroll):
    """The screen's one pane; j/k/g/G scroll it like the arrows, home/end and the page keys."""

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_BINDINGS

    DEFAULT_CSS = """
    ContainerBody { height: 1fr; border: round $primary; background: $surface; padding: 0 1; }
    ContainerBody > Static { width: 1fr; }
    """


class ContainerScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings(CONTAINER_KEYS)

    def __init__(self, container_id: str) -> None:
        super().__init__(id="container-screen")
        self.container_id = container_id

    @property
    def dw_app(self) -> DockwireApp:
        return self.app

    def compose(self) -> ComposeResult:
        yield StatusLine(id="container-status")
        with ContainerBody(id="container-body"):
            yield Static(id="container-detail")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.dw_app.model_shown.subscribe(self, self.on_model)
        self.show()
        self.query_one(ContainerBody).focus()

    def on_model(self, view: ModelShown) -> None:
        if view.update.parts - {"counters"} or self.is_current:
            self.show()

    def show(self) -> None:
        app = self.dw_app
        model = app.model
        container = model.container(self.container_id)
        body = self.query_one(ContainerBody)
        self.query_one(StatusLine).show(
            Status(
                label=app.source.label,
                live=app.source.live,
                daemon=app.daemon,
                probes_off="",
                containers=len(model.containers),
                rules=sum(len(c.rules) for t in model.firewall.tables for c in t.chains),
                show_marks=False,
            )
        )
        detail = self.query_one("#container-detail", Static)
        if container is None:
            body.border_title = "container gone"
            detail.update(Text("This container is gone from the model (escape goes back).", style="dim"))
            return
        # Plain Content: a string here would be read as markup, and the name comes from the host.
        body.border_title = Content(f"container {clip(container.name)}")
        body.border_subtitle = "esc/q back"
        detail.update(container_screen_body(model, container))

    def action_close(self) -> None:
        self.dismiss(None)
