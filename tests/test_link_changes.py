"""The event lines of link changes (`link_changes`) and how the events pane shows them."""

from __future__ import annotations

from dockwire.model import Interface
from dockwire.probes.netlink_changes import link_changes


def link(index: int, name: str, **fields: str) -> Interface:
    return Interface(name=name, ifindex=index, **fields)  # type: ignore[arg-type]


def test_each_kind_of_change_is_one_line() -> None:
    before = [
        link(1, "lo", state="unknown"),
        link(2, "eth0", state="up"),
        link(5, "veth1", kind="veth", state="up", master="docker0"),
        link(6, "old", state="up"),
        link(7, "gone"),
    ]
    after = [
        link(1, "lo", state="unknown"),
        link(2, "eth0", state="down"),
        link(5, "veth1", kind="veth", state="lowerlayerdown", master=""),
        link(6, "new", state="up"),
        link(8, "br-1", kind="bridge", state="down"),
        link(9, "veth2", kind="veth", master="br-1"),
    ]
    assert link_changes(before, after) == [
        "link eth0: down",
        "link veth1: down (its lower layer is down)",
        "link veth1: left docker0",
        "link old: renamed new",
        "link br-1: added (bridge)",
        "link veth2: added (veth), port of br-1",
        "link gone: removed",
    ]
    assert link_changes(after, after) == []
    assert link_changes(after, [*after[:4], link(8, "br-1", kind="bridge", state="up"), after[5]]) == [
        "link br-1: up"
    ]


def test_the_events_pane_names_the_link_once() -> None:
    from dockwire.widgets.events import EventLog

    log = EventLog(clock=lambda: "12:00:00")
    log.add("link", "link eth0: up")
    log.add("docker", "network dw: create")
    shown = [e.plain for e in log.entries]
    assert shown == ["12:00:00   link eth0: up", "12:00:00 docker network dw: create"]
