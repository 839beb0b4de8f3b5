"""The dashboard over two hosts, on the recorded two-host lab (host a = the lab machine, host b = a second
Docker host; the flow dwlab-default-b@a -> dwlab-b-web@b is stopped by host b's raw PREROUTING rule).

The tree has both hosts and the route between them; A on host a and B on host b, then `w`, give
`evaluate_fleet`'s verdict (culprit and fix naming host b); the firewall pane shows one host at a time,
follows the topology's cursor and `:host NAME`, and switches to the culprit's host to light its row;
`:why` takes `NAME@HOST` and tab offers it. One host given is today's screen (the other test_tui files
check that)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest
from textual.pilot import Pilot

from dockwire.fleet import Fleet
from dockwire.live import ModelUpdate
from dockwire.snapshot import load
from dockwire.sources import FleetSource, SnapshotSource, snapshot_fleet_source
from dockwire.tui.app import DockwireApp
from dockwire.tui.command_line import CommandBar
from dockwire.verdict.fleet_verdict import evaluate_fleet
from dockwire.widgets.firewall import FirewallView
from dockwire.widgets.sysctl_bar import SysctlBar
from dockwire.widgets.topology import TopologyTree
from dockwire.widgets.topology_fleet import build_fleet_topology, inter_host_routes
from dockwire.widgets.verdict_panel import VerdictPanel
from tests.tui_harness import (
    answered,
    app_on,
    caught_up,
    fewer_full_collections,
    plain,
    press,
    ready,
    type_text,
    until,
)

TWO_HOSTS = Path(__file__).parent / "fixtures" / "two_hosts" / "engine-28.5.2-iptables-nft"
SRC, DST = "dwlab-default-b@a", "dwlab-b-web@b"


@pytest.fixture(scope="module", autouse=True)
def _fewer_collections() -> Iterator[None]:
    with fewer_full_collections():
        yield


def fleet() -> Fleet:
    return Fleet.of([(name, load(TWO_HOSTS / f"{name}.json")) for name in ("a", "b")])


def fleet_source() -> FleetSource:
    return snapshot_fleet_source(list(fleet()), [str(TWO_HOSTS / f"{n}.json") for n in ("a", "b")])


def two_host_app() -> DockwireApp:
    return app_on(source=fleet_source())


def tree(pilot: Pilot[Any]) -> TopologyTree:
    return pilot.app.screen.query_one(TopologyTree)


def firewall(pilot: Pilot[Any]) -> FirewallView:
    return pilot.app.screen.query_one(FirewallView)


async def both_hosts(pilot: Pilot[Any]) -> DockwireApp:
    app = await ready(pilot)
    await until(pilot, lambda: len(app.hosts) == 2, "both hosts")
    await caught_up(pilot)
    return app


async def cursor_on(pilot: Pilot[Any], container: str) -> None:
    """Put the topology's cursor on `NAME@HOST`'s node (the tree focused)."""
    name, _, host = container.partition("@")
    app = pilot.app
    assert isinstance(app, DockwireApp)
    found = app.hosts[host].container(name)
    assert found is not None
    view = tree(pilot)
    view.focus()
    key = next(
        k for k, node in view._by_key.items() if node.data and node.data.kind == "container"
        and node.data.ident == found.id and node.data.host == host
    )  # fmt: skip
    assert view.move_to_key(key)
    await until(pilot, lambda: app.host == host, f"host {host} selected")
    await caught_up(pilot)


class TestTree:
    def test_routes_between_hosts(self) -> None:
        """Host a's route to host b's containers goes via host b's address, and back."""
        hosts = list(fleet())
        assert inter_host_routes("a", hosts) == [("b", "198.51.100.242", "10.199.0.0/16")]
        assert ("a", "198.51.100.241", "172.17.0.0/16") in inter_host_routes("b", hosts)

    def test_each_host_a_top_level_node(self) -> None:
        """Each host is a node over its bridges and containers, with its routes to the other host."""
        spec = build_fleet_topology(list(fleet()))
        assert [c.key for c in spec.children] == ["h:a", "h:b"]
        b_labels = [c.label.plain for c in spec.children[1].children]
        assert any(label.startswith("bridge") for label in b_labels)
        a_labels = [c.label.plain for c in spec.children[0].children]
        assert "→ host b via 198.51.100.242 (10.199.0.0/16)" in a_labels

    async def test_tree_on_screen(self) -> None:
        """On screen: no root above the hosts, both hosts, the route, the host's name on the sysctl bar."""
        async with two_host_app().run_test(size=(200, 50)) as pilot:
            await both_hosts(pilot)
            view = tree(pilot)
            assert not view.show_root
            lines = [node.label.plain for node in view._by_key.values()]
            assert any(line.startswith("host a  vm") for line in lines)
            assert any(line.startswith("host b  dwlab-hostb") for line in lines)
            assert "→ host b via 198.51.100.242 (10.199.0.0/16)" in lines
            assert plain(pilot.app.screen.query_one(SysctlBar)).startswith(" host a ")


class TestWhyAcrossHosts:
    async def test_marks_and_w(self) -> None:
        """A on host a, B on host b, w: the verdict evaluate_fleet gives, its culprit and fix on host b; the
        firewall pane switches to host b and lights the culprit."""
        expected = evaluate_fleet(fleet(), SRC, DST)
        assert expected.verdict == "blocked" and expected.culprit is not None
        async with two_host_app().run_test(size=(200, 50)) as pilot:
            app = await both_hosts(pilot)
            await cursor_on(pilot, SRC)
            await press(pilot, "space")
            await cursor_on(pilot, DST)
            await press(pilot, "b")
            assert app.main_screen.probe_pair() == (SRC, DST)
            await cursor_on(pilot, SRC)  # the firewall pane shows host a again
            assert firewall(pilot).parent.border_title == "3 firewall · host a"
            await press(pilot, "w")
            await answered(pilot)
            outcome = app.last_outcome
            assert outcome is not None
            assert outcome.status == expected.verdict
            culprit = outcome.culprit
            assert culprit is not None and culprit == expected.culprit
            assert (culprit.host, culprit.table, culprit.chain, culprit.position) == (
                "b",
                "raw",
                "PREROUTING",
                1,
            )
            assert outcome.fix == tuple(expected.fix) and outcome.fix_host == "b"
            shown = plain(app.main_screen.query_one(VerdictPanel).query_one("#verdict-body"), width=200)
            assert "by host b: raw/PREROUTING #1" in shown
            assert "fix on host b" in shown
            assert app.host == "b"
            assert firewall(pilot).parent.border_title == "3 firewall · host b"
            row = firewall(pilot).culprit_row
            assert row is not None and row.rule is not None
            assert (row.table.name, row.chain.name if row.chain else "", row.rule.position) == (
                "raw",
                "PREROUTING",
                1,
            )

    async def test_command_line_why(self) -> None:
        """`:why web@a db@b tcp/80` asks across hosts; tab offers NAME@HOST."""
        async with two_host_app().run_test(size=(200, 50)) as pilot:
            app = await both_hosts(pilot)
            bar = app.main_screen.query_one(CommandBar)
            assert "dwlab-b-web@b" in bar.completion("why dwlab-default-b@a dwlab-b").words
            await press(pilot, "colon")
            await type_text(pilot, f"why {SRC} {DST} tcp/80")
            await press(pilot, "enter")
            await answered(pilot)
            outcome = app.last_outcome
            assert outcome is not None and outcome.status == "blocked"
            expected = evaluate_fleet(fleet(), SRC, DST, "tcp", 80)
            assert outcome.culprit == expected.culprit and outcome.fix_host == "b"
            assert app.main_screen.probe_pair() == (SRC, DST)


class TestOneHostAtATime:
    async def test_host_command(self) -> None:
        """`:host b` shows host b's firewall and sysctls; the cursor follows to host b's node."""
        async with two_host_app().run_test(size=(200, 50)) as pilot:
            app = await both_hosts(pilot)
            before = firewall(pilot).rule_count
            await press(pilot, "colon")
            await type_text(pilot, "host b")
            await press(pilot, "enter")
            await caught_up(pilot)
            assert app.host == "b"
            assert firewall(pilot).parent.border_title == "3 firewall · host b"
            assert firewall(pilot).rule_count != before
            assert plain(app.main_screen.query_one(SysctlBar)).startswith(" host b ")
            ref = tree(pilot).highlighted_ref
            assert ref is not None and ref.host == "b"

    def test_stale_host_is_on_its_node(self) -> None:
        """A host whose host part could not be read says so on its node."""
        a, b = list(fleet())
        reason = "host part unavailable: tcp://b:2375 is reached without ssh"
        stale_b = (b[0], msgspec.structs.replace(b[1], stale={"firewall": reason, "sysctls": reason}))
        spec = build_fleet_topology([a, stale_b])
        assert f"⚠ {reason}" in spec.children[1].label.plain

    async def test_small_screen(self) -> None:
        """At 80x24 the two-host screen opens and w answers."""
        async with two_host_app().run_test(size=(80, 24)) as pilot:
            app = await both_hosts(pilot)
            await press(pilot, "colon")
            await type_text(pilot, f"why {SRC} {DST}")
            await press(pilot, "enter")
            await answered(pilot)
            assert app.last_outcome is not None and app.last_outcome.fix_host == "b"


class FailingSource:
    """A source that gives one model, then fails."""

    label = "failing"
    live = True
    client = None

    def __init__(self, model: Any) -> None:
        self.model = model

    async def updates(self) -> Any:
        yield ModelUpdate(self.model, frozenset({"all"}))
        raise OSError("connection reset")


class TestFleetSource:
    async def test_one_host_failing(self) -> None:
        """A host whose source fails is marked stale (its last model kept); the other host's goes on."""
        (_, a), (_, b) = list(fleet())
        source = FleetSource([("a", SnapshotSource(a, "a")), ("b", FailingSource(b))])
        seen: list[tuple[str, dict[str, str]]] = []

        async def first_three() -> None:
            async for update in source.updates():
                seen.append((update.host, dict(update.update.model.stale)))
                if len(seen) == 3:
                    return

        await asyncio.wait_for(first_three(), 10)
        assert sorted(h for h, _ in seen) == ["a", "b", "b"]
        stale = [s for h, s in seen if h == "b" and s]
        assert stale and "connection reset" in stale[0]["host"]
        assert all(not s for h, s in seen if h == "a")

    async def test_failing_host_on_screen(self) -> None:
        """On screen, the failing host's node says why; the other host is shown as before."""
        (_, a), (_, b) = list(fleet())
        source = FleetSource([("a", SnapshotSource(a, "a")), ("b", FailingSource(b))])
        async with app_on(source=source).run_test(size=(200, 50)) as pilot:
            app = await both_hosts(pilot)
            await until(pilot, lambda: "host" in app.hosts["b"].stale, "host b stale")
            await caught_up(pilot)
            labels = {k: n.label.plain for k, n in tree(pilot)._by_key.items()}
            assert "connection reset" in labels["h:b"]
            assert "⚠" not in labels["h:a"]
