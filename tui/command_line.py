"""The `:` command line (a k9s habit): one line at the bottom of the dashboard that takes the CLI's words.

`CommandBar` holds a hint line (the command's usage, what can complete the word being typed, or the last
error) over `CommandInput`; tab takes the suggestion shown in the line, up/down recall earlier lines, escape
closes it. The language itself is `command_parse`; what a command does is the caller's `run`.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import ClassVar

from rich.cells import cell_len
from rich.text import Text
from textual import on
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Vertical
from textual.message import Message
from textual.suggester import Suggester
from textual.widgets import Input, Static

from dockwire.model import HostModel
from dockwire.text import safe
from dockwire.tui.command_parse import Command, CommandError, Completion, complete, parse

#: What the line says while empty: how to ask, and that two of its commands send packets.
PLACEHOLDER = "why SRC DST [tcp/80] · dns SRC NAME · probe, trace: SEND REAL PACKETS · tab completes"
#: How many lines the history keeps.
HISTORY = 100


class CommandSuggester(Suggester):
    """The first completion of the word being typed, as the whole line (the input shows the rest dimmed)."""

    def __init__(self, model: Callable[[], HostModel], hosts: Callable[[], Sequence[str]]) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.model = model
        self.hosts = hosts

    async def get_suggestion(self, value: str) -> str | None:
        done = complete(value, self.model(), self.hosts())
        return done.line_with(value, done.words[0]) if done.words else None


class CommandInput(Input):
    """The input of the command line: tab completes, up/down walk the history, escape closes."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter", "submit", "Run"),
        Binding("tab", "complete", "Complete"),
        Binding("up", "history(-1)", "Earlier line", show=False),
        Binding("down", "history(1)", "Later line", show=False),
        Binding("escape", "close", "Close"),
    ]

    def __init__(self, suggester: CommandSuggester, *, id: str | None = None) -> None:
        super().__init__(placeholder=PLACEHOLDER, suggester=suggester, id=id, compact=True)
        self.history: list[str] = []
        self._recalled = 0

    def action_complete(self) -> None:
        """Take the first completion; a complete word gets its space, so the next word's completions show."""
        bar = self._bar()
        if bar is None:
            return
        done = bar.completion(self.value)
        if not done.words:
            return
        word = done.words[0]
        self.value = done.line_with(self.value, word) + ("" if word.endswith(":") else " ")
        self.cursor_position = len(self.value)

    def action_history(self, step: int) -> None:
        if not self.history:
            return
        self._recalled = max(0, min(len(self.history), self._recalled + step))
        self.value = self.history[self._recalled] if self._recalled < len(self.history) else ""
        self.cursor_position = len(self.value)

    def remember(self, line: str) -> None:
        if line and (not self.history or self.history[-1] != line):
            self.history.append(line)
            del self.history[:-HISTORY]
        self._recalled = len(self.history)

    def action_close(self) -> None:
        bar = self._bar()
        if bar is not None:
            bar.close()

    def _bar(self) -> CommandBar | None:
        parent = self.parent
        return parent if isinstance(parent, CommandBar) else None


class CommandBar(Vertical):
    """The hint line and the input; hidden until `open`. `run(command)` does a command and returns "" or,
    when it cannot be done now, why (the line then stays open with its text)."""

    DEFAULT_CSS = """
    CommandBar { height: auto; display: none; background: $boost; }
    CommandBar.-open { display: block; }
    CommandBar #command-hint { height: 1; color: $text-muted; padding: 0 1; }
    CommandBar #command-hint.-error { color: $error; text-style: bold; }
    CommandBar #command-hint.-active { color: $warning; }
    CommandBar CommandInput { height: 1; border: none; }
    """

    def __init__(
        self,
        model: Callable[[], HostModel],
        hosts: Callable[[], Sequence[str]],
        run: Callable[[Command], str],
        *,
        probes_off: Callable[[], str] = lambda: "",
        id: str | None = None,
    ) -> None:
        super().__init__(id=id)
        self.model = model
        self.hosts = hosts
        self.run = run
        self.probes_off = probes_off
        self.error = ""

    def compose(self) -> ComposeResult:
        yield Static("", id="command-hint", markup=False)
        yield CommandInput(CommandSuggester(self.model, self.hosts), id="command-input")

    @property
    def input(self) -> CommandInput:
        return self.query_one(CommandInput)

    @property
    def is_open(self) -> bool:
        return self.has_class("-open")

    def open(self, text: str = "") -> None:
        self.add_class("-open")
        self.error = ""
        self.input.value = text
        self.input.cursor_position = len(text)
        self.input.focus()
        self._show_hint()

    def close(self) -> None:
        """Hide the line and say so (the screen gives the focus back to where it was)."""
        self.remove_class("-open")
        self.error = ""
        self.input.value = ""
        self.post_message(CommandBar.Closed())

    def completion(self, line: str) -> Completion:
        return complete(line, self.model(), self.hosts())

    def show_error(self, message: str) -> None:
        """Say what is wrong with the line, under nothing else: the hint line shows it until the next key."""
        self.error = safe(message)
        self._show_hint()

    @on(Input.Changed, "#command-input")
    def _changed(self, event: Input.Changed) -> None:
        event.stop()
        self.error = ""
        self._show_hint()

    @on(Input.Submitted, "#command-input")
    def _submitted(self, event: Input.Submitted) -> None:
        event.stop()
        line = event.value.strip()
        if not line:
            self.close()
            return
        self.input.remember(line)
        try:
            command = parse(line, self.model(), self.hosts())
        except CommandError as exc:
            self.show_error(str(exc))
            return
        refused = self.run(command)
        if refused:
            self.show_error(refused)
            return
        self.close()

    def _show_hint(self) -> None:
        """The error; else the command's usage (and that it sends packets), the words that complete the one
        being typed, then what the command does if there is room."""
        hint = self.query_one("#command-hint", Static)
        hint.set_class(bool(self.error), "-error")
        hint.set_class(False, "-active")
        if self.error:
            hint.update(Text(f"✘ {self.error}", no_wrap=True, overflow="ellipsis"))
            return
        done = self.completion(self.input.value)
        verb = done.verb
        text = Text(no_wrap=True, overflow="ellipsis")
        if verb is not None:
            text.append(verb.usage, style="bold")
            if verb.active:
                off = self.probes_off()
                text.append("  ⚠ sends real packets" + (f" (disabled: {safe(off)})" if off else ""))
                hint.set_class(True, "-active")
        else:
            text.append("commands:", style="bold")
        room = max(self.size.width, 40) - 2
        for shown, word in enumerate(done.words):
            if text.cell_len + cell_len(word) + 2 > room - 5:
                text.append(f"  +{len(done.words) - shown}", style="dim")
                break
            text.append("  ")
            text.append(safe(word), style="reverse" if shown == 0 else "")
        if verb is not None and text.cell_len + cell_len(verb.help) + 4 <= room:
            text.append(f"   {verb.help}", style="dim")
        hint.update(text)

    class Closed(Message):
        """The command line was closed (the screen gives the focus back)."""
