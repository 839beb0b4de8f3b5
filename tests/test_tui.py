"""The dashboard, driven through the Pilot on the recorded lab model: the probe flow, the matrix, live
updates that keep the cursor, the gates on actions, and the palette/help/snapshot chores."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import msgspec
import pytest
import pytest_asyncio
from textual.pilot import Pilot

from dockwire.model import HostModel
from dockwire.snapshot import load
from dockwire.tui.app import DockwireApp
from dockwire.tui.help_screen import HelpScreen
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.tui.probe_dialog import ProbeDialog
from dockwire.widgets.containers import ContainersTable, Marks
from dockwire.widgets.events import EventLog
from dockwire.widgets.firewall import FirewallView
from dockwire.widgets.matrix import MatrixCell, MatrixGrid
from dockwire.widgets.status_line import StatusLine
from dockwire.widgets.topology import TopologyTree
from dockwire.widgets.verdict_panel import VerdictPanel
from tests.test_tui_keys import with_rules
from tests.tui_harness import (
    LiveFlaggedSnapshot,
    ScriptedSource,
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


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_less_often() -> Iterator[None]:
    with fewer_full_collections():
        yield


def log_text(app: DockwireApp) -> str:
    """The events log as one line (wrapped lines joined, runs of spaces collapsed)."""
    return " ".join(" ".join(strip.text for strip in app.main_screen.query_one(EventLog).lines).split())


def result_text(app: DockwireApp) -> str:
    return plain(app.screen.query_one(VerdictPanel).query_one("#verdict-body"))


def container_id(model: HostModel, name: str) -> str:
    container = model.container(name)
    assert container is not None
    return container.id


class TestMarkingByKeys:
    async def test_slash_finds_a_container_space_marks_it_and_escape_keeps_the_mark(self) -> None:
        """The path a user takes, every step a key: 2 and / open the containers filter, typing narrows the
        table to the match, enter hands the cursor back to the table, space marks A there, escape clears
        the filter with the cursor (and the mark) still on A; b marks the container under the cursor as B.
        The other tests put the cursor on a row through the table (`mark`) and press only the mark key."""
        model = lab_model()
        app = app_on(model)
        a, b = container_id(model, "dwlab-default-a"), container_id(model, "dwlab-default-b")
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            screen = app.main_screen
            table = screen.query_one(ContainersTable)
            await press(pilot, "2", "slash")
            box = await type_text(pilot, "default-a")
            assert box.id == "containers-filter"
            await press(pilot, "enter")
            assert table.filter_text == "default-a"
            assert [row.key.value for row in table.ordered_rows] == [a]
            assert screen.focused is table and table.highlighted_id == a
            await press(pilot, "space")
            assert screen.marks == Marks(source=a)
            await press(pilot, "escape")
            assert table.filter_text == "" and table.row_count == len(model.containers)
            assert not box.display
            assert table.highlighted_id == a
            assert str(table.get_cell(a, "mark")) == "A"
            await mark(pilot, "dwlab-default-b", key="b")
            assert screen.marks == Marks(source=a, destination=b)
            assert str(table.get_cell(b, "mark")) == "B"
            status = plain(screen.query_one(StatusLine))
            assert "dwlab-default-a" in status and "dwlab-default-b" in status


class TestProbeFlow:
    async def test_blocked_tcp_probe_highlights_the_culprit_rule_and_shows_the_fix(self) -> None:
        """Mark A and B, P -> tcp/80: the DOCKER-USER rule is the culprit, the firewall pane sits on it,
        and the result panel names it with the fix (static, since the demo has no live host)."""
        app = app_on()
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await mark(pilot, "dwlab-default-a")
            await mark(pilot, "dwlab-default-b")
            await press(pilot, "P")
            assert isinstance(app.screen, ProbeDialog)
            await press(pilot, "ctrl+s")
            await answered(pilot)
            outcome = app.main_screen.query_one(VerdictPanel).outcome
            assert outcome is not None
            assert outcome.request.proto == "tcp" and outcome.request.port == 80
            assert outcome.status == "blocked"
            assert outcome.culprit is not None
            assert (outcome.culprit.table, outcome.culprit.chain, outcome.culprit.position) == (
                "filter",
                "DOCKER-USER",
                1,
            )
            firewall = app.main_screen.query_one(FirewallView)
            culprit = firewall.culprit_row
            assert culprit is not None and culprit.rule is not None
            assert (culprit.rule.chain, culprit.rule.position) == ("DOCKER-USER", 1)
            assert firewall.highlighted is culprit
            text = result_text(app)
            assert "filter/DOCKER-USER #1" in text
            assert "$ iptables -D DOCKER-USER" in text
            assert "static verdict" in text
            assert "blocked by filter/DOCKER-USER #1" in log_text(app)

    async def test_why_names_the_isolation_drop_and_the_connect_fix(self) -> None:
        """w between isolated networks: the raw PREROUTING drop, and `docker network connect` as the fix."""
        app = app_on()
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await mark(pilot, "dwlab-iso-a")
            await mark(pilot, "dwlab-iso-b")
            await press(pilot, "w")
            await answered(pilot)
            outcome = app.last_outcome
            assert outcome is not None and outcome.mode == "static" and outcome.status == "blocked"
            assert outcome.culprit is not None and outcome.culprit.chain == "PREROUTING"
            row = app.main_screen.query_one(FirewallView).culprit_row
            assert row is not None and row.rule is not None and row.table.name == "raw"
            assert "docker network connect dwlab-net-b dwlab-iso-a" in result_text(app)

    async def test_ping_in_demo_mode_is_the_static_verdict_and_says_so(self) -> None:
        """p without a live host: an ICMP verdict, labelled as static, and no culprit when it passes."""
        app = app_on()
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await mark(pilot, "dwlab-default-a")
            await mark(pilot, "dwlab-default-b")
            await press(pilot, "p")
            await answered(pilot)
            outcome = app.last_outcome
            assert outcome is not None
            assert outcome.status == "allowed" and outcome.culprit is None
            assert "no packet was sent" in outcome.banner
            assert app.main_screen.query_one(FirewallView).culprit_row is None
            assert "icmp: allowed" in log_text(app)

    async def test_the_cursor_stands_in_for_an_unmarked_destination_and_r_reruns(self) -> None:
        """With only A marked, p probes the container under the cursor; r repeats the last request."""
        app = app_on()
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await mark(pilot, "dwlab-noicc-a")
            await cursor_to(pilot, "dwlab-noicc-b")
            await press(pilot, "w")
            await answered(pilot)
            first = app.last_outcome
            assert first is not None and first.request.dst == "dwlab-noicc-b" and first.status == "blocked"
            await press(pilot, "r")
            await answered(pilot, after=first)
            assert app.last_outcome is not first
            assert app.last_outcome == first
            assert log_text(app).count("dwlab-noicc-a → dwlab-noicc-b icmp: blocked") == 2


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def demo_pilot() -> AsyncIterator[Pilot[None]]:
    """One app on the lab model for checks that only look (and put back what they open): started once."""
    async with app_on().run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        yield pilot


@pytest.mark.asyncio(loop_scope="class")
class TestWhatTheAppOffers:
    """Checks that only look, on one shared app (`demo_pilot`): none marks, filters or moves the focus,
    none gets anything run (p with nothing marked only says how to mark), and help is closed again; so each
    test sees the app as it opened, in any order (the notifications they look at are their own)."""

    async def test_probing_without_a_source_explains_how_to_mark(self, demo_pilot: Pilot[None]) -> None:
        app = app_of(demo_pilot)
        assert app.main_screen.marks == Marks()
        before = list(app._notifications)
        await press(demo_pilot, "p")
        await settle(demo_pilot)
        assert app.last_outcome is None
        assert any("Mark a source" in str(n.message) for n in app._notifications if n not in before)

    async def test_help_lists_every_probe_key(self, demo_pilot: Pilot[None]) -> None:
        app = app_of(demo_pilot)
        await press(demo_pilot, "question_mark")
        assert isinstance(app.screen, HelpScreen)
        text = plain(app.screen.query_one("Static"))
        for fragment in (
            "Probe from the marked source",
            "Pick protocol",
            "Explain statically",
            "Run the last probe",
        ):
            assert fragment in text
        await press(demo_pilot, "escape")
        assert app.screen is app.main_screen

    async def test_the_palette_offers_why_and_the_matrix(self, demo_pilot: Pilot[None]) -> None:
        from dockwire.tui.commands import DockwireCommands

        app = app_of(demo_pilot)
        provider = DockwireCommands(app.screen)
        titles = [title for title, _, _ in provider._entries()]
        assert "Why (w)" in titles and "Matrix (m)" in titles and "Mark (space)" in titles


class TestGates:
    async def test_without_root_on_a_live_host_probes_are_disabled_with_the_reason(self) -> None:
        model = lab_model()
        app = app_on(source=LiveFlaggedSnapshot(model, "live · test"), root=False)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            assert app.check_action("probe", ()) is None
            assert app.check_action("trace", ()) is None
            assert app.check_action("why", ()) is True
            status = plain(app.main_screen.query_one(StatusLine))
            assert "probes off: not root" in status
            await mark(pilot, "dwlab-iso-a")
            await mark(pilot, "dwlab-iso-b")
            await press(pilot, "p")
            await settle(pilot)
            assert app.last_outcome is None
            await press(pilot, "w")
            await answered(pilot)
            assert app.last_outcome is not None and app.last_outcome.status == "blocked"


@pytest_asyncio.fixture(scope="class", loop_scope="class")
async def matrix_pilot() -> AsyncIterator[Pilot[None]]:
    """One app for the matrix tests; `on_matrix` opens the matrix (m) before each of them."""
    async with app_on().run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        yield pilot


@pytest_asyncio.fixture(loop_scope="class")
async def on_matrix(matrix_pilot: Pilot[None]) -> Pilot[None]:
    """The shared app with the matrix screen open and every cell (and the highlighted cell's why) computed.
    The matrix is computed once: reopening it with an unchanged model does not recompute it."""
    app = app_of(matrix_pilot)
    if not isinstance(app.screen, MatrixScreen):
        await press(matrix_pilot, "m")
        await until(matrix_pilot, lambda: isinstance(app.screen, MatrixScreen), "the matrix screen")
    await settle(matrix_pilot)
    return matrix_pilot


@pytest.mark.asyncio(loop_scope="class")
class TestMatrix:
    async def test_matrix_marks_blocked_and_allowed_pairs(self, on_matrix: Pilot[None]) -> None:
        """The grid agrees with the lab's scenarios: isolation and no-icc block ICMP, the default bridge
        and the internal network pass it, dwlab-web's published port is reachable from its bridge."""
        app = app_of(on_matrix)
        model = app.model
        assert isinstance(app.screen, MatrixScreen)
        grid = app.screen.query_one(MatrixGrid)

        def cell(a: str, b: str) -> MatrixCell:
            return grid.cells[(container_id(model, a), container_id(model, b))]

        assert cell("dwlab-iso-a", "dwlab-iso-b").icmp == "blocked"
        assert cell("dwlab-noicc-a", "dwlab-noicc-b").icmp == "blocked"
        assert cell("dwlab-default-a", "dwlab-default-b").icmp == "allowed"
        assert cell("dwlab-internal-a", "dwlab-internal-b").icmp == "allowed"
        assert cell("dwlab-default-a", "dwlab-web").ports_status == "allowed"
        assert cell("dwlab-none", "dwlab-web").icmp == "blocked"

    async def test_selecting_a_cell_shows_its_why(self, on_matrix: Pilot[None]) -> None:
        app = app_of(on_matrix)
        model = app.model
        grid = app.screen.query_one(MatrixGrid)
        panel = app.screen.query_one(VerdictPanel)
        src, dst = container_id(model, "dwlab-iso-a"), container_id(model, "dwlab-iso-b")
        grid.move_cursor(row=grid.order.index(src), column=grid.order.index(dst) + 1)
        await until(
            on_matrix,
            lambda: (
                panel.outcome is not None
                and (panel.outcome.request.src, panel.outcome.request.dst) == ("dwlab-iso-a", "dwlab-iso-b")
            ),
            "the why of the selected cell",
        )
        await settle(on_matrix)
        outcome = app.screen.query_one(VerdictPanel).outcome
        assert outcome is not None
        assert (outcome.request.src, outcome.request.dst) == ("dwlab-iso-a", "dwlab-iso-b")
        assert outcome.status == "blocked"
        await press(on_matrix, "escape")
        assert app.screen is app.main_screen


class TestLiveUpdates:
    async def test_counter_refresh_keeps_cursor_and_lights_moved_rules(self) -> None:
        """A counters-only update changes numbers in place: same rows, same cursor, moved rules lit."""
        model = lab_model()
        source = ScriptedSource()
        app = app_on(source=source)
        async with app.run_test(size=(120, 40)) as pilot:
            source.push(model)
            await ready(pilot)
            firewall = app.main_screen.query_one(FirewallView)
            firewall.focus()
            await until(pilot, lambda: firewall.has_focus, "the firewall pane to have the focus")
            while firewall.highlighted is None or firewall.highlighted.rule is None:
                await press(pilot, "down")
            before = firewall.highlighted
            assert before is not None and before.rule is not None
            rows_before = len(firewall.rows)
            bumped = bump_counters(model, before.rule.chain, before.rule.position)
            source.push(bumped, parts=("counters",))
            await ready(pilot, generation=2)
            after = firewall.highlighted
            assert after is not None and after.key == before.key
            assert after.rule is not None and after.rule.packets == before.rule.packets + 7
            assert len(firewall.rows) == rows_before
            assert before.key in firewall._moved_at

    async def test_each_pane_follows_the_parts_it_is_drawn_from(self) -> None:
        """A host netlink update redraws the tree (a veth gone), a firewall update the firewall pane (a
        rule added): each pane follows its own parts of an update, whichever update brings them."""
        model = lab_model()
        pair = next(v for v in model.veths if v.container_id)
        no_veth = msgspec.structs.replace(model, veths=[v for v in model.veths if v != pair])
        more_rules = with_rules(no_veth, "FORWARD", ["-A FORWARD -s 198.51.100.7/32 -j DROP"])
        source = ScriptedSource()
        app = app_on(source=source)
        async with app.run_test(size=(160, 50)) as pilot:
            source.push(model)
            await ready(pilot)
            tree = app.main_screen.query_one(TopologyTree)
            firewall = app.main_screen.query_one(FirewallView)

            def veth_shown() -> bool:
                return any(
                    n.data is not None and n.data.ident == pair.host_ifname for n in tree._by_key.values()
                )

            assert veth_shown()
            rules_before = firewall.rule_count
            source.push(no_veth, parts=("netlink",))
            await ready(pilot, generation=2)
            assert not veth_shown()
            assert firewall.rule_count == rules_before
            source.push(more_rules, parts=("firewall",))
            await ready(pilot, generation=3)
            assert firewall.rule_count == rules_before + 1

    async def test_a_new_container_is_added_without_moving_the_cursor(self) -> None:
        model = lab_model()
        fewer = msgspec.structs.replace(
            model, containers=[c for c in model.containers if c.name != "dwlab-web"]
        )
        source = ScriptedSource()
        app = app_on(source=source)
        async with app.run_test(size=(120, 40)) as pilot:
            source.push(fewer)
            await ready(pilot)
            await press(pilot, "2", "down", "down", "down")
            table = app.main_screen.query_one(ContainersTable)
            chosen = table.highlighted_id
            source.push(model, parts=("docker",), events=("container dwlab-web: start",))
            await ready(pilot, generation=2)
            assert table.highlighted_id == chosen
            assert table.row_count == len(model.containers)
            assert "container dwlab-web: start" in log_text(app)

    async def test_daemon_loss_is_shown_with_the_last_known_containers_and_recovery_is_logged(self) -> None:
        model = lab_model()
        gone = msgspec.structs.replace(
            model, containers=[], networks=[], stale={"docker": "connection refused"}
        )
        source = ScriptedSource(label="live · test", live=True)
        app = app_on(source=source)
        async with app.run_test(size=(120, 40)) as pilot:
            source.push(model)
            await ready(pilot)
            source.push(gone, parts=("docker",), events=("docker: connection lost (ConnectionError)",))
            await ready(pilot, generation=2)
            assert "docker unreachable" in plain(app.main_screen.query_one(StatusLine))
            assert app.main_screen.has_class("-last-known")
            assert app.main_screen.query_one(ContainersTable).row_count == len(model.containers)
            source.push(model, parts=("docker",))
            await ready(pilot, generation=3)
            assert not app.main_screen.has_class("-last-known")
            assert "docker daemon back" in log_text(app)


def bump_counters(model: HostModel, chain: str, position: int) -> HostModel:
    tables = []
    for table in model.firewall.tables:
        chains = []
        for c in table.chains:
            rules = [
                msgspec.structs.replace(r, packets=r.packets + 7, bytes=r.bytes + 700)
                if (c.name, r.position) == (chain, position) and table.family == "ip"
                else r
                for r in c.rules
            ]
            chains.append(msgspec.structs.replace(c, rules=rules))
        tables.append(msgspec.structs.replace(table, chains=chains))
    return msgspec.structs.replace(model, firewall=msgspec.structs.replace(model.firewall, tables=tables))


class TestChores:
    async def test_filter_narrows_the_firewall_to_matching_rules(self) -> None:
        app = app_on()
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await press(pilot, "3", "slash")
            box = await type_text(pilot, "dockwire-lab")
            assert box.id == "firewall-filter"
            await press(pilot, "enter")
            firewall = app.main_screen.query_one(FirewallView)
            rules = [row for row in firewall.rows if row.rule is not None]
            assert rules and all("dockwire-lab" in row.rule.text for row in rules if row.rule)
            await press(pilot, "escape")
            assert firewall.filter_text == ""

    async def test_s_saves_a_snapshot_that_loads_back(self, tmp_path: Path) -> None:
        model = lab_model()
        app = app_on(model, snapshot_dir=tmp_path)
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await press(pilot, "s")
            await settle(pilot)
        files = list(tmp_path.glob("dockwire-*.json"))
        assert len(files) == 1
        assert load(files[0]) == model


@pytest.mark.parametrize("size", [(80, 24), (200, 50)])
async def test_the_main_screen_fits_small_and_large_terminals(size: tuple[int, int]) -> None:
    """Every pane is on screen with room for content at 80x24, and at 200x50."""
    app = app_on()
    async with app.run_test(size=size) as pilot:
        await ready(pilot)
        for ident in ("topology", "containers", "firewall", "detail", "events"):
            region = app.main_screen.query_one(f"#{ident}").region
            assert region.height >= 3 and region.width >= 20, (ident, region)
