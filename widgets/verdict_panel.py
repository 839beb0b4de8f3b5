"""The result panel: the newest probe or why: allowed (with RTT), or blocked by a rule, with the fix."""

from __future__ import annotations

from rich.console import Group, RenderableType
from rich.text import Text
from textual.containers import VerticalScroll
from textual.widgets import Static

from dockwire.answer import Answer, Question
from dockwire.text import safe
from dockwire.widgets.formatting import host_text

STATUS_STYLE = {
    "allowed": ("✔ ALLOWED", "bold green"),
    "blocked": ("✘ BLOCKED", "bold red"),
    "uncertain": ("? UNCERTAIN", "bold yellow"),
    "error": ("! ERROR", "bold red"),
}


def render_outcome(outcome: Answer) -> RenderableType:
    """Every string of an answer names things on the host (containers, chains, rule texts, commands): all of
    it is shown escaped, as plain `Text`."""
    title, style = STATUS_STYLE[outcome.status]
    parts: list[RenderableType] = []
    head = Text.assemble((f" {title} ", f"{style} reverse"), " ", (safe(outcome.request.describe()), "bold"))
    if outcome.rtt_ms is not None:
        head.append(f"  rtt {outcome.rtt_ms:.2f} ms", style="bold green")
    parts.append(head)
    if outcome.banner:
        parts.append(Text(f"⚠ {safe(outcome.banner)}", style="bold yellow"))
    else:
        parts.append(Text(safe(outcome.label), style="dim"))
    culprit = outcome.culprit
    if culprit is not None:
        where = host_text(
            ("by ", "bold"), (culprit.title, "bold red"), (f"  {culprit.owner} · {culprit.source}", "dim")
        )
        parts.append(where)
        body = culprit.body if culprit.position is not None else f"the chain's policy: {culprit.effect}"
        parts.append(Text(f"   {safe(body)}", style="red"))
    elif outcome.missing:
        parts.append(host_text(("missing ", "bold"), (outcome.missing, "bold red")))
    if outcome.fix or outcome.fix_note:
        parts.append(Text("fix", style="bold"))
        parts.extend(Text(f"   $ {safe(command)}", style="bold green") for command in outcome.fix)
        if outcome.fix_note:
            parts.append(Text(f"   {safe(outcome.fix_note)}", style="green"))
    parts.append(Text(""))
    parts.append(host_text(("why ", "bold"), (outcome.summary, style if culprit is None else "")))
    if outcome.unknown:
        parts.append(Text(""))
        parts.append(Text("decided by conditions dockwire cannot evaluate", style="bold yellow"))
        parts.extend(host_text("  ? ", (r.title, "yellow"), f"  {r.body}") for r in outcome.unknown)
    if outcome.path:
        parts.append(Text(""))
        parts.append(Text("path", style="bold"))
        for i, hop in enumerate(outcome.path, 1):
            parts.append(Text(f" {i:>2}. {safe(hop)}"))
    if outcome.trace:
        parts.append(Text(""))
        parts.append(Text("trace", style="bold"))
        parts.extend(Text(f"  {safe(hop)}") for hop in outcome.trace)
    if outcome.rules:
        parts.append(Text(""))
        parts.append(Text("rules met", style="bold"))
        for rule in outcome.rules:
            mark = "✘" if rule == culprit else "·"
            parts.append(host_text(f"  {mark} ", (rule.title, "cyan"), f" {rule.effect:<8} {rule.body}"))
    if outcome.notes:
        parts.append(Text(""))
    parts.extend(Text(f"note: {safe(note)}", style="dim italic") for note in outcome.notes)
    return Group(*parts)


def render_pending(request: Question, what: str) -> RenderableType:
    return Text.assemble(("… ", "bold yellow"), (what, "bold"), " ", safe(request.describe()))


def render_idle(reason: str) -> RenderableType:
    lines = [
        Text("No result yet.", style="bold"),
        Text.assemble("1. ", ("space", "bold"), " (or ", ("a", "bold"), ") on a container: the source"),
        Text.assemble("2. ", ("space", "bold"), " (or ", ("b", "bold"), ") on another: the destination"),
        Text.assemble(
            "3. ",
            ("p", "bold"),
            " ping, ",
            ("P", "bold"),
            " tcp/udp/port, ",
            ("t", "bold"),
            " trace, ",
            ("w", "bold"),
            " why",
        ),
    ]
    if reason:
        lines.append(Text(safe(reason), style="yellow"))
    return Group(*lines)


class VerdictPanel(VerticalScroll):
    """Shows the newest outcome; the outcome itself stays available for tests and re-runs."""

    DEFAULT_CSS = """
    VerdictPanel { height: 1fr; }
    VerdictPanel > Static { width: 1fr; }
    VerdictPanel.-blocked { border: round $error; }
    VerdictPanel.-allowed { border: round $success; }
    """

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(Static(render_idle(""), id="verdict-body"), id=id, classes=classes)
        self.outcome: Answer | None = None

    def _body(self) -> Static:
        return self.query_one("#verdict-body", Static)

    def show_idle(self, reason: str) -> None:
        if self.outcome is None:
            self._body().update(render_idle(reason))

    def show_pending(self, request: Question, what: str) -> None:
        self._body().update(render_pending(request, what))
        self.set_class(False, "-blocked")
        self.set_class(False, "-allowed")

    def show_outcome(self, outcome: Answer) -> None:
        self.outcome = outcome
        self._body().update(render_outcome(outcome))
        self.set_class(outcome.status == "blocked", "-blocked")
        self.set_class(outcome.status == "allowed", "-allowed")
        self.scroll_home(animate=False)
