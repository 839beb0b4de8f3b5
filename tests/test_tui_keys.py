"""The dashboard's keys as k9s and lazydocker users expect them, driven through the Pilot on the recorded lab:
q and escape go back from every screen and dialog (q quits only from the main screen, ctrl+q from anywhere),
g/G/home/end/page keys move the cursors, the 80x24 footer keeps `?` and `q`, `S` saves a screenshot, enter on
a container opens its screen (with only the rules that name its addresses), the `container:X` sidecar is in
the topology, and the probe dialog runs on enter and offers dns."""

from __future__ import annotations

import stat
from collections.abc import AsyncIterator, Iterator
from functools import partial
from pathlib import Path
from typing import Any

import msgspec
import pytest
import pytest_asyncio
from textual.pilot import Pilot
from textual.screen import Screen

from dockwire.model import HostModel, Rule
from dockwire.tui.app import SCREENSHOTS_ENV, DockwireApp
from dockwire.tui.bindings import HELP_SECTIONS, help_text, markdown_keys
from dockwire.tui.container_screen import ContainerScreen
from dockwire.tui.help_screen import HelpScreen
from dockwire.tui.key_footer import KeyFooter
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.tui.probe_dialog import ProbeDialog
from dockwire.widgets.containers import ContainersTable
from dockwire.widgets.detail import rules_naming
from dockwire.widgets.events import EventLog
from dockwire.widgets.firewall import FirewallView
from dockwire.widgets.status_line import StatusLine
from dockwire.widgets.topology import TopologyTree, build_topology
from tests.tui_harness import (
    answered,
    app_of,
    app_on,
    cursor_to,
    fewer_full_collections,
    lab_model,
    mark,
    plain,
    press,
    ready,
    settle,
    type_text,
    until,
)

README = Path(__file__).resolve().parent.parent / "README.md"


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_less_often() -> Iterator[None]:
    with fewer_full_collections():
        yield


def _is_screen(app: DockwireApp, kind: type) -> bool:
    return isinstance(app.screen, kind)


def screen_lines(app: DockwireApp) -> list[str]:
    """The screen as drawn, line by line."""
    return [strip.text for strip in app.screen._compositor.render_strips()]


def notices(app: DockwireApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def exits(pilot: Pilot[Any], app: DockwireApp, key: str) -> None:
    await press(pilot, key)
    await until(pilot, lambda: app.return_code is not None, f"{key} to quit")
    assert app.return_code == 0


# --- the models ------------------------------------------------------------------------------------------


def with_rules(model: HostModel, chain: str, texts: list[str]) -> HostModel:
    """The model with rules of these texts appended to filter/`chain` (IPv4)."""
    tables = []
    for table in model.firewall.tables:
        chains = []
        for c in table.chains:
            if table.family == "ip" and table.name == "filter" and c.name == chain:
                start = len(c.rules)
                added = [
                    Rule(table="filter", chain=chain, position=start + i + 1, text=text, owner="user")
                    for i, text in enumerate(texts)
                ]
                c = msgspec.structs.replace(c, rules=[*c.rules, *added])
            chains.append(c)
        tables.append(msgspec.structs.replace(table, chains=chains))
    return msgspec.structs.replace(model, firewall=msgspec.structs.replace(model.firewall, tables=tables))


# Rules that name dwlab-default-a's 172.17.0.2 (the address, a CIDR holding it, a range holding it) and rules
# that only look alike. All RETURN: they change no verdict.
MINE = [
    "-A DOCKER-USER -s 10.99.0.0/16 -d 172.17.0.2/32 -m comment --comment mine-exact -j RETURN",
    "-A DOCKER-USER -d 172.17.0.0/24 -m comment --comment mine-cidr -j RETURN",
    "-A DOCKER-USER -s 172.17.0.1-172.17.0.9 -m comment --comment mine-range -j RETURN",
]
NOT_MINE = [
    "-A DOCKER-USER -d 172.17.0.20/32 -m comment --comment not-mine-longer -j RETURN",
    "-A DOCKER-USER -s 172.17.0.22 -m comment --comment not-mine-prefix -j RETURN",
    "-A DOCKER-USER -d 10.172.17.0.2 -m comment --comment not-mine-inside -j RETURN",
    "-A DOCKER-USER -s 0.0.0.0/0 -m comment --comment not-mine-everything -j RETURN",
]


def lab_with_rules() -> HostModel:
    return with_rules(lab_model(), "DOCKER-USER", [*MINE, *NOT_MINE])


def renamed(model: HostModel, names: dict[str, str]) -> HostModel:
    containers = [msgspec.structs.replace(c, name=names.get(c.name, c.name)) for c in model.containers]
    return msgspec.structs.replace(model, containers=containers)


# --- one app for the checks that put back what they open --------------------------------------------------


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def shared() -> AsyncIterator[Pilot[None]]:
    """One app on the lab model (with the look-alike rules), started once for the class. Each test leaves
    it on the main screen, without marks or filters."""
    async with app_on(lab_with_rules()).run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        yield pilot


async def on_main(pilot: Pilot[Any]) -> DockwireApp:
    app = app_of(pilot)
    await settle(pilot)
    assert app.screen is app.main_screen and app.return_code is None
    return app


@pytest.mark.asyncio(loop_scope="class")
class TestKeys:
    async def test_q_and_escape_close_every_screen_and_dialog(self, shared: Pilot[None]) -> None:
        app = await on_main(shared)
        main = app.main_screen
        await mark(shared, "dwlab-default-a")
        await cursor_to(shared, "dwlab-default-b")
        openers: list[tuple[tuple[str, ...], type[Screen[Any]]]] = [
            (("question_mark",), HelpScreen),
            (("m",), MatrixScreen),
            (("P",), ProbeDialog),
            (("2", "enter"), ContainerScreen),
        ]
        for keys, kind in openers:
            for back in ("q", "escape"):
                await press(shared, *keys)
                await until(shared, partial(_is_screen, app, kind), kind.__name__)
                await press(shared, back)
                await until(shared, lambda: app.screen is main, f"{back} to close {kind.__name__}")
                assert app.return_code is None
                for worker in app.workers:
                    if worker.group.startswith("matrix"):
                        worker.cancel()  # what the matrix computes is not what this test is about
        await settle(shared)
        assert app.last_outcome is None  # the probe dialog's q and escape cancel: nothing was asked
        await press(shared, "x")

    async def test_q_goes_back_from_any_pushed_screen_and_the_footer_says_so(
        self, shared: Pilot[None]
    ) -> None:
        """The app's own q: Back (not Quit) in the footer of a screen that binds no q itself."""
        app = await on_main(shared)
        assert "q Quit" in screen_lines(app)[-1]
        other = Screen[None]()
        other.compose = lambda: iter([KeyFooter()])  # type: ignore[method-assign]
        await app.push_screen(other)
        await until(shared, lambda: "q Back" in screen_lines(app)[-1], "q Back in the footer")
        await press(shared, "q")
        await until(shared, lambda: app.screen is app.main_screen, "q to go back")
        await until(shared, lambda: "q Quit" in screen_lines(app)[-1], "q Quit in the footer again")

    async def test_escape_on_the_main_screen_still_clears_the_filter_first(self, shared: Pilot[None]) -> None:
        app = await on_main(shared)
        table = app.main_screen.query_one(ContainersTable)
        await press(shared, "2", "slash")
        await type_text(shared, "iso")
        await press(shared, "enter")
        assert table.filter_text == "iso"
        await press(shared, "escape")
        assert table.filter_text == "" and app.screen is app.main_screen and app.return_code is None

    async def test_first_last_and_page_keys_move_the_table_and_tree_cursors(
        self, shared: Pilot[None]
    ) -> None:
        app = await on_main(shared)
        table = app.main_screen.query_one(ContainersTable)
        await press(shared, "2")
        last = table.row_count - 1
        for key, row in (("G", last), ("g", 0), ("end", last), ("home", 0), ("j", 1), ("k", 0)):
            await press(shared, key)
            assert table.cursor_row == row, key
        await press(shared, "pagedown")
        assert 0 < table.cursor_row <= last
        await press(shared, "pageup")
        assert table.cursor_row == 0
        assert table.scroll_x == 0  # home and end no longer scroll sideways

        tree = app.main_screen.query_one(TopologyTree)
        await press(shared, "1")
        assert tree.has_focus
        for key, line in (("G", tree.last_line), ("g", 0), ("end", tree.last_line), ("home", 0)):
            await press(shared, key)
            assert tree.cursor_line == line, key
        await press(shared, "pagedown")
        assert tree.cursor_line > 1
        await press(shared, "pageup")
        assert tree.cursor_line == 0

    async def test_slash_filters_the_topology_tree(self, shared: Pilot[None]) -> None:
        app = await on_main(shared)
        tree = app.main_screen.query_one(TopologyTree)
        await press(shared, "1", "slash")
        box = await type_text(shared, "iso-b")
        assert box.id == "topology-filter"
        await press(shared, "enter")
        labels = [node.label.plain for node in tree._by_key.values()]
        assert any("dwlab-iso-b" in label for label in labels)
        assert not any("dwlab-iso-a" in label or "dwlab-web" in label for label in labels)
        await until(shared, lambda: "dwlab-iso-b" in str(tree.cursor_node.label), "the cursor on the match")
        assert tree.has_focus
        await press(shared, "escape")
        assert tree.filter_text == ""
        assert any("dwlab-web" in node.label.plain for node in tree._by_key.values())

    async def test_n_without_moved_counters_says_so(self, shared: Pilot[None]) -> None:
        app = await on_main(shared)
        await press(shared, "3")
        assert app.main_screen.query_one(FirewallView).has_focus
        await press(shared, "n")
        assert "No counter moved since the last refresh" in notices(app)
        await press(shared, "2")

    async def test_enter_on_a_container_shows_its_networks_and_only_its_rules(
        self, shared: Pilot[None]
    ) -> None:
        app = await on_main(shared)
        await cursor_to(shared, "dwlab-default-a")
        await press(shared, "enter")
        await until(shared, lambda: isinstance(app.screen, ContainerScreen), "the container screen")
        text = plain(app.screen.query_one("#container-detail"), width=400)
        for part in ("Endpoint on bridge", "172.17.0.2/16", "veth", "resolv.conf", "Firewall rules naming"):
            assert part in text, part
        for rule in MINE:
            assert rule in text
        for rule in NOT_MINE:
            assert rule not in text
        await press(shared, "escape")
        assert app.screen is app.main_screen

    async def test_the_sidecar_is_in_view_right_under_the_container_it_shares(
        self, shared: Pilot[None]
    ) -> None:
        app = await on_main(shared)
        tree = app.main_screen.query_one(TopologyTree)
        sidecar, web = app.model.container("dwlab-sidecar"), app.model.container("dwlab-web")
        assert sidecar is not None and web is not None
        nodes = [n for n in tree._by_key.values() if n.data is not None and n.data.ident == sidecar.id]
        assert nodes and all(n.line >= 0 for n in nodes)  # on screen, no fold to open
        assert "(shares dwlab-web's network)" in nodes[0].label.plain
        web_node = next(n for n in tree._by_key.values() if n.data and n.data.ident == web.id)
        assert nodes[0].parent is web_node.parent and nodes[0].line == web_node.line + 1

    async def test_the_probe_dialog_runs_on_enter_from_any_field_and_offers_dns(
        self, shared: Pilot[None]
    ) -> None:
        app = await on_main(shared)
        await mark(shared, "dwlab-default-a")
        await mark(shared, "dwlab-web")
        await press(shared, "P")
        assert isinstance(app.screen, ProbeDialog)
        assert "enter run" in str(app.screen.query_one("Vertical").border_subtitle)
        await press(shared, "enter")  # on the protocol field
        await answered(shared)
        first = app.last_outcome
        assert first is not None and (first.request.proto, first.request.port) == ("tcp", 80)

        await press(shared, "P", "right", "right", "right", "tab")  # tcp → udp → icmp → dns, then the name
        dialog = app.screen
        assert isinstance(dialog, ProbeDialog)
        assert dialog.focused is dialog.query_one("#qname") and not dialog.query_one("#port-row").display
        await press(shared, "enter")
        await answered(shared, after=first)
        outcome = app.last_outcome
        assert outcome is not None
        assert (outcome.request.proto, outcome.request.dst) == ("dns", "name:dwlab-web")
        assert outcome.status == "blocked" and "default bridge" in outcome.summary
        await press(shared, "x", "escape")

    async def test_S_saves_an_svg_and_a_png_and_says_why_not_when_the_directory_is_wrong(
        self, shared: Pilot[None], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        app = await on_main(shared)
        shots = tmp_path / "shots"
        shots.mkdir()
        fake_converter(tmp_path / "bin")
        monkeypatch.setenv("PATH", str(tmp_path / "bin"))
        monkeypatch.setenv(SCREENSHOTS_ENV, str(shots))
        await press(shared, "S")
        await settle(shared)
        (svg,) = shots.glob("*.svg")
        assert svg.name.startswith("dockwire-") and "<svg" in svg.read_text()[:2000]
        assert svg.with_suffix(".png").read_bytes() == svg.read_bytes()

        missing = tmp_path / "missing"
        monkeypatch.setenv(SCREENSHOTS_ENV, str(missing))
        await press(shared, "S")
        assert any(n.endswith(f"not saved: {missing} does not exist") for n in notices(app)), notices(app)
        assert not missing.exists()
        monkeypatch.setenv(SCREENSHOTS_ENV, str(svg))
        await press(shared, "S")
        assert any(n.endswith(f"not saved: {svg} is not a directory") for n in notices(app))

        # s (the JSON snapshot) into a directory that is not there: one clear line too.
        monkeypatch.setattr(app, "snapshot_dir", missing)
        await press(shared, "s")
        await settle(shared)
        assert any(n.endswith(".json not saved: " + f"{missing} does not exist") for n in notices(app))
        assert not missing.exists()
        await on_main(shared)

    async def test_last_ctrl_q_quits_from_a_pushed_screen_and_a_dialog_over_it(
        self, shared: Pilot[None]
    ) -> None:
        """The last of the class: it ends the shared app."""
        app = await on_main(shared)
        await press(shared, "2", "enter", "question_mark")
        await until(shared, lambda: isinstance(app.screen, HelpScreen), "help over the container screen")
        assert isinstance(app.screen_stack[-2], ContainerScreen)
        await exits(shared, app, "ctrl+q")


def fake_converter(bin_dir: Path) -> None:
    """An `rsvg-convert` that copies the SVG to the PNG path (`rsvg-convert -o PNG SVG`)."""
    bin_dir.mkdir()
    script = bin_dir / "rsvg-convert"
    script.write_text('#!/bin/sh\nexec /bin/cp "$3" "$2"\n')
    script.chmod(script.stat().st_mode | stat.S_IXUSR)


# --- an app of its own: a small terminal ------------------------------------------------------------------


async def test_at_80x24_the_footer_keeps_help_and_quit_and_the_header_keeps_bs_name() -> None:
    """The footer drops keys, never `?` and `q`; long names lose their middle, not their end; the events log
    wraps again when the terminal grows; and q quits from the main screen."""
    long_a, long_b = "a-very-long-source-container-name-x1", "the-destination-container-with-a-name-y2"
    model = renamed(lab_model(), {"dwlab-default-a": long_a, "dwlab-default-b": long_b})
    app = app_on(model)
    async with app.run_test(size=(80, 24)) as pilot:
        await ready(pilot)
        lines = screen_lines(app)
        assert "? Help" in lines[-1] and "q Quit" in lines[-1] and "palette" in lines[-1], lines[-1]
        keys = {p.item.key: p for p in app.main_screen.query_one(KeyFooter).placed}
        for key in ("question_mark", "q"):
            assert keys[key].end <= 80 - len("^p palette"), key
        # The first row, under the cursor, and the protocol w, p and t use.
        assert lines[0].rstrip().endswith("-x1 (cursor)  proto icmp"), lines[0]
        await mark(pilot, long_a)
        await mark(pilot, long_b)
        header = screen_lines(app)[0]
        assert "…" in header and header.rstrip().endswith("-y2  proto icmp") and "a-very" in header, header

        log = app.main_screen.query_one(EventLog)
        assert len(log.lines) > 1  # the first line wraps at 80 columns
        await pilot.resize_terminal(160, 24)
        status = app.main_screen.query_one(StatusLine)
        await until(pilot, lambda: long_b in plain(status, width=300), "the whole names at 160 columns")
        assert long_a in plain(status, width=300)
        await until(
            pilot, lambda: log.lines[0].text.rstrip().endswith("firewall rules"), "the log re-wrapped"
        )


# --- no app -----------------------------------------------------------------------------------------------


def test_rules_naming_matches_whole_addresses_and_ranges_holding_them() -> None:
    import ipaddress

    model = lab_with_rules()
    found = [rule.text for _, rule in rules_naming(model.firewall, [ipaddress.ip_address("172.17.0.2")])]
    assert all(text in found for text in MINE)
    assert not any(text in found for text in NOT_MINE)
    # Docker's own: its raw PREROUTING drop for this address, not the one for the next container's.
    assert "-A PREROUTING -d 172.17.0.2/32 ! -i docker0 -j DROP" in found
    assert "-A PREROUTING -d 172.17.0.3/32 ! -i docker0 -j DROP" not in found


def test_the_sidecar_is_built_into_the_topology() -> None:
    spec = build_topology(lab_model())
    labels: list[str] = []
    stack = [spec]
    while stack:
        node = stack.pop()
        labels.append(node.label.plain)
        stack.extend(node.children)
    assert any("dwlab-sidecar" in label and "(shares dwlab-web's network)" in label for label in labels)


def test_the_readme_and_the_help_list_the_same_keys() -> None:
    from dockwire.tui.help_screen import help_body

    assert markdown_keys() in README.read_text()
    rendered = " ".join(plain(type("Body", (), {"content": help_body()})(), width=300).split())
    for _, keys in HELP_SECTIONS:
        for key in keys:
            assert f"{key.key_display} {help_text(key)}" in rendered, key.id
