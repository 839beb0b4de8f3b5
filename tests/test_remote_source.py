"""The dashboard on another host (issue #12): a model's Docker part and host part come from one host.

Offline: RemoteSource's change detection, back-off, stale marking and recovery, on scripted reads; the
dashboard refusing probes on a host that is not this machine. Live: host B of the two-host lab, over ssh
(its whole model), unreachable at the start (one line), unreachable for a while (a DROP of tcp/22 from A
inserted in B's namespace and deleted by its exact spec), and B's engine by its socket (Docker part only).

Traffic goes only to the lab's host B; the one container started there is removed by its id.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dockwire.collect import HOST_PARTS, NOT_THIS_HOST
from dockwire.errors import DockwireError
from dockwire.hosts import HostSpec, parse_host_option
from dockwire.lab.scenarios import LAB_LABEL
from dockwire.live import LiveModel, ModelUpdate
from dockwire.model import Chain, Container, Firewall, HostModel, Rule, Table
from dockwire.remote_source import ALL, COUNTERS, RemoteSource, compare
from dockwire.sources import LiveSource, SnapshotSource, open_source
from dockwire.widgets.status_line import StatusLine
from tests.live_env import IMAGE, TEST_LABEL
from tests.tui_harness import app_on, lab_model, plain, ready

WAIT = 30.0  # seconds a live test may wait for an update (one ssh read takes ~2-3 s)

# --- offline ------------------------------------------------------------------------------------------------


def _model(containers: tuple[str, ...] = ("web",), packets: int = 0, taken_at: str = "t0") -> HostModel:
    rule = Rule(table="filter", chain="FORWARD", position=1, text="-A FORWARD -j ACCEPT", packets=packets)
    table = Table(
        source="iptables-nft", family="ip", name="filter", chains=[Chain(name="FORWARD", rules=[rule])]
    )
    return HostModel(
        taken_at=taken_at,
        hostname="b",
        containers=[Container(id=f"id-{n}", name=n) for n in containers],
        firewall=Firewall(tables=[table]),
    )


def test_only_taken_at_is_no_update() -> None:
    assert compare(_model(), _model(taken_at="t1")) == (None, False)


def test_counters_are_an_update_but_not_a_change() -> None:
    update, changed = compare(_model(), _model(packets=3, taken_at="t1"))
    assert update is not None and update.parts == COUNTERS and len(update.moved) == 1
    assert not changed


def test_anything_else_is_a_full_update() -> None:
    update, changed = compare(_model(), _model(("web", "db"), packets=3))
    assert update is not None and update.parts == ALL and changed


class Scripted(RemoteSource):
    """Reads from a script (a model, or an exception to raise); records the wait before each read."""

    def __init__(self, script: list[HostModel | Exception], **kw: Any) -> None:
        super().__init__(HostSpec(name="b", url="ssh://root@b.example"), **kw)
        self.script = script
        self.script_end: HostModel | Exception = DockwireError("script ended")
        self.waits: list[float] = []

    async def read(self) -> HostModel:
        self.waits.append(self.wait)
        step = self.script.pop(0) if self.script else self.script_end
        if isinstance(step, Exception):
            raise step
        return step


async def test_first_read_failing_raises_one_line() -> None:
    source = Scripted([DockwireError("b: ssh to root@b.example failed: ssh: Connection refused")])
    with pytest.raises(DockwireError, match=r"^b: ssh to root@b\.example failed"):
        await anext(source.updates())


async def test_backs_off_while_nothing_changes_and_counters_do_not_hold_it() -> None:
    same = _model()
    source = Scripted([same, same, _model(packets=1), _model(packets=1), _model(("web", "db"))])
    source.script_end = _model(("web", "db"))
    source.interval, source.max_interval, source.wait = 0.01, 0.04, 0.01
    updates = source.updates()
    assert (await anext(updates)).parts == ALL  # first read
    assert (await anext(updates)).parts == COUNTERS  # third read: counters moved
    assert (await anext(updates)).parts == ALL  # fifth read: a new container
    # The waits before reads 2..5 double to the cap through the counters update; a change resets them.
    assert source.waits[1:5] == [0.01, 0.02, 0.04, 0.04]
    assert source.wait == 0.01
    await updates.aclose()


async def test_a_failure_keeps_the_model_marked_stale_until_the_host_answers() -> None:
    good = _model(("web", "db"))
    down = DockwireError(
        "b: ssh to root@b.example failed: ssh: connect to host b port 22: Connection timed out"
    )
    source = Scripted([good, down, down, good])
    source.interval = source.max_interval = source.wait = 0.01
    updates = source.updates()
    await anext(updates)
    stale = await anext(updates)
    assert [c.name for c in stale.model.containers] == ["web", "db"]
    reason = stale.model.stale["host"]
    assert reason.startswith("unreachable since ") and reason.endswith(f": {down}")
    assert reason[len("unreachable since ") :][:8].count(":") == 2  # HH:MM:SS
    assert stale.model.stale["docker"] == reason  # what the status line shows as "docker unreachable"
    assert stale.events == (f"host ssh://root@b.example: unreachable: {down}",)
    back = await anext(updates)  # the second failure said nothing new: the next update is the recovery
    assert "host" not in back.model.stale and "docker" not in back.model.stale
    assert back.parts == ALL and back.events == ("host ssh://root@b.example: answering again",)
    await updates.aclose()


async def test_an_unexpected_error_is_a_stale_reason_too() -> None:
    source = Scripted([_model(), OSError("no more processes")])
    source.wait = 0.01
    updates = source.updates()
    await anext(updates)
    stale = await anext(updates)
    assert stale.model.stale["host"].endswith(": OSError: no more processes")
    await updates.aclose()


def test_remote_sources_say_where_and_refuse_probes() -> None:
    source = RemoteSource(parse_host_option("ssh://root@198.51.100.242"))
    assert source.label == "live · ssh://root@198.51.100.242 (remote, read every 5 s)"
    assert source.live and source.client is None
    assert "packets from this machine" in source.actions_refused
    assert "Docker part only" in LiveSource(None, "x", host_part=False).actions_refused
    assert LiveSource(None, "x").actions_refused == ""


class RemoteFlagged(SnapshotSource):
    live = True
    actions_refused = (
        "ssh://root@198.51.100.242 is a remote host: probes would send packets from this machine"
    )


async def test_the_dashboard_refuses_probes_on_a_remote_host() -> None:
    app = app_on(source=RemoteFlagged(lab_model(), "live · ssh://root@198.51.100.242"))
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        assert app.check_action("probe", ()) is None and app.check_action("trace", ()) is None
        assert app.check_action("why", ()) is True
        assert app.packets_refused == RemoteFlagged.actions_refused
        assert "probes off: ssh://root@198.51.100.242 is a remote host" in plain(
            app.main_screen.query_one(StatusLine), 300
        )


# --- live: host B of the two-host lab ---------------------------------------------------------------------


def hostb() -> Any:
    """The lab's second host, or a skip saying how to build it."""
    if os.geteuid() != 0 or shutil.which("ssh") is None or shutil.which("nsenter") is None:
        pytest.skip("needs root, ssh and nsenter")
    from dockwire.lab import second_host

    if not Path(second_host.SSH_KEY).is_file() or not Path(second_host.NETNS_PATH).exists():
        pytest.skip("host B is not up (flock /tmp/dwlab.lock dockwire lab up)")
    return second_host


def hostb_spec(url: str = "") -> HostSpec:
    lab = hostb()
    return parse_host_option(f"b={url or lab.ssh_url()}", lab.ssh_options())


@pytest.fixture
def client_b() -> Iterator[Any]:
    import docker

    lab = hostb()
    client = docker.DockerClient(base_url=lab.B_SOCKET, timeout=30)
    yield client
    client.close()


async def until(updates: AsyncIterator[ModelUpdate], check: Callable[[ModelUpdate], bool]) -> ModelUpdate:
    async def loop() -> ModelUpdate:
        async for update in updates:
            if check(update):
                return update
        raise AssertionError("update stream ended")

    return await asyncio.wait_for(loop(), WAIT)


def run_on_b(client: Any) -> Any:
    name = f"dwtest-rsrc-{uuid.uuid4().hex[:8]}"
    labels = {LAB_LABEL: "1", TEST_LABEL: "1"}
    return client.containers.run(IMAGE, ["sleep", "300"], name=name, labels=labels, detach=True)


def rule_texts(model: HostModel) -> list[str]:
    return [r.text for t in model.firewall.tables for c in t.chains for r in c.rules]


@pytest.mark.live
async def test_ssh_source_is_hosts_b_model_and_follows_it(docker_client: Any, client_b: Any) -> None:
    lab = hostb()
    source = RemoteSource(hostb_spec(), interval=0.2, max_interval=1.0, timeout=15)
    updates = source.updates()
    try:
        model = (await anext(updates)).model
        assert model.hostname == lab.HOST_NAME and "host" not in model.stale
        names = {c.name for c in model.containers}
        assert "dwlab-b-web" in names
        assert not names & {c.name for c in docker_client.containers.list(all=True)}  # none of A's
        # B's host part: its link address, its engine's rules for its subnet, nothing of A's bridges.
        addresses = {a.address for i in model.host.interfaces for a in i.addresses}
        assert lab.B_ADDR in addresses and lab.A_ADDR not in addresses
        assert lab.A_IF not in {i.name for i in model.host.interfaces}
        texts = rule_texts(model)
        assert any("10.199." in t for t in texts)
        a_subnets = {
            c["Subnet"]
            for n in docker_client.networks.list(filters={"driver": "bridge"})
            for c in (n.attrs.get("IPAM") or {}).get("Config") or []
        } - {lab.B_SUBNET}
        assert a_subnets and not [t for t in texts if any(net in t for net in a_subnets)]
        assert any(lab.B_SUBNET in t for t in texts)  # B's masquerade, not A's
        container = run_on_b(client_b)
        try:
            seen = await until(updates, lambda u: u.model.container(container.id) is not None)
            assert seen.parts == ALL and seen.model.hostname == lab.HOST_NAME
        finally:
            container.remove(force=True)
    finally:
        await updates.aclose()


@pytest.mark.live
async def test_ssh_host_that_does_not_answer_is_one_line_at_start() -> None:
    lab = hostb()
    spec = hostb_spec(f"ssh://root@{lab.B_ADDR}:1")
    with pytest.raises(DockwireError) as caught:
        await anext(RemoteSource(spec, timeout=10).updates())
    said = f"ssh: connect to host {lab.B_ADDR} port 1: Connection refused"
    assert str(caught.value) == f"b: ssh to root@{lab.B_ADDR} failed: {said}"


@pytest.mark.live
def test_open_source_on_a_dead_ssh_host_is_one_line() -> None:
    lab = hostb()
    with pytest.raises(DockwireError) as caught:
        open_source(host=f"ssh://root@{lab.B_ADDR}:1")
    assert "\n" not in str(caught.value) and "Connection refused" in str(caught.value)


@pytest.mark.live
async def test_ssh_host_unreachable_for_a_while_is_stale_then_back() -> None:
    lab = hostb()
    drop = ["INPUT", "-s", lab.A_ADDR, "-p", "tcp", "--dport", str(lab.SSH_PORT)]
    drop += ["-m", "comment", "--comment", "dwtest-remote-source", "-j", "DROP"]
    in_b = ["nsenter", f"--net={lab.NETNS_PATH}", "iptables"]
    source = RemoteSource(hostb_spec(), interval=0.2, max_interval=0.4, timeout=4)
    updates = source.updates()
    try:
        first = (await anext(updates)).model
        subprocess.run([*in_b, "-I", *drop], check=True)
        try:
            stale = await until(updates, lambda u: "host" in u.model.stale)
        finally:
            subprocess.run([*in_b, "-D", *drop], check=True)
        assert stale.model.stale["host"].startswith("unreachable since ")
        assert (
            "\n" not in stale.model.stale["host"]
            and "ssh to root@198.51.100.242 failed" in stale.model.stale["host"]
        )
        assert [c.name for c in stale.model.containers] == [c.name for c in first.containers]
        assert stale.model.hostname == lab.HOST_NAME
        assert any("unreachable" in e for e in stale.events)
        back = await until(updates, lambda u: "host" not in u.model.stale)
        assert "docker" not in back.model.stale and "answering again" in back.events[0]
    finally:
        await updates.aclose()


@pytest.mark.live
async def test_docker_part_only_on_hosts_b_socket(docker_client: Any, client_b: Any) -> None:
    lab = hostb()
    source = open_source(host=lab.B_SOCKET)
    assert isinstance(source, LiveSource) and not source.host_part
    assert source.label == f"live · {lab.B_SOCKET} (Docker part only: host part unavailable)"
    source.client.close()
    live = LiveModel(client_b, poll_interval=0.2, host_part=False)
    updates = live.updates()
    try:
        model = (await anext(updates)).model
        assert "dwlab-b-web" in {c.name for c in model.containers}
        assert not {c.name for c in model.containers} & {
            c.name for c in docker_client.containers.list(all=True)
        }
        empty = msgspec.structs.replace(HostModel(), taken_at=model.taken_at)
        assert (model.host, model.firewall, model.sysctls, model.veths, model.hostname) == (
            empty.host, empty.firewall, empty.sysctls, [], "",
        )  # fmt: skip
        assert all(model.stale[part] == NOT_THIS_HOST for part in HOST_PARTS)
        assert all(not c.interfaces for c in model.containers)  # B's pids are not read from here
        container = run_on_b(client_b)
        try:
            seen = await until(updates, lambda u: u.model.container(container.id) is not None)
            assert (
                seen.model.hostname == ""
                and not seen.model.host.interfaces
                and not seen.model.firewall.tables
            )
            assert all(seen.model.stale[part] == NOT_THIS_HOST for part in HOST_PARTS)
        finally:
            container.remove(force=True)
    finally:
        await updates.aclose()
