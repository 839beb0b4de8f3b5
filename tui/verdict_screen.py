"""The verdict view: one answer full-width, opened by Enter or z on a result panel and by Enter on a matrix
cell. The culprit's marker is always in view, the fix is one unwrapped command a line (y copies it), then
the path, every rule met and the notes. For an allowed flow, a rule that is not on its path comes with what
does stop the flow, and y copies that. Escape or q closes it."""

from __future__ import annotations

from typing import ClassVar

from textual.app import App, ComposeResult
from textual.binding import Binding, BindingType
from textual.content import Content
from textual.screen import Screen

from dockwire.answer import Answer
from dockwire.text import safe
from dockwire.tui.key_footer import KeyFooter
from dockwire.widgets.verdict_panel import VerdictReport, fix_commands, fix_text


class VerdictScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("escape,q", "close", "Back", tooltip="Close the verdict view", id="dockwire.verdict-close"),
        Binding(
            "y",
            "copy_fix",
            "Copy fix",
            tooltip="Copy the fix commands to the clipboard",
            id="dockwire.verdict-copy",
        ),
    ]

    DEFAULT_CSS = """
    VerdictScreen { layout: vertical; }
    VerdictScreen > VerdictReport {
        border: round $panel-lighten-2;
        border-title-style: bold;
        background: $surface;
    }
    VerdictScreen > VerdictReport.-blocked { border: round $error; border-title-color: $text-error; }
    VerdictScreen > VerdictReport.-allowed { border: round $success; border-title-color: $text-success; }
    """

    def __init__(self, outcome: Answer) -> None:
        super().__init__(id="verdict-screen")
        self.outcome = outcome

    def compose(self) -> ComposeResult:
        yield VerdictReport(self.outcome, id="verdict-report")
        yield KeyFooter()

    def on_mount(self) -> None:
        self._frame()
        self.query_one(VerdictReport).focus()

    def show(self, outcome: Answer) -> None:
        """Show another answer in the open view."""
        self.outcome = outcome
        self.query_one(VerdictReport).show(outcome)
        self._frame()
        self.refresh_bindings()

    def _frame(self) -> None:
        report = self.query_one(VerdictReport)
        # Content, not a string: a string title is read as markup, and the names come from the host.
        report.border_title = Content(f"verdict · {safe(self.outcome.request.describe())}")
        report.border_subtitle = ("y copy fix · " if fix_commands(self.outcome) else "") + "escape back"
        report.set_class(self.outcome.status == "blocked", "-blocked")
        report.set_class(self.outcome.status == "allowed", "-allowed")

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "copy_fix":
            return True if fix_commands(self.outcome) else None
        return True

    def action_close(self) -> None:
        self.dismiss(None)

    def action_copy_fix(self) -> None:
        text = fix_text(self.outcome)
        if not text:
            self.notify("This answer has no fix to copy", title="Copy", severity="warning")
            return
        self.app.copy_to_clipboard(text)
        count = len(fix_commands(self.outcome))
        what = "the fix command" if count == 1 else f"the {count} fix commands"
        self.notify(f"Copied {what} to the clipboard", title="Copied", markup=False)


def open_verdict(app: App[object], outcome: Answer) -> None:
    """Show `outcome` in the verdict view (in the one already open, if it is)."""
    if isinstance(app.screen, VerdictScreen):
        app.screen.show(outcome)
    else:
        app.push_screen(VerdictScreen(outcome))
