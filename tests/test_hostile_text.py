"""Everything from the host is text: never markup, never a terminal control, never a layout breaker.

The recorded lab snapshot gets hostile strings in its container, network, interface and chain names, labels,
DNS aliases, images, rule comments and rule texts (`hostile_model`, built here: no binary fixture). Then:

* the real TUI (Pilot): nothing crashes; the strings show literally, controls as escapes (`\\x1b`), in the
  containers table, the topology tree, the detail pane (hostile container, hostile rules), the verdict pane
  after `w`, the matrix, the probe dialog's title, the status line, the events log and a notification;
  no rendered span carries an `@click` action it should not; the panes keep the layout a normal model has;
* the CLI (`why`, `matrix`, the one-line errors): no raw ESC, C1 or bidi character on stdout/stderr, the
  escaped forms instead; `--json` round-trips the original strings.

`CHECKS` counts, per place, the hostile strings found there in their safe form.
"""

from __future__ import annotations

import io
import json
import unicodedata
from collections import Counter
from collections.abc import Iterable
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner
from rich.console import Console
from textual.app import App
from textual.geometry import Region
from textual.markup import MarkupError
from textual.pilot import Pilot
from textual.strip import Strip
from textual.widgets import Label
from textual.widgets._toast import Toast

from dockwire.answer import Question
from dockwire.cli.main import main
from dockwire.model import (
    Bridge,
    Chain,
    Container,
    Endpoint,
    HostModel,
    Interface,
    Match,
    Network,
    Rule,
    Table,
    Target,
    VethPair,
)
from dockwire.snapshot import dumps, load
from dockwire.sources import SnapshotSource
from dockwire.text import UNSAFE_CLASS, has_unsafe, safe, safe_json, safe_lines, shorten
from dockwire.tui import app as app_module
from dockwire.tui.app import DockwireApp
from dockwire.tui.main_screen import MainScreen
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.tui.probe_dialog import ProbeDialog
from dockwire.widgets.containers import ContainersTable
from dockwire.widgets.detail import DetailPane, rule_detail
from dockwire.widgets.events import EventLog
from dockwire.widgets.firewall import FirewallRow, FirewallView
from dockwire.widgets.formatting import NAME_CELLS, clip, rule_body
from dockwire.widgets.matrix import MatrixGrid
from dockwire.widgets.topology import TopologyTree
from dockwire.widgets.verdict_panel import VerdictPanel
from tests.tui_harness import app_on, lab_model, ready, settle, until

# --- the hostile strings -------------------------------------------------------------------------------

CLOSE = "[/]"
K8S = "[k8s] allow dns"
CLICK = "[@click=app.quit]x[/]"
BOLD = "[bold red]x"
OSC = "\x1b]0;pwned\x07"
CSI = "\x1b[2J"
RTL = "\u202egnp.exe"
ZERO_WIDTH = "zero\u200bwidth"
LONG = "L" * 500
NEWLINES = "two\nlines"
HOSTILE = (CLOSE, K8S, CLICK, BOLD, OSC, CSI, RTL, ZERO_WIDTH, LONG, NEWLINES)

#: place -> how many hostile strings were found there, shown safely.
CHECKS: Counter[str] = Counter()

# Where each string goes (several per name, so one name tests several things at once).
NAME_A = f"A{CLICK}{OSC}"
NAME_B = f"B{CLOSE}{RTL}{NEWLINES}"
NAME_WEB = f"web{BOLD}{CSI}{ZERO_WIDTH}"
NAME_LONG = LONG
NAME_ISO = f"iso{K8S}"
NET_CUSTOM = f"net{K8S}{OSC}"
NET_A = "N" * 500
NET_NOICC = f"noicc{CLOSE}{NEWLINES}{RTL}"
NET_INTERNAL = f"int{CLICK}{ZERO_WIDTH}{BOLD}{CSI}"
VETH_A = f"veth{OSC}{CLOSE}"
IFACE_ISO = f"eth0{CSI}{BOLD}"
CHAIN = f"X{BOLD}{OSC}"
HOSTNAME = f"host{OSC}{CLOSE}"
IMAGE = f"img{CLICK}"
ALIAS = f"alias{BOLD}{NEWLINES}"
WARNING = f"warn{CLOSE}{CSI}"
LABEL = "".join(HOSTILE)
SOURCE_LABEL = f"snapshot {OSC}{BOLD}"
#: DOCKER-USER #1 (the culprit of A -> B tcp/80) gets the two comments of the issue; each other string gets
#: a rule of its own that matches nothing the lab sends.
CULPRIT_COMMENT = f"{CLOSE} {K8S}"
RULE_COMMENTS = (CULPRIT_COMMENT, CLICK, BOLD, OSC, CSI, RTL, ZERO_WIDTH, LONG, NEWLINES)

RENAMED = {
    "dwlab-default-a": NAME_A,
    "dwlab-default-b": NAME_B,
    "dwlab-web": NAME_WEB,
    "dwlab-custom-a": NAME_LONG,
    "dwlab-iso-a": NAME_ISO,
}
NETWORKS = {
    "dwlab-custom": NET_CUSTOM,
    "dwlab-net-a": NET_A,
    "dwlab-noicc": NET_NOICC,
    "dwlab-internal": NET_INTERNAL,
}


def seen(place: str, *strings: str) -> None:
    """Count the hostile strings inside the name(s) just checked at `place`."""
    CHECKS[place] += sum(1 for s in strings for h in HOSTILE if h in s)


# --- the fixture generator -------------------------------------------------------------------------------


def _comment_rule(chain: str, position: int, comment: str, n: int) -> Rule:
    return Rule(
        table="filter",
        chain=chain,
        position=position,
        text=f'-A {chain} -s 192.0.2.{n}/32 -m comment --comment "{comment}" -j DROP',
        matches=[
            Match(module="", option="-s", args=[f"192.0.2.{n}/32"]),
            Match(module="comment", option="--comment", args=[comment]),
        ],
        target=Target(name="DROP", kind="verdict"),
        owner="user",
        comment=comment,
    )


def _with_comment(rule: Rule, comment: str) -> Rule:
    text = rule.text.replace("--comment dockwire-lab", f'--comment "{comment}"')
    matches = [
        msgspec.structs.replace(m, args=[comment]) if m.module == "comment" else m for m in rule.matches
    ]
    return msgspec.structs.replace(rule, text=text, comment=comment, matches=matches)


def _hostile_table(table: Table) -> Table:
    if (table.family, table.name) != ("ip", "filter"):
        return table
    chains: list[Chain] = []
    for chain in table.chains:
        if chain.name == "DOCKER-USER":
            first = _with_comment(chain.rules[0], CULPRIT_COMMENT)
            extra = [
                _comment_rule("DOCKER-USER", i, comment, i) for i, comment in enumerate(RULE_COMMENTS[1:], 2)
            ]
            chain = msgspec.structs.replace(chain, rules=[first, *chain.rules[1:], *extra])
        chains.append(chain)
    hostile_chain = Chain(
        name=CHAIN,
        owner="user",
        rules=[
            Rule(
                table="filter",
                chain=CHAIN,
                position=1,
                text=f'-A {CHAIN} -m comment --comment "{CLICK}" -j RETURN',
                matches=[Match(module="comment", option="--comment", args=[CLICK])],
                target=Target(name="RETURN", kind="verdict"),
                owner="user",
                comment=CLICK,
            )
        ],
    )
    return msgspec.structs.replace(table, chains=[*chains, hostile_chain])


def _hostile_endpoint(ep: Endpoint, name: str) -> Endpoint:
    aliases = [*ep.aliases, ALIAS] if name == NAME_A else ep.aliases
    return msgspec.structs.replace(ep, network=NETWORKS.get(ep.network, ep.network), aliases=aliases)


def _hostile_container(c: Container) -> Container:
    name = RENAMED.get(c.name, c.name)
    interfaces, routes = c.interfaces, c.routes
    if c.name == "dwlab-iso-a":
        interfaces = [
            msgspec.structs.replace(i, name=IFACE_ISO) if i.name == "eth0" else i for i in c.interfaces
        ]
        routes = [msgspec.structs.replace(r, dev=IFACE_ISO) if r.dev == "eth0" else r for r in c.routes]
    return msgspec.structs.replace(
        c,
        name=name,
        image=IMAGE if c.name == "dwlab-web" else c.image,
        labels={**c.labels, f"io.hostile{CLOSE}": LABEL},
        endpoints=[_hostile_endpoint(ep, name) for ep in c.endpoints],
        interfaces=interfaces,
        routes=routes,
    )


def hostile_model(base: HostModel | None = None) -> HostModel:
    """The lab model with the hostile strings in every kind of name and text the panes show."""
    model = base or lab_model()
    a = model.container("dwlab-default-a")
    assert a is not None
    old_veth = next(v.host_ifname for v in model.veths if v.container_id == a.id)

    def rename_iface(i: Interface) -> Interface:
        return msgspec.structs.replace(i, name=VETH_A) if i.name == old_veth else i

    def rename_veth(v: VethPair) -> VethPair:
        return msgspec.structs.replace(v, host_ifname=VETH_A) if v.host_ifname == old_veth else v

    def rename_port(b: Bridge) -> Bridge:
        return msgspec.structs.replace(b, ports=[VETH_A if p == old_veth else p for p in b.ports])

    def rename_network(n: Network) -> Network:
        return msgspec.structs.replace(n, name=NETWORKS.get(n.name, n.name), labels={**n.labels, "x": LABEL})

    return msgspec.structs.replace(
        model,
        hostname=HOSTNAME,
        networks=[rename_network(n) for n in model.networks],
        containers=[_hostile_container(c) for c in model.containers],
        host=msgspec.structs.replace(model.host, interfaces=[rename_iface(i) for i in model.host.interfaces]),
        bridges=[rename_port(b) for b in model.bridges],
        veths=[rename_veth(v) for v in model.veths],
        firewall=msgspec.structs.replace(
            model.firewall,
            tables=[_hostile_table(t) for t in model.firewall.tables],
            warnings=[WARNING, *model.firewall.warnings],
        ),
        stale={**model.stale, f"container:{K8S}": f"reason {OSC}"},
    )


@pytest.fixture(scope="module")
def model() -> HostModel:
    return hostile_model()


@pytest.fixture(scope="module")
def snapshot_file(model: HostModel, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile") / "hostile.json"
    path.write_bytes(dumps(model))
    assert load(path) == model  # the generator makes a model a snapshot can carry
    return path


def ids(model: HostModel, *names: str) -> list[str]:
    found = [model.container(n) for n in names]
    assert all(found)
    return [c.id for c in found if c is not None]


# --- dockwire.text ------------------------------------------------------------------------------------


class TestSafe:
    @pytest.mark.parametrize(
        ("raw", "shown"),
        [
            (OSC, "\\x1b]0;pwned\\x07"),
            (CSI, "\\x1b[2J"),
            ("a\tb\nc\rd\x00\x7f", "a\\tb\\nc\\rd\\x00\\x7f"),
            ("\x85\x9b", "\\x85\\x9b"),
            (RTL, "\\u202egnp.exe"),
            ("\u2066x\u2069", "\\u2066x\\u2069"),
            (ZERO_WIDTH, "zero\\u200bwidth"),
            ("\ufeff\u2060\u200f", "\\ufeff\\u2060\\u200f"),
            ("l\u2028p\u2029", "l\\u2028p\\u2029"),
            ("\U000e0041", "\\U000e0041"),
            ("\udcff", "\\udcff"),
        ],
    )
    def test_controls_and_invisible_characters_are_escaped(self, raw: str, shown: str) -> None:
        assert safe(raw) == shown
        assert not has_unsafe(safe(raw))
        assert safe(safe(raw)) == safe(raw)

    @pytest.mark.parametrize(
        "text",
        [
            "dwlab-default-a",
            "café Ünïcødé",
            "漢字コンテナ",
            "emoji 😀🐳",
            "family 👨\u200d👩\u200d👧 and 🏳️\u200d🌈",
            "flag 🏴\U000e0067\U000e0062\U000e0073\U000e0063\U000e0074\U000e007f",
            CLOSE + K8S + CLICK + BOLD,
            "back\\slash",
        ],
    )
    def test_ordinary_text_and_markup_lookalikes_are_kept(self, text: str) -> None:
        assert safe(text) == text

    def test_a_lone_joiner_or_tag_is_still_escaped(self) -> None:
        assert safe("😀\u200d") == "😀\\u200d"
        assert safe("x\U000e0067\U000e007f") == "x\\U000e0067\\U000e007f"

    def test_every_control_and_format_character_of_this_python_is_escaped(self) -> None:
        import re

        unsafe = re.compile(f"[{UNSAFE_CLASS}]")
        missing = [
            hex(c)
            for c in range(0x110000)
            if unicodedata.category(chr(c)) in ("Cc", "Cf", "Zl", "Zp", "Cs") and not unsafe.match(chr(c))
        ]
        assert missing == []

    def test_lines_keep_their_breaks_and_shorten_cuts_with_an_ellipsis(self) -> None:
        assert safe_lines(f"a{OSC}\nb\tc\n") == "a\\x1b]0;pwned\\x07\nb\\tc\n"
        assert shorten(LONG, 10) == "L" * 9 + "…"
        assert shorten(OSC, 40) == safe(OSC)
        assert clip(LONG) == "L" * (NAME_CELLS - 1) + "…"
        assert clip("漢" * 30, 11) == "漢" * 5 + "…"

    def test_json_escapes_what_a_terminal_would_act_on_and_parses_the_same(self) -> None:
        data = msgspec.json.encode([*HOSTILE, "\x7f\x85\ufeff\U000e0041 é 漢 😀"])
        out = safe_json(data)
        assert out.isascii() or not has_unsafe(out.decode())
        assert not has_unsafe(out.decode().replace("\n", ""))
        assert json.loads(out) == json.loads(data) == [*HOSTILE, "\x7f\x85\ufeff\U000e0041 é 漢 😀"]
        assert "é 漢 😀" in out.decode()
        normal = msgspec.json.encode({"name": "dwlab-web", "é": "漢"})
        assert safe_json(normal) is normal


# --- the TUI ------------------------------------------------------------------------------------------


def strips(app: App[Any]) -> list[Strip]:
    """What the current screen puts on the terminal, line by line."""
    return app.screen._compositor.render_strips()


def click_actions(lines: Iterable[Strip]) -> set[str]:
    actions: set[str] = set()
    for strip in lines:
        for segment in strip:
            style = segment.style
            if style is not None and style._meta:
                action = style.meta.get("@click")
                if action is not None:
                    actions.add(str(action))
    return actions


def assert_screen_is_safe(app: App[Any], size: tuple[int, int]) -> str:
    """No raw control or invisible character reaches the terminal, no line is wider than the screen, and
    nothing clickable quits the app. Returns the screen's text."""
    lines = strips(app)
    assert len(lines) == size[1]
    for strip in lines:
        assert strip.cell_length == size[0]
        assert not has_unsafe(strip.text), repr(strip.text)
    assert not any("quit" in action for action in click_actions(lines))
    return "\n".join(strip.text for strip in lines)


def rendered(renderable: Any, width: int = 4000) -> str:
    """The plain text of a renderable, wide enough that no name wraps."""
    console = Console(width=width, record=True, color_system=None, file=io.StringIO())
    console.print(renderable)
    return console.export_text()


def detail_text(app: DockwireApp) -> str:
    return rendered(app.main_screen.query_one(DetailPane).content)


def result_text(app: DockwireApp) -> str:
    return rendered(app.screen.query_one(VerdictPanel).query_one("#verdict-body").content)


def tree_labels(app: DockwireApp) -> list[str]:
    tree = app.main_screen.query_one(TopologyTree)
    nodes, labels = [tree.root], []
    while nodes:
        node = nodes.pop()
        labels.append(node.label.plain)
        nodes.extend(node.children)
    return labels


def is_subject(app: DockwireApp, row: FirewallRow) -> bool:
    return app.main_screen._detail_subject is row


def pane_regions(app: DockwireApp) -> dict[str, Region]:
    panes = ("status", "sysctls", "topology", "containers-box", "firewall-box", "detail", "events")
    return {pane: app.main_screen.query_one(f"#{pane}").region for pane in panes}


async def cursor_on(pilot: Pilot[Any], app: DockwireApp, container_id: str) -> None:
    table = app.main_screen.query_one(ContainersTable)
    table.focus()
    table.move_cursor(row=table.get_row_index(container_id), animate=False)
    screen = app.main_screen
    await until(pilot, lambda: screen._cursor_container == container_id, "the cursor on the container")
    await pilot.pause()


SIZE = (120, 40)


@pytest.fixture(scope="module")
def normal_layout() -> dict[str, Region]:
    """Where the panes sit with the ordinary lab model (the hostile one must not move them)."""
    import asyncio

    async def run() -> dict[str, Region]:
        app = app_on()
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            return pane_regions(app)

    return asyncio.run(run())


class TestTui:
    async def test_the_main_screen_shows_hostile_names_as_text(
        self, model: HostModel, normal_layout: dict[str, Region], tmp_path: Path
    ) -> None:
        app = app_on(source=SnapshotSource(model, SOURCE_LABEL), snapshot_dir=tmp_path / "missing")
        async with app.run_test(size=SIZE, notifications=True) as pilot:
            await ready(pilot)
            screen_text = assert_screen_is_safe(app, SIZE)
            assert pane_regions(app) == normal_layout
            assert safe(SOURCE_LABEL) in screen_text
            seen("status line", SOURCE_LABEL)

            # The containers table: every cell plain Text, long names cut, controls escaped.
            table = app.main_screen.query_one(ContainersTable)
            for name in RENAMED.values():
                (cid,) = ids(model, name)
                cells = table.get_row(cid)
                assert cells[1].plain == clip(name)
                assert not has_unsafe(cells[1].plain)
                seen("containers table", name)
            web = table.get_row(ids(model, NAME_WEB)[0])
            assert "…" not in web[1].plain and BOLD in web[1].plain
            for network in (NET_CUSTOM, NET_NOICC, NET_INTERNAL):
                assert any(clip(network) in str(row[4]) for row in map(table.get_row, table.rows))
                seen("containers table", network)
            assert clip(LONG).endswith("…")

            # The topology tree: names, networks, veths, DNS aliases and the host name.
            labels = "\n".join(tree_labels(app))
            for text in [*RENAMED.values(), *NETWORKS.values(), VETH_A, HOSTNAME]:
                assert clip(text) in labels, text
                seen("topology tree", text)
            assert safe(ALIAS) in labels
            seen("topology tree", ALIAS)

            # The detail pane: the whole name, escaped, on the hostile containers.
            for name in (NAME_A, NAME_LONG, NAME_WEB, NAME_ISO):
                await cursor_on(pilot, app, ids(model, name)[0])
                text = detail_text(app)
                assert safe(name) in text
                seen("detail (container)", name)
            await cursor_on(pilot, app, ids(model, NAME_WEB)[0])
            assert safe(IMAGE) in detail_text(app)
            seen("detail (container)", IMAGE)
            await cursor_on(pilot, app, ids(model, NAME_ISO)[0])
            assert safe(IFACE_ISO) in detail_text(app)
            seen("detail (container)", IFACE_ISO)
            await cursor_on(pilot, app, ids(model, NAME_A)[0])
            text = detail_text(app)
            for part in (VETH_A, ALIAS):
                assert safe(part) in text, part
                seen("detail (container)", part)

            # The firewall pane and the detail of every hostile rule (`[/]` once crashed the app here).
            firewall = app.main_screen.query_one(FirewallView)
            firewall.focus()
            await pilot.pause()
            rows = {
                row.rule.comment: row for row in firewall.rows if row.rule is not None and row.rule.comment
            }
            for comment in RULE_COMMENTS:
                row = rows[comment]
                assert row.rule is not None
                if comment in (CULPRIT_COMMENT, LONG, NEWLINES):  # selected in the pane, the others directly
                    firewall.move_to(firewall.rows.index(row))
                    await until(pilot, partial(is_subject, app, row), "the rule in the detail pane")
                    text = detail_text(app)
                else:
                    text = rendered(rule_detail(row))
                assert safe(comment) in text and safe(row.rule.text) in text
                seen("detail (rule)", comment)
            screen_text = assert_screen_is_safe(app, SIZE)
            chain_row = next(
                i for i, row in enumerate(firewall.rows) if row.chain is not None and row.chain.name == CHAIN
            )
            firewall.move_to(chain_row, center=True)
            await pilot.pause()
            assert safe(CHAIN) in detail_text(app)
            pane = [line[48:] for line in assert_screen_is_safe(app, SIZE).splitlines()]
            assert any(f"▾ {safe(CHAIN)}  · 1 rule" in line for line in pane)
            # Every row of the pane (not only the ones in view): escaped, with the rule's whole body.
            for row in firewall.rows:
                line = "".join(segment.text for segment in firewall._row_segments(row, False))
                assert not has_unsafe(line), line
                if row.rule is not None and row.rule.comment in RULE_COMMENTS:
                    assert safe(rule_body(row.rule)) in line
                    seen("firewall pane", row.rule.comment)
            seen("firewall pane", CHAIN)
            assert safe(WARNING) in screen_text
            seen("sysctl bar", WARNING)

            # P between the two hostile containers: the dialog's title, then the blocked verdict (static:
            # no live host) naming the culprit rule, whose comment is the issue's `[/] [k8s] allow dns`.
            a_id, b_id = ids(model, NAME_A, NAME_B)
            await cursor_on(pilot, app, a_id)
            await pilot.press("space")
            await cursor_on(pilot, app, b_id)
            await pilot.press("space", "P")
            await until(pilot, lambda: isinstance(app.screen, ProbeDialog), "the probe dialog")
            title = app.screen.query_one("Vertical")._border_title
            assert title is not None and title.plain == f"probe {clip(NAME_A)} → {clip(NAME_B)}"
            seen("dialog title", NAME_A, NAME_B)
            assert clip(NAME_A) in assert_screen_is_safe(app, SIZE)
            await pilot.press("ctrl+s")
            await settle(pilot)
            assert app.last_outcome is not None and app.last_outcome.status == "blocked"
            # w: the same question explained; the verdict pane has the names, the rule text and comment.
            await pilot.press("w")
            await settle(pilot)
            assert app.last_outcome is not None and app.last_outcome.mode == "static"
            assert app.last_outcome.status == "blocked" and app.last_outcome.request.port == 80
            text = result_text(app)
            assert safe(NAME_A) in text and safe(NAME_B) in text and safe(CULPRIT_COMMENT) in text
            seen("verdict pane", NAME_A, NAME_B, CULPRIT_COMMENT)
            screen_text = assert_screen_is_safe(app, SIZE)
            assert clip(NAME_A) in screen_text  # the status line's mark
            seen("status line", NAME_A)

            # The dialog's known ports line names the destination too.
            dialog = ProbeDialog(Question(NAME_A, NAME_WEB), ["80/tcp"])
            await app.push_screen(dialog)
            await pilot.pause()
            known = str(dialog.query_one("#known-ports", Label).render())
            assert known == f"ports of {clip(NAME_WEB)}: 80/tcp"
            seen("dialog title", NAME_WEB)
            assert_screen_is_safe(app, SIZE)
            dialog.dismiss(None)
            await until(pilot, lambda: isinstance(app.screen, MainScreen), "the dialog to close")

            # The main screen's pane titles are still ours.
            titles = [app.main_screen.query_one(f"#{p}").border_title for p in ("topology", "detail")]
            assert titles == ["1 topology", "4 detail"]
            assert app.title == "dockwire" and app.sub_title == safe(SOURCE_LABEL)

            # The events log: the source label and the stale part, escaped.
            log = " ".join(strip.text for strip in app.main_screen.query_one(EventLog).lines)
            assert safe(SOURCE_LABEL) in log and safe(K8S) in log and safe(OSC) in log
            seen("events log", SOURCE_LABEL, K8S)

            # A notification naming the host (a snapshot that cannot be written: the file name holds it).
            await pilot.press("s")
            await settle(pilot)
            await until(pilot, lambda: bool(app.screen.query(Toast)), "the snapshot error")
            await pilot.pause()
            toast = str(app.screen.query(Toast).first().render())
            assert safe(HOSTNAME) in toast.replace("\n", "")
            seen("notification", HOSTNAME)
            assert_screen_is_safe(app, SIZE)
            assert isinstance(app.screen, MainScreen) and app.return_code is None

    async def test_the_matrix_shows_hostile_names_as_text(self, model: HostModel) -> None:
        model = msgspec.structs.replace(
            model, containers=[c for c in model.containers if c.name in RENAMED.values()]
        )
        app = app_on(model)
        async with app.run_test(size=SIZE) as pilot:
            await ready(pilot)
            await pilot.press("m")
            await until(pilot, lambda: isinstance(app.screen, MatrixScreen), "the matrix")
            await settle(pilot)
            grid = app.screen.query_one(MatrixGrid)
            for name in RENAMED.values():
                (cid,) = ids(model, name)
                label = grid.get_cell(cid, "__src__").plain
                assert label.endswith(clip(name)), label
                seen("matrix", name)
            assert clip(NAME_A) in assert_screen_is_safe(app, SIZE)
            assert app.return_code is None


# --- a crash of the TUI -----------------------------------------------------------------------------------


class TestCrashExitStatus:
    def test_a_crash_of_the_dashboard_exits_non_zero(
        self, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
    ) -> None:
        """The real app, headless, crashing on the first model (as a MarkupError once did): the command
        exits 1, not 0. (An empty model: Textual prints the crash with every frame's locals.)"""
        snapshot_file = tmp_path / "empty.json"
        snapshot_file.write_bytes(dumps(HostModel()))

        def explode(self: MainScreen, view: object) -> None:
            raise MarkupError("closing tag '[/]' has nothing to close")

        real_run = DockwireApp.run
        monkeypatch.setattr(MainScreen, "show_model", explode)
        monkeypatch.setattr(DockwireApp, "run", lambda self: real_run(self, headless=True))
        result = CliRunner().invoke(main, ["--snapshot", str(snapshot_file)])
        assert result.exit_code == 1, result.output

    def test_a_clean_quit_exits_zero(self, monkeypatch: pytest.MonkeyPatch) -> None:
        class Quits:
            return_code = 0

            def run(self) -> None:
                pass

        monkeypatch.setattr(app_module, "make_app", lambda source: Quits())
        result = CliRunner().invoke(main, ["--demo"])
        assert result.exit_code == 0, result.output


# --- the CLI --------------------------------------------------------------------------------------------


def assert_terminal_safe(text: str) -> None:
    assert not has_unsafe(text.replace("\n", "")), [c for c in text if has_unsafe(c) and c != "\n"]


class TestCli:
    def test_why_prints_names_and_comments_escaped(self, snapshot_file: Path) -> None:
        args = ["why", NAME_A, NAME_B, "--port", "80", "--snapshot", str(snapshot_file)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1, result.output  # blocked by DOCKER-USER #1
        out = result.stdout
        assert_terminal_safe(out)
        assert_terminal_safe(result.stderr)
        assert out.splitlines()[0].startswith(f"BLOCKED  {safe(NAME_A)}")
        assert safe(NAME_B) in out and "\\x1b]0;pwned\\x07" in out and "\\u202e" in out
        assert f'--comment "{CULPRIT_COMMENT}"' in out
        assert safe(K8S) in result.stderr  # the stale part, warned about on stderr
        seen("cli why", NAME_A, NAME_B, CULPRIT_COMMENT)

    def test_why_json_round_trips_the_original_strings(self, snapshot_file: Path) -> None:
        args = ["why", NAME_A, NAME_B, "--port", "80", "--json", "--snapshot", str(snapshot_file)]
        result = CliRunner().invoke(main, args)
        assert result.exit_code == 1
        assert_terminal_safe(result.stdout)
        verdict = json.loads(result.stdout_bytes)
        assert verdict["src"]["label"] == NAME_A and verdict["dst"]["label"] == NAME_B
        assert verdict["culprit"]["text"].endswith(f'--comment "{CULPRIT_COMMENT}" -j DROP')
        seen("cli why --json", NAME_A, NAME_B, CULPRIT_COMMENT)

    def test_matrix_prints_names_escaped_and_json_keeps_them(self, snapshot_file: Path) -> None:
        result = CliRunner().invoke(main, ["matrix", "--snapshot", str(snapshot_file)])
        assert result.exit_code == 0, result.output
        assert_terminal_safe(result.stdout)
        for name in RENAMED.values():
            assert shorten(name, 40) in result.stdout
            seen("cli matrix", name)
        result = CliRunner().invoke(main, ["matrix", "--json", "--snapshot", str(snapshot_file)])
        assert_terminal_safe(result.stdout)
        names = json.loads(result.stdout_bytes)["containers"]
        assert set(RENAMED.values()) <= set(names)
        seen("cli matrix --json", *RENAMED.values())

    def test_the_one_line_error_on_stderr_is_escaped(self, snapshot_file: Path) -> None:
        unknown = f"nobody{OSC}{RTL}"
        result = CliRunner().invoke(main, ["why", unknown, NAME_B, "--snapshot", str(snapshot_file)])
        assert result.exit_code == 2
        err = result.stderr
        assert err.startswith("dockwire: ") and err.count("\n") == 1
        assert_terminal_safe(err)
        assert "nobody" in err
        seen("cli error", unknown)


def test_every_place_was_checked() -> None:
    """Runs last: when the whole file ran, every place saw hostile strings (the counts are in CHECKS)."""
    if len(CHECKS) < 5:
        pytest.skip("only part of the file ran")
    places = {
        "containers table",
        "topology tree",
        "detail (container)",
        "detail (rule)",
        "verdict pane",
        "matrix",
        "dialog title",
        "status line",
        "events log",
        "notification",
        "cli why",
        "cli why --json",
        "cli matrix",
        "cli error",
    }
    assert places <= set(CHECKS), places - set(CHECKS)
    assert sum(CHECKS.values()) >= 60, CHECKS
