"""The verdict view and the culprit's readability, driven through the Pilot on the recorded lab model.

dwlab-default-a → dwlab-default-b tcp/80 is dropped by a DOCKER-USER rule in the lab: Enter or z on the
result panel opens that answer full-width, Enter on a blocked matrix cell opens its own; the "◀ dropped here"
marker stays on screen with a 300-character rule (its text loses its middle, never its end); y copies the
fix; escape and q close the view. The culprit's row reads in both themes (WCAG contrast ≥ 4.5:1, measured on
what the screen draws)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from rich.segment import Segment
from rich.style import Style
from textual.geometry import Region
from textual.strip import Strip
from textual.widgets._toast import Toast

from dockwire.answer import Question
from dockwire.model import HostModel
from dockwire.tui.app import DockwireApp
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.tui.verdict_screen import VerdictScreen
from dockwire.widgets.firewall import FirewallView
from dockwire.widgets.formatting import OWNER_CELLS, owner_name, shorten_middle
from dockwire.widgets.matrix import MatrixGrid
from dockwire.widgets.verdict_panel import VerdictPanel, VerdictReport
from tests.tui_harness import (
    answered,
    app_of,
    app_on,
    fewer_full_collections,
    lab_model,
    press,
    ready,
    settle,
    until,
)

BLOCKED = Question("dwlab-default-a", "dwlab-default-b", "tcp", 80)
SHOWN = {"dwlab-default-a", "dwlab-default-b", "dwlab-iso-a", "dwlab-iso-b", "dwlab-web"}
MARKER = "◀ dropped here"
#: WCAG 2 AA for normal text.
AA = 4.5


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_less_often() -> Iterator[None]:
    with fewer_full_collections():
        yield


def with_long_rule(model: HostModel, length: int = 300) -> HostModel:
    """The lab model with the DOCKER-USER rule's comment grown so that its text is `length` characters."""
    tables = []
    for table in model.firewall.tables:
        chains = []
        for chain in table.chains:
            rules = []
            for rule in chain.rules:
                if chain.name == "DOCKER-USER" and "dockwire-lab" in rule.text:
                    grow = "x" * (length - len(rule.text) + len("dockwire-lab"))
                    rule = msgspec.structs.replace(rule, text=rule.text.replace("dockwire-lab", grow))
                    assert len(rule.text) == length
                rules.append(rule)
            chains.append(msgspec.structs.replace(chain, rules=rules))
        tables.append(msgspec.structs.replace(table, chains=chains))
    return msgspec.structs.replace(model, firewall=msgspec.structs.replace(model.firewall, tables=tables))


def screen_lines(app: DockwireApp) -> list[Strip]:
    """What the current screen puts on the terminal, line by line."""
    return app.screen._compositor.render_strips()


def screen_text(app: DockwireApp) -> list[str]:
    return [strip.text for strip in screen_lines(app)]


def region_lines(app: DockwireApp, region: Region) -> list[Strip]:
    """The screen's lines within `region` (a widget's place on the screen)."""
    return [strip.crop(region.x, region.right) for strip in screen_lines(app)[region.y : region.bottom]]


def region_text(app: DockwireApp, region: Region) -> list[str]:
    return [strip.text for strip in region_lines(app, region)]


async def blocked_answer(pilot: Any, app: DockwireApp) -> None:
    """The blocked why, as `w` asks it (the dialog's tcp/80 without the dialog); the firewall pane lights
    and centres the culprit."""
    before = app.last_outcome
    app.start(BLOCKED, active=False)
    await answered(pilot, after=before)
    assert app.last_outcome is not None and app.last_outcome.status == "blocked"


async def open_view(pilot: Any, app: DockwireApp, key: str) -> VerdictScreen:
    panel = app.main_screen.query_one(VerdictPanel)
    panel.focus()
    await until(pilot, lambda: app.main_screen.focused is panel, "the result panel to have the focus")
    await press(pilot, key)
    await until(pilot, lambda: isinstance(app.screen, VerdictScreen), f"{key} to open the verdict view")
    await settle(pilot)
    assert isinstance(app.screen, VerdictScreen)
    return app.screen


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def lab_pilot() -> AsyncIterator[Any]:
    """One app for the tests of a class (each starts on the main screen, at 160x45, in the dark theme):
    the lab model with its DOCKER-USER rule grown to 300 characters, and only the containers the tests ask
    about (so the matrix is quick to compute)."""
    model = with_long_rule(lab_model())
    model = msgspec.structs.replace(model, containers=[c for c in model.containers if c.name in SHOWN])
    app = app_on(model)
    async with app.run_test(size=(160, 45), notifications=True) as pilot:
        await ready(pilot)
        yield pilot


@pytest_asyncio.fixture(loop_scope="class")
async def pilot(lab_pilot: Any) -> Any:
    app = app_of(lab_pilot)
    while app.screen is not app.main_screen:
        app.pop_screen()
        await settle(lab_pilot)
    app.theme = "textual-dark"
    await lab_pilot.resize_terminal(160, 45)
    await until(lab_pilot, lambda: app.size == (160, 45), "the terminal size")
    await settle(lab_pilot)
    return lab_pilot


async def test_without_an_answer_z_still_zooms_the_pane() -> None:
    """The panel's keys act on an answer only; before one, z goes on to the screen (and no view opens)."""
    app = app_on()
    async with app.run_test(size=(100, 30)) as pilot:
        await ready(pilot)
        app.main_screen.query_one(VerdictPanel).focus()
        await press(pilot, "z", "enter")
        assert app.screen is app.main_screen


@pytest.mark.asyncio(loop_scope="class")
class TestVerdictView:
    async def test_enter_and_z_on_the_result_open_the_view_and_escape_and_q_close_it(
        self, pilot: Any
    ) -> None:
        app = app_of(pilot)
        await blocked_answer(pilot, app)
        for key, close in (("enter", "escape"), ("z", "q")):
            view = await open_view(pilot, app, key)
            assert view.outcome is app.last_outcome
            text = "\n".join(screen_text(app))
            assert "✘ BLOCKED" in text and BLOCKED.describe() in text
            assert "filter/DOCKER-USER #1" in text and "dockwire · iptables-nft" in text
            assert "path" in text and "FORWARD in=docker0 out=docker0" in text
            assert "fix  for iptables-nft, the culprit's backend" in text
            await press(pilot, close)
            await until(pilot, lambda: app.screen is app.main_screen, f"{close} to close the view")
            assert app.return_code is None

    @pytest.mark.parametrize("size", [(120, 40), (160, 45), (200, 50)])
    async def test_a_300_character_rule_keeps_its_start_its_target_and_its_marker(
        self, pilot: Any, size: tuple[int, int]
    ) -> None:
        app = app_of(pilot)
        await pilot.resize_terminal(*size)
        await until(pilot, lambda: app.size == size, "the terminal size")
        await blocked_answer(pilot, app)
        culprit = app.last_outcome.culprit if app.last_outcome else None
        assert culprit is not None and len(culprit.text) == 300

        # The firewall pane's culprit row: ✘, the owner's full name, the start, …, the target, the marker.
        pane = app.main_screen.query_one(FirewallView).region
        (row,) = [line for line in region_text(app, pane) if "✘" in line]
        assert MARKER in row and "-j DROP" in row and "…" in row
        assert " dockwire " in row and "dwire" not in row.replace("dockwire", "")
        assert row.index("-s 172.17.0") < row.index("…") < row.index("-j DROP") < row.index(MARKER)

        # The result panel (at 160 columns too, item 4 of the issue).
        result = app.main_screen.query_one(VerdictPanel).region
        assert any(MARKER in line for line in region_text(app, result))

        # The full-width view: the same, with more of the rule.
        await open_view(pilot, app, "enter")
        report = app.screen.query_one(VerdictReport).region
        (line,) = [text for text in region_text(app, report) if MARKER in text]
        assert "-s 172.17.0.2/32 -d 172.17.0.3/32" in line and "…" in line and "-j DROP" in line
        assert line.rstrip(" │").endswith(MARKER)

    async def test_the_fix_is_one_unwrapped_line_a_command(self, pilot: Any) -> None:
        app = app_of(pilot)
        await pilot.resize_terminal(120, 40)
        await until(pilot, lambda: app.size == (120, 40), "the terminal size")
        await blocked_answer(pilot, app)
        view = await open_view(pilot, app, "enter")
        (command,) = view.outcome.fix
        assert len(command) > 300
        body = view.query_one("#report-fix-body")
        # As wide as the command (its block scrolls sideways), one line high.
        assert body.size.height == 1 and body.size.width >= len(command)

    async def test_y_copies_the_fix_and_says_so(self, pilot: Any, monkeypatch: pytest.MonkeyPatch) -> None:
        app = app_of(pilot)
        await blocked_answer(pilot, app)
        copied: list[str] = []
        original = app.copy_to_clipboard

        def spy(text: str) -> None:
            copied.append(text)
            original(text)

        monkeypatch.setattr(app, "copy_to_clipboard", spy)
        view = await open_view(pilot, app, "enter")
        await press(pilot, "y")
        assert copied == ["\n".join(view.outcome.fix)]
        assert copied[0].startswith("iptables -D DOCKER-USER -s 172.17.0.2/32")
        await until(pilot, lambda: bool(app.screen.query(Toast)), "the notification")
        toasts = [str(toast.render()) for toast in app.screen.query(Toast)]
        assert any("Copied the fix command to the clipboard" in toast for toast in toasts)

    async def test_enter_on_a_blocked_matrix_cell_opens_its_verdict(self, pilot: Any) -> None:
        app = app_of(pilot)
        await press(pilot, "m")
        await until(pilot, lambda: isinstance(app.screen, MatrixScreen), "the matrix")
        await settle(pilot)
        matrix = app.screen
        grid = matrix.query_one(MatrixGrid)
        src, dst = app.model.container("dwlab-iso-a"), app.model.container("dwlab-iso-b")
        assert src is not None and dst is not None
        assert grid.cells[(src.id, dst.id)].icmp == "blocked"
        grid.move_cursor(row=grid.order.index(src.id), column=grid.order.index(dst.id) + 1)
        await settle(pilot)
        await press(pilot, "enter")
        await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "enter to open the verdict view")
        await settle(pilot)
        view = app.screen
        assert isinstance(view, VerdictScreen)
        outcome = view.outcome
        assert (outcome.request.src, outcome.request.dst) == ("dwlab-iso-a", "dwlab-iso-b")
        assert outcome.status == "blocked" and outcome is app.last_outcome
        assert any("raw/PREROUTING #" in line for line in screen_text(app))
        assert any(MARKER in line for line in screen_text(app))
        assert matrix.query_one(VerdictPanel).outcome is outcome  # the side panel shows it as well
        await press(pilot, "escape")
        await until(pilot, lambda: app.screen is matrix, "escape to go back to the matrix")

    @pytest.mark.parametrize("theme", ["textual-dark", "textual-light"])
    async def test_the_culprit_reads_in_both_themes(self, pilot: Any, theme: str) -> None:
        """Every cell of the culprit's row (with and without the cursor on it), and the rule with its
        marker in the result panel and the verdict view, has a contrast ratio of at least 4.5:1."""
        app = app_of(pilot)
        app.theme = theme
        await until(pilot, lambda: app.current_theme.name == theme, "the theme")
        await blocked_answer(pilot, app)
        firewall = app.main_screen.query_one(FirewallView)
        row = firewall.culprit_row
        assert row is not None and firewall.highlighted is row  # the cursor sits on the culprit
        measured = {"culprit row, cursor on it": ratios(app, firewall.region, "✘")}
        firewall.move_to(firewall.rows.index(row) - 1)
        await settle(pilot)
        measured["culprit row"] = ratios(app, firewall.region, "✘")
        panel = app.main_screen.query_one(VerdictPanel).region
        measured["result panel rule and marker"] = ratios(app, panel, MARKER)
        await open_view(pilot, app, "enter")
        report = app.screen.query_one(VerdictReport).region
        measured["verdict view rule and marker"] = ratios(app, report, MARKER)
        for where, values in measured.items():
            assert values and min(values) >= AA, (theme, where, values)


def test_shorten_middle_keeps_the_start_and_never_cuts_the_end() -> None:
    text = (
        "-s 172.17.0.2/32 -d 172.17.0.3/32 -p tcp --dport 80 -m comment --comment " + "x" * 250 + " -j DROP"
    )
    for cells in (20, 40, 80, 120):
        short = shorten_middle(text, cells, keep_end="-j DROP")
        assert len(short) <= cells and short.endswith("-j DROP") and short.startswith("-s 172.17")
    assert shorten_middle("short", 10) == "short"


def test_one_owner_name_everywhere() -> None:
    """The firewall pane, the detail pane and the result panel all say "dockwire" (the column fits it)."""
    assert owner_name("dockwire") == "dockwire" and owner_name("firewalld") == "firewalld"
    assert len("firewalld") <= OWNER_CELLS


# --- contrast ---------------------------------------------------------------------------------------------


def luminance(style: Style, background: bool) -> float:
    """The WCAG relative luminance of a style's foreground or background."""
    color = style.bgcolor if background else style.color
    assert color is not None, style
    triplet = color.get_truecolor()

    def channel(value: int) -> float:
        v = value / 255
        return v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(c) for c in triplet)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(segment: Segment) -> float:
    style = segment.style
    assert style is not None and not style.dim, segment
    fg, bg = luminance(style, False), luminance(style, True)
    if style.reverse:
        fg, bg = bg, fg
    light, dark = max(fg, bg), min(fg, bg)
    return (light + 0.05) / (dark + 0.05)


def ratios(app: DockwireApp, region: Region, needle: str, after: str = "") -> list[float]:
    """The contrast of every readable segment (from `after` on) of the one line in `region` showing
    `needle`. Borders and scrollbars are not text."""
    (line,) = [strip for strip in region_lines(app, region) if needle in strip.text]
    found: list[float] = []
    seen = ""
    for segment in line:
        seen += segment.text
        if after in seen and segment.text.strip() and segment.text.strip() not in "│▁▂▃▄▅▆▇█▊▋▌▍▎▏":
            found.append(contrast(segment))
    return found
