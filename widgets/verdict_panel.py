"""The result panel: the newest probe or why: allowed (with RTT), or blocked by a rule, with the fix; and the
full-width report of one answer that Enter or z on the panel opens (tui/verdict_screen.py shows it). An
allowed answer also shows, in the warning colour, each rule that looks like it protects the flow but is not
on its path ("⚠ not on this path: filter/INPUT #1"), and what does stop the flow.

Colours come from the theme (component classes with `$text-error`, `$error`, ... in DEFAULT_CSS), so the dark
and the light theme both read well; the rendering functions take them as a `Palette` of Rich styles.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.style import Style, StyleType
from rich.text import Text
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import HorizontalScroll, VerticalScroll
from textual.message import Message
from textual.theme import Theme
from textual.widgets import Static

from dockwire.answer import Answer, Bypass, Question, Status
from dockwire.model import RuleRef
from dockwire.text import safe
from dockwire.widgets.formatting import FitLine, host_text, owner_name
from dockwire.widgets.quick_focus import QuickFocus

#: A role ("culprit", "marker", "command", ...) -> its Rich style.
Palette = Mapping[str, StyleType]

#: The styles without a theme (a plain Rich console); on screen the widgets' component classes replace them.
PLAIN_PALETTE: dict[str, StyleType] = {
    "badge-allowed": "bold green reverse",
    "badge-blocked": "bold red reverse",
    "badge-uncertain": "bold yellow reverse",
    "badge-error": "bold red reverse",
    "allowed": "bold green",
    "blocked": "bold red",
    "uncertain": "bold yellow",
    "error": "bold red",
    "culprit": "bold red",
    "rule": "red",
    "marker": "bold red",
    "command": "bold green",
    "good": "green",
    "warn": "bold yellow",
    "bypass": "bold yellow",
    "bypass-rule": "yellow",
    "ref": "cyan",
    "muted": "dim",
    "heading": "bold",
}

STATUS_TITLE: dict[Status, str] = {
    "allowed": "✔ ALLOWED",
    "blocked": "✘ BLOCKED",
    "uncertain": "? UNCERTAIN",
    "error": "! ERROR",
}

#: The marker after the rule that dropped the packet: the firewall pane's words.
DROPPED_HERE = "◀ dropped here"
POLICY_DROPPED = "◀ the policy dropped it"
#: Said before a rule that looks like it protects an allowed flow but is not on its path, and after it.
NOT_ON_PATH = "⚠ not on this path: "
NEVER_SEES = "◀ never sees this flow"


def _style(palette: Palette, role: str) -> Style:
    style = palette.get(role, PLAIN_PALETTE.get(role, ""))
    return Style.parse(style) if isinstance(style, str) else style


def culprit_line(culprit: RuleRef, palette: Palette = PLAIN_PALETTE, indent: str = "   ") -> FitLine:
    """The culprit's rule on one line, whatever the width: its text shortened in the middle (the start and
    the target stay) and the "◀ dropped here" marker always at its end."""
    if culprit.position is not None and not culprit.is_policy:
        body, marker = safe(culprit.body), DROPPED_HERE
    else:
        body, marker = f"the chain's policy: {safe(culprit.effect)}", POLICY_DROPPED
    target = culprit.effect.split()[-1] if culprit.effect else ""
    return FitLine(
        Text(indent),
        Text(body, style=_style(palette, "rule")),
        Text.assemble("  ", (marker, _style(palette, "marker"))),
        keep_end=f"-j {target}" if target else "",
    )


def culprit_where(culprit: RuleRef, palette: Palette = PLAIN_PALETTE) -> Text:
    """`by filter/DOCKER-USER #1  dockwire · iptables-nft`: where the rule is and who wrote it."""
    extra = " · ".join(part for part in (owner_name(culprit.owner), culprit.source) if part)
    return host_text(
        ("by ", _style(palette, "heading")),
        (f"host {culprit.host}: " if culprit.host else "", _style(palette, "culprit")),
        (culprit.title, _style(palette, "culprit")),
        (f"  {extra}", _style(palette, "muted")),
    )


def bypass_parts(
    bypass: Bypass, palette: Palette = PLAIN_PALETTE, commands: bool = True
) -> list[RenderableType]:
    """A rule that looks like it protects the flow but is not on its path: where it is and who wrote it, its
    text with the "never sees this flow" marker in view, why, and (with `commands`) what does stop it."""
    rule = bypass.rule
    extra = " · ".join(part for part in (owner_name(rule.owner), rule.source) if part)
    target = rule.effect.split()[-1] if rule.effect else ""
    parts: list[RenderableType] = [
        host_text(
            (NOT_ON_PATH, _style(palette, "bypass")),
            (rule.title, _style(palette, "bypass")),
            (f"  {extra}", _style(palette, "muted")),
        ),
        FitLine(
            Text("   "),
            Text(safe(rule.body), style=_style(palette, "bypass-rule")),
            Text.assemble("  ", (NEVER_SEES, _style(palette, "bypass"))),
            keep_end=f"-j {target}" if target and rule.text.startswith("-A ") else "",
        ),
        Text(f"   {safe(bypass.why)}"),
    ]
    if commands and (bypass.fix or bypass.fix_note):
        parts.append(Text("   to stop it", style=_style(palette, "heading")))
        parts.extend(Text(f"   $ {safe(c)}", style=_style(palette, "command")) for c in bypass.fix)
        if bypass.fix_note:
            parts.append(Text(f"   {safe(bypass.fix_note)}", style=_style(palette, "good")))
    return parts


def status_head(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> Text:
    head = Text.assemble(
        (f" {STATUS_TITLE[outcome.status]} ", _style(palette, f"badge-{outcome.status}")),
        " ",
        (safe(outcome.request.describe()), _style(palette, "heading")),
    )
    if outcome.rtt_ms is not None:
        head.append(f"  rtt {outcome.rtt_ms:.2f} ms", style=_style(palette, "allowed"))
    return head


def _rules_met(outcome: Answer, palette: Palette) -> list[RenderableType]:
    parts: list[RenderableType] = []
    for rule in outcome.rules:
        mark = "✘" if rule == outcome.culprit else "·"
        mark_style = _style(palette, "marker") if rule == outcome.culprit else ""
        parts.append(
            host_text(
                "  ",
                (mark, mark_style),
                " ",
                (f"host {rule.host}: {rule.title}" if rule.host else rule.title, _style(palette, "ref")),
                f" {rule.effect:<8} {rule.body}",
            )
        )
    return parts


def _path_trace_rules(outcome: Answer, palette: Palette) -> list[RenderableType]:
    """The rules that could not be evaluated, the path hop by hop, the trace and every rule met, each under
    its heading (when there is one)."""
    parts: list[RenderableType] = []
    if outcome.unknown:
        parts.append(Text(""))
        parts.append(Text("decided by conditions dockwire cannot evaluate", style=_style(palette, "warn")))
        parts.extend(
            host_text("  ? ", (r.title, _style(palette, "warn")), f"  {r.body}") for r in outcome.unknown
        )
    sections: list[tuple[str, list[RenderableType]]] = [
        ("path", [Text(f" {i:>2}. {safe(hop)}") for i, hop in enumerate(outcome.path, 1)]),
        ("trace", [Text(f"  {safe(hop)}") for hop in outcome.trace]),
        ("rules met", _rules_met(outcome, palette) if outcome.rules else []),
    ]
    for heading, lines in sections:
        if lines:
            parts.extend([Text(""), Text(heading, style=_style(palette, "heading")), *lines])
    return parts


def fix_heading(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> Text:
    """`fix`, or `fix on host b` when the flow crosses several hosts."""
    head = Text("fix", style=_style(palette, "heading"))
    if outcome.fix_host:
        head.append(f" on host {safe(outcome.fix_host)}", style=_style(palette, "heading"))
    return head


def render_outcome(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> RenderableType:
    """Every string of an answer names things on the host (containers, chains, rule texts, commands): all of
    it is shown escaped, as plain `Text`."""
    parts: list[RenderableType] = [status_head(outcome, palette)]
    if outcome.banner:
        parts.append(Text(f"⚠ {safe(outcome.banner)}", style=_style(palette, "warn")))
    else:
        parts.append(Text(safe(outcome.label), style=_style(palette, "muted")))
    culprit = outcome.culprit
    if culprit is not None:
        parts.append(culprit_where(culprit, palette))
        parts.append(culprit_line(culprit, palette))
    elif outcome.missing:
        parts.append(
            host_text(("missing ", _style(palette, "heading")), (outcome.missing, _style(palette, "culprit")))
        )
    for bypass in outcome.bypassed:
        parts.extend(bypass_parts(bypass, palette))
    if outcome.fix or outcome.fix_note:
        parts.append(fix_heading(outcome, palette))
        parts.extend(
            Text(f"   $ {safe(command)}", style=_style(palette, "command")) for command in outcome.fix
        )
        if outcome.fix_note:
            parts.append(Text(f"   {safe(outcome.fix_note)}", style=_style(palette, "good")))
    parts.append(Text(""))
    why_style = _style(palette, outcome.status) if culprit is None else ""
    parts.append(host_text(("why ", _style(palette, "heading")), (outcome.summary, why_style)))
    parts.extend(_path_trace_rules(outcome, palette))
    if outcome.notes:
        parts.append(Text(""))
    note_style = _style(palette, "muted") + Style(italic=True)
    parts.extend(Text(f"note: {safe(note)}", style=note_style) for note in outcome.notes)
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
            " probe (the status line's proto), ",
            ("P", "bold"),
            " pick proto/port, ",
            ("t", "bold"),
            " trace, ",
            ("w", "bold"),
            " why",
        ),
    ]
    if reason:
        lines.append(Text(safe(reason), style="yellow"))
    return Group(*lines)


# --- the full-width report ----------------------------------------------------------------------------------


def fix_backend(outcome: Answer) -> str:
    """Which backend the fix commands are written for: the culprit's (iptables-nft, iptables-legacy,
    nftables), or "" when the rule's backend is not known (the commands then suit any)."""
    culprit = outcome.culprit
    return culprit.source if culprit is not None else ""


def fix_commands(outcome: Answer) -> tuple[str, ...]:
    """The commands the report's fix block shows and `y` copies: the fix of a blocked flow, or for an allowed
    one what stops it where a rule that is not on its path was meant to."""
    if outcome.fix:
        return outcome.fix
    return tuple(c for b in outcome.bypassed for c in b.fix)


def fix_text(outcome: Answer) -> str:
    """What `y` copies: the fix commands, one a line, exactly as the engine wrote them."""
    return "\n".join(fix_commands(outcome))


def report_head(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> RenderableType:
    """The question, the status and the one-line reason (wrapped: it may be long)."""
    head = status_head(outcome, palette)
    head.append(f"   {safe(outcome.label)}", style=_style(palette, "muted"))
    parts: list[RenderableType] = [head]
    if outcome.banner:
        parts.append(Text(f"⚠ {safe(outcome.banner)}", style=_style(palette, "warn")))
    parts.append(host_text(("why  ", _style(palette, "heading")), outcome.summary))
    return Group(*parts)


def report_culprit(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> RenderableType:
    """The rule that decided, with its marker always in view; or what is missing."""
    culprit = outcome.culprit
    if culprit is not None:
        counters = f" · {culprit.packets} pkts" if culprit.position is not None else ""
        where = culprit_where(culprit, palette)
        where.append(counters, style=_style(palette, "muted"))
        return Group(Text(""), where, culprit_line(culprit, palette))
    if outcome.missing:
        return Group(
            Text(""),
            host_text(
                ("missing  ", _style(palette, "heading")), (outcome.missing, _style(palette, "culprit"))
            ),
        )
    return Text("")


def report_bypassed(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> RenderableType:
    """The rules that look like they protect the (allowed) flow but are not on its path; their commands are
    the report's fix block."""
    parts: list[RenderableType] = []
    for bypass in outcome.bypassed:
        parts.append(Text(""))
        parts.extend(bypass_parts(bypass, palette, commands=False))
    return Group(*parts)


def _has_fix(outcome: Answer) -> bool:
    return bool(outcome.fix or outcome.fix_note or fix_commands(outcome) or _bypass_notes(outcome))


def _bypass_notes(outcome: Answer) -> list[str]:
    return [] if outcome.fix or outcome.fix_note else [b.fix_note for b in outcome.bypassed if b.fix_note]


def report_fix_head(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> RenderableType:
    if not _has_fix(outcome):
        return Text("")
    bypass = not (outcome.fix or outcome.fix_note)
    head = Text.assemble(("to stop it" if bypass else "fix", _style(palette, "heading")))
    if outcome.fix_host and not bypass:
        head.append(f" on host {safe(outcome.fix_host)}", style=_style(palette, "heading"))
    backend = fix_backend(outcome)
    if backend and outcome.fix:
        head.append(f"  for {safe(backend)}, the culprit's backend", style=_style(palette, "muted"))
    if fix_commands(outcome):
        head.append("  ·  y copies it", style=_style(palette, "muted"))
    return Group(Text(""), head)


def report_fix(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> Text:
    """The fix commands, one a line and never wrapped (the block scrolls sideways when one is wider)."""
    lines = Text(no_wrap=True, overflow="ignore", end="")
    for i, command in enumerate(fix_commands(outcome)):
        if i:
            lines.append("\n")
        lines.append(f"   $ {safe(command)}", style=_style(palette, "command"))
    return lines


def report_rest(outcome: Answer, palette: Palette = PLAIN_PALETTE) -> RenderableType:
    """The fix's note, then the path hop by hop, the trace, every rule met and the notes."""
    parts: list[RenderableType] = []
    for note in [outcome.fix_note] if outcome.fix_note else _bypass_notes(outcome):
        parts.append(Text(f"   {safe(note)}", style=_style(palette, "good")))
    parts.extend(_path_trace_rules(outcome, palette))
    if outcome.notes:
        parts.append(Text(""))
        parts.append(Text("notes", style=_style(palette, "heading")))
        parts.extend(Text(f"  {safe(note)}", style=_style(palette, "muted")) for note in outcome.notes)
    return Group(*parts)


# --- widgets ------------------------------------------------------------------------------------------------


class AnswerView(QuickFocus, VerticalScroll):
    """What the result panel and the full report share: the theme's colours for an answer."""

    COMPONENT_CLASSES: ClassVar[set[str]] = {f"answer--{role}" for role in PLAIN_PALETTE}

    DEFAULT_CSS = """
    AnswerView {
        & > .answer--badge-allowed { background: $success; color: auto 100%; text-style: bold; }
        & > .answer--badge-blocked { background: $error-darken-1; color: auto 100%; text-style: bold; }
        & > .answer--badge-uncertain { background: $warning; color: auto 100%; text-style: bold; }
        & > .answer--badge-error { background: $error-darken-1; color: auto 100%; text-style: bold; }
        & > .answer--allowed { color: $text-success; text-style: bold; }
        & > .answer--blocked { color: $text-error; text-style: bold; }
        & > .answer--uncertain { color: $text-warning; text-style: bold; }
        & > .answer--error { color: $text-error; text-style: bold; }
        & > .answer--culprit { color: $text-error; text-style: bold; }
        & > .answer--rule { color: $text-error; }
        & > .answer--marker { color: $text-error; text-style: bold; }
        & > .answer--command { color: $text-success; text-style: bold; }
        & > .answer--good { color: $text-success; }
        & > .answer--warn { color: $text-warning; text-style: bold; }
        & > .answer--bypass { color: $text-warning; text-style: bold; }
        & > .answer--bypass-rule { color: $text-warning; }
        & > .answer--ref { color: $text-primary; }
        & > .answer--muted { color: $text-muted; }
        & > .answer--heading { text-style: bold; }
    }
    """

    def redraw_focus(self) -> None:
        """The focus shows nowhere inside the answer (on the main screen, only in the result pane's border,
        which its restyle redraws)."""

    def palette(self) -> dict[str, StyleType]:
        """The roles' styles from the current theme (only what each component sets: no background but the
        badges')."""
        styles: dict[str, StyleType] = {}
        for role in PLAIN_PALETTE:
            full = self.get_component_rich_style(f"answer--{role}")
            styles[role] = full if role.startswith("badge-") else Style(color=full.color, bold=full.bold)
        return styles

    def on_mount(self) -> None:
        self.app.theme_changed_signal.subscribe(self, self._on_theme_changed)

    def _on_theme_changed(self, theme: Theme) -> None:
        # The new theme's styles are in place by now (the app refreshes its CSS before it says so).
        self.redraw()

    def redraw(self) -> None:
        """Draw the current content again (with the theme's colours)."""


class VerdictPanel(AnswerView):
    """Shows the newest outcome; the outcome itself stays available for tests and re-runs. Enter or z opens
    it full-width."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("enter,z", "full_view", "Full view", tooltip="Open the answer full-width (fix, path, notes)"),
    ]

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
        self._body().update(render_outcome(outcome, self.palette()))
        self.set_class(outcome.status == "blocked", "-blocked")
        self.set_class(outcome.status == "allowed", "-allowed")
        self.scroll_home(animate=False)
        self.refresh_bindings()

    def redraw(self) -> None:
        if self.outcome is not None:
            self._body().update(render_outcome(self.outcome, self.palette()))

    class OpenFull(Message):
        """Enter or z asked for the shown answer full-width (the TUI opens its verdict view)."""

        def __init__(self, answer: Answer) -> None:
            self.answer = answer
            super().__init__()

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "full_view":
            # Without an answer the keys go on to the screen (z maximizes the pane there).
            return self.outcome is not None
        return True

    def action_full_view(self) -> None:
        if self.outcome is not None:
            self.post_message(self.OpenFull(self.outcome))


class VerdictReport(AnswerView):
    """One answer, full-width: question and status, the culprit with its marker, the fix (unwrapped, one
    command a line), the path hop by hop, every rule met and the notes."""

    DEFAULT_CSS = """
    VerdictReport { height: 1fr; padding: 0 1; }
    VerdictReport > Static { width: 1fr; height: auto; }
    VerdictReport > #report-fix { height: auto; overflow-y: hidden; }
    VerdictReport > #report-fix > Static { width: auto; height: auto; }
    """

    def __init__(self, outcome: Answer, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.outcome = outcome

    def compose(self) -> ComposeResult:
        yield Static(id="report-head")
        yield Static(id="report-culprit")
        yield Static(id="report-bypassed")
        yield Static(id="report-fix-head")
        with HorizontalScroll(id="report-fix"):
            yield Static(id="report-fix-body")
        yield Static(id="report-rest")

    def on_mount(self) -> None:
        # (AnswerView's on_mount runs too: Textual calls the handler of every class in the MRO.)
        self.redraw()

    def show(self, outcome: Answer) -> None:
        self.outcome = outcome
        self.redraw()

    def redraw(self) -> None:
        outcome, palette = self.outcome, self.palette()
        self.query_one("#report-head", Static).update(report_head(outcome, palette))
        culprit = self.query_one("#report-culprit", Static)
        culprit.update(report_culprit(outcome, palette))
        culprit.display = outcome.culprit is not None or bool(outcome.missing)
        bypassed = self.query_one("#report-bypassed", Static)
        bypassed.update(report_bypassed(outcome, palette))
        bypassed.display = bool(outcome.bypassed)
        fix_head = self.query_one("#report-fix-head", Static)
        fix_head.update(report_fix_head(outcome, palette))
        fix_head.display = _has_fix(outcome)
        self.query_one("#report-fix").display = bool(fix_commands(outcome))
        self.query_one("#report-fix-body", Static).update(report_fix(outcome, palette))
        self.query_one("#report-rest", Static).update(report_rest(outcome, palette))
