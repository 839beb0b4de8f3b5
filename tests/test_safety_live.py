"""The read-only promise and fault injection, against the real lab (on whichever iptables backend is active:
scripts/test runs this module on both).

- Read-only: the whole ruleset (iptables-save of both backends, IPv4 and IPv6, and `nft list ruleset`,
  counters left out) and Docker's containers and networks are identical before and after a TUI session, a
  matrix, a why and a probe — and after a probe killed with SIGKILL, once the next probe's sweep ran.
- Faults: dockerd stopped and restarted under the TUI and a probe; a container killed during a probe and
  during a snapshot; a network removed while the TUI shows it; a burst of 500+ Docker events. dockwire
  keeps running, says what is stale, recovers, and its model then equals a fresh snapshot.

Every object these tests make is named `dwtest-` and labelled io.dockwire.test, and removed by id.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from dockwire.actions.endpoints import ProbeError
from dockwire.actions.runner import run_probe
from dockwire.actions.tracing.leftovers import list_trace_objects
from dockwire.collect import collect
from dockwire.model import HostModel
from dockwire.sources import LiveSource
from dockwire.tui.app import DockwireApp, make_app
from tests import safety_stats
from tests.live_env import IMAGE, TEST_LABEL
from tests.tui_harness import fixed_clock, mark, ready, settle, until

pytestmark = pytest.mark.live
if os.geteuid() != 0:
    pytest.skip("the safety tests need root", allow_module_level=True)

ROOT = Path(__file__).resolve().parent.parent
DOCKWIRE = Path(sys.executable).parent / "dockwire"
SAVE_TOOLS = ("iptables-legacy-save", "ip6tables-legacy-save", "iptables-nft-save", "ip6tables-nft-save")
_COUNTERS = re.compile(r"^\[\d+:\d+\] |^(:\S+ \S+) \[\d+:\d+\]", re.M)
_NFT_COUNTERS = re.compile(r"counter packets \d+ bytes \d+")
RECOVERY_SECONDS = 30.0


# --- the host's state -------------------------------------------------------------------------------------


def _out(*argv: str) -> str:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30).stdout


def ruleset() -> dict[str, str]:
    """Every rule of every backend, without counters and without the tools' timestamp comments."""
    state = {}
    for tool in SAVE_TOOLS:
        if shutil.which(tool):
            text = "\n".join(line for line in _out(tool).splitlines() if not line.startswith("#"))
            state[tool] = _COUNTERS.sub(lambda m: m.group(1) or "", text)
    state["nft"] = _NFT_COUNTERS.sub("counter", _out("nft", "list", "ruleset"))
    return state


def docker_objects(client: Any) -> list[tuple[str, str, str]]:
    containers = [("container", c.id, c.status) for c in client.containers.list(all=True)]
    networks = [("network", n.id, n.name) for n in client.networks.list()]
    return sorted(containers + networks)


def host_state(client: Any) -> dict[str, Any]:
    return {"rules": ruleset(), "docker": docker_objects(client)}


def assert_unchanged(kind: str, before: dict[str, Any], after: dict[str, Any]) -> None:
    for part in before["rules"]:
        assert before["rules"][part] == after["rules"][part], f"{kind}: {part} changed"
    assert before["docker"] == after["docker"], f"{kind}: Docker's containers or networks changed"
    assert safety_stats.compare(kind, before == after)


def no_trace_objects() -> bool:
    return not list_trace_objects()


# --- models compared -------------------------------------------------------------------------------------


def fingerprint(model: HostModel) -> dict[str, Any]:
    """What a fresh snapshot and the live model must agree on (counters and timestamps aside)."""
    return {
        "containers": sorted(
            (c.id, c.name, c.state, tuple(sorted(e.ip for e in c.endpoints))) for c in model.containers
        ),
        "networks": sorted((n.id, n.name) for n in model.networks),
        "rules": sorted(
            (t.source, t.family, t.name, c.name, tuple(r.text for r in c.rules))
            for t in model.firewall.tables
            for c in t.chains
        ),
        "stale": sorted(model.stale),
    }


async def until_model_equals_fresh(pilot: Any, app: DockwireApp, client: Any, what: str) -> None:
    deadline = time.monotonic() + RECOVERY_SECONDS
    while True:
        fresh = fingerprint(await collect(client))
        if fingerprint(app.model) == fresh:
            safety_stats.compare(what, True)
            return
        if time.monotonic() > deadline:
            safety_stats.compare(what, False)
            raise AssertionError(f"{what}: the live model did not come to equal a fresh snapshot")
        await pilot.pause(0.5)


def live_app(client: Any) -> DockwireApp:
    return make_app(LiveSource(client, "live · safety test"), clock=fixed_clock, root=True)


# --- test objects ---------------------------------------------------------------------------------------


@contextlib.contextmanager
def scratch_containers(client: Any, n: int, name: str) -> Iterator[list[Any]]:
    made = []
    try:
        for i in range(n):
            made.append(
                client.containers.run(
                    IMAGE,
                    ["sleep", "3600"],
                    name=f"dwtest-{name}-{i}-{os.getpid()}",
                    detach=True,
                    labels={TEST_LABEL: name},
                )
            )
        yield made
    finally:
        for c in made:
            with contextlib.suppress(Exception):
                c.remove(force=True)


# --- the read-only promise --------------------------------------------------------------------------------


async def test_a_tui_session_with_why_and_the_matrix_changes_nothing(lab: Any, docker_client: Any) -> None:
    before = host_state(docker_client)
    app = live_app(docker_client)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        await mark(pilot, "dwlab-iso-a")
        await mark(pilot, "dwlab-iso-b")
        await pilot.press("w")
        await settle(pilot)
        assert app.last_outcome is not None and app.last_outcome.status == "blocked"
        await pilot.press("m")
        await until(pilot, lambda: app.screen.id != "main", "the matrix screen")
        await settle(pilot)
        await pilot.press("escape")
    assert_unchanged("TUI session", before, host_state(docker_client))


def test_why_matrix_and_probe_commands_change_nothing(lab: Any, docker_client: Any) -> None:
    before = host_state(docker_client)
    for args in (
        ["why", "dwlab-default-a", "dwlab-default-b", "--port", "80"],
        ["matrix"],
        ["probe", "dwlab-iso-a", "dwlab-iso-b"],
        ["probe", "dwlab-default-a", "dwlab-default-b", "--proto", "tcp", "--port", "80"],
    ):
        proc = subprocess.run(
            [str(DOCKWIRE), *args], capture_output=True, text=True, check=False, timeout=120
        )
        assert proc.returncode in (0, 1), proc.stderr
        assert "Traceback" not in proc.stderr
        assert_unchanged(f"dockwire {args[0]}", before, host_state(docker_client))


def test_a_probe_killed_with_sigkill_is_swept_by_the_next(lab: Any, docker_client: Any) -> None:
    """SIGKILL leaves no chance to clean up: the trace table (nft) or TRACE rules (legacy) stay, and the
    next probe's sweep removes them because their run id names a process that is gone."""
    before = host_state(docker_client)
    assert no_trace_objects()
    killed = subprocess.Popen(
        [str(DOCKWIRE), "probe", "dwlab-iso-a", "dwlab-iso-b", "--count", "10", "--timeout", "2"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 30
        while not any(o.pid == killed.pid for o in list_trace_objects()):
            if killed.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the probe never installed its trace rules (no kernel trace on this host?)")
            time.sleep(0.05)
    finally:
        os.killpg(killed.pid, signal.SIGKILL)
        killed.wait()
    safety_stats.fault("probe SIGKILL")
    left = [o for o in list_trace_objects() if o.pid == killed.pid]
    assert left, "SIGKILL cannot have cleaned up: the leftovers should still be there"
    sweeper = subprocess.run(
        [str(DOCKWIRE), "probe", "dwlab-default-a", "dwlab-default-b"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert sweeper.returncode == 0, sweeper.stderr
    assert "removed trace rules left by a crashed run" in sweeper.stdout
    assert no_trace_objects()
    assert_unchanged("after SIGKILL and sweep", before, host_state(docker_client))


# --- faults ---------------------------------------------------------------------------------------------


def _dockerd_pid() -> int:
    return int(Path("/var/run/docker.pid").read_text().strip())


def _stop_dockerd() -> None:
    """Stop the daemon lab-engine started (by its pid file), and wait until it is gone."""
    pid = _dockerd_pid()
    os.kill(pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    while Path(f"/proc/{pid}").exists() and time.monotonic() < deadline:
        time.sleep(0.2)


def _start_dockerd() -> None:
    proc = subprocess.run(
        [str(ROOT / "scripts" / "lab-engine"), "--no-image"], capture_output=True, text=True, check=False
    )
    assert proc.returncode == 0, proc.stderr


async def test_dockerd_stopped_and_restarted_under_the_tui_and_a_probe(lab: Any, docker_client: Any) -> None:
    from dockwire.lab import lab_up

    app = live_app(docker_client)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        probe = subprocess.Popen(
            [str(DOCKWIRE), "probe", "dwlab-iso-a", "dwlab-iso-b", "--count", "5", "--timeout", "1"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        await asyncio.sleep(1.0)
        await asyncio.to_thread(_stop_dockerd)
        safety_stats.fault("dockerd stopped")
        try:
            await until(pilot, lambda: app.daemon == "lost", "the TUI to see the daemon gone", timeout=60)
            assert app.model.stale.get("docker")
            assert app.is_running
            _, err = await asyncio.to_thread(probe.communicate, None, 60)
            assert probe.returncode in (0, 1, 2, 3) and "Traceback" not in err, err
            assert probe.returncode != 2 or err.count("\n") == 1, err
        finally:  # the daemon comes back even when this test fails: the tests after it need it
            await asyncio.to_thread(_start_dockerd)
            await asyncio.to_thread(lab_up, docker_client)  # the restart stopped the lab's containers
        await until(pilot, lambda: app.daemon == "up", "the TUI to see the daemon back", timeout=60)
        await until_model_equals_fresh(pilot, app, docker_client, "after a dockerd restart")
    assert no_trace_objects()


async def test_a_container_killed_during_a_probe_and_during_a_snapshot(lab: Any, docker_client: Any) -> None:
    with scratch_containers(docker_client, 2, "victim") as (src, other):
        model = await collect(docker_client)

        async def kill_soon(container: Any, delay: float) -> None:
            await asyncio.sleep(delay)
            await asyncio.to_thread(container.kill)

        killer = asyncio.create_task(kill_soon(src, 0.8))
        try:
            result = await run_probe(model, docker_client, src.name, "dwlab-default-a", count=5, timeout=1.0)
            assert result.outcome
        except ProbeError as exc:  # the source's namespace went away: one line, no traceback
            assert "\n" not in str(exc)
        await killer
        safety_stats.fault("container killed mid-probe")
        assert no_trace_objects()
        snapshot = asyncio.create_task(collect(docker_client))
        await asyncio.to_thread(other.kill)
        safety_stats.fault("container killed mid-snapshot")
        taken = await snapshot
        assert any(c.name == "dwlab-default-a" for c in taken.containers)


async def test_a_network_removed_while_the_tui_shows_it(lab: Any, docker_client: Any) -> None:
    from dockwire.widgets.topology import TopologyTree

    network = docker_client.networks.create(f"dwtest-gone-{os.getpid()}", labels={TEST_LABEL: "gone"})
    try:
        app = live_app(docker_client)
        async with app.run_test(size=(160, 45)) as pilot:
            await ready(pilot)
            await until(pilot, lambda: any(n.id == network.id for n in app.model.networks), "the new network")
            tree = app.main_screen.query_one(TopologyTree)
            await until(pilot, lambda: network.id in str(list(tree._by_key)), "its node in the topology")
            node = next(n for k, n in tree._by_key.items() if network.id in k)
            tree.focus()
            tree.move_cursor(node, animate=False)
            await pilot.pause()
            network.remove()
            safety_stats.fault("network removed while shown")
            await until(
                pilot, lambda: all(n.id != network.id for n in app.model.networks), "the network gone"
            )
            await settle(pilot)
            assert app.is_running
            await until_model_equals_fresh(pilot, app, docker_client, "after a network removal")
    finally:
        with contextlib.suppress(Exception):
            network.remove()


def _burst(containers: list[Any], cycles: int, errors: list[BaseException]) -> Callable[[], None]:
    def run() -> None:
        try:
            for _ in range(cycles):
                for c in containers:
                    c.start()
                    c.kill()
        except BaseException as exc:
            errors.append(exc)

    return run


async def test_a_burst_of_500_docker_events(lab: Any, docker_client: Any) -> None:
    app = live_app(docker_client)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        with scratch_containers(docker_client, 6, "burst") as containers:
            for c in containers:
                c.kill()
            # Count the events as they come (Docker keeps only its last 256 for a `since` query): each
            # start/kill cycle is a container start, kill and die, and a network connect and disconnect.
            stream = docker_client.events(decode=True)
            seen = 0

            def count_events() -> None:
                nonlocal seen
                with contextlib.suppress(Exception):
                    for _ in stream:
                        seen += 1

            counter = threading.Thread(target=count_events, daemon=True)
            counter.start()
            errors: list[BaseException] = []
            workers = [threading.Thread(target=_burst([c], 18, errors)) for c in containers]
            for w in workers:
                w.start()
            while any(w.is_alive() for w in workers):
                await pilot.pause(0.2)
            assert not errors, errors
            await pilot.pause(1.0)
            stream.close()
            safety_stats.faults["docker events in a burst"] += seen
            assert seen >= 500, f"only {seen} events"
            assert app.is_running
            await until_model_equals_fresh(pilot, app, docker_client, "after 500 Docker events")


HOSTILE_COMMENT = "[/] [@click=app.quit]quit[/] \x1b]0;pwned\x07 \u202eevil"


@contextlib.contextmanager
def hostile_user_rule() -> Iterator[list[str]]:
    """A real DOCKER-USER rule whose comment is markup, an OSC title sequence and an RTL override; it matches
    only TEST-NET addresses that no lab traffic uses."""
    spec = [
        "-s",
        "198.51.100.252/32",
        "-d",
        "198.51.100.253/32",
        "-m",
        "comment",
        "--comment",
        HOSTILE_COMMENT,
    ]
    spec += ["-j", "RETURN"]
    added = subprocess.run(["iptables", "-w", "5", "-I", "DOCKER-USER", "1", *spec], check=False)
    if added.returncode != 0:
        pytest.skip("no DOCKER-USER chain to put the rule in (Docker's nftables backend?)")
    try:
        yield spec
    finally:
        while (
            subprocess.run(["iptables", "-w", "5", "-D", "DOCKER-USER", *spec], check=False).returncode == 0
        ):
            pass


async def test_a_hostile_rule_comment_on_the_live_host_is_shown_as_text(lab: Any, docker_client: Any) -> None:
    """A real rule, read back from the kernel by iptables-save, selected in the firewall pane: no crash, no
    terminal control reaches the screen or `why`'s output, nothing becomes clickable."""
    from dockwire.text import safe
    from dockwire.widgets.firewall import FirewallView
    from tests.test_hostile_text import assert_screen_is_safe, detail_text

    size = (200, 50)
    with hostile_user_rule():
        app = live_app(docker_client)
        async with app.run_test(size=size) as pilot:
            await ready(pilot)
            firewall = app.main_screen.query_one(FirewallView)

            def hostile_row() -> int | None:
                rows = firewall.rows
                return next(
                    (i for i, r in enumerate(rows) if r.rule is not None and "pwned" in r.rule.comment), None
                )

            await until(pilot, lambda: hostile_row() is not None, "the hostile rule in the firewall pane")
            firewall.focus()
            index = hostile_row()
            assert index is not None
            firewall.move_to(index)
            await until(pilot, lambda: "pwned" in detail_text(app), "the rule in the detail pane")
            rule = firewall.rows[index].rule
            assert rule is not None and rule.comment == HOSTILE_COMMENT
            assert safe(HOSTILE_COMMENT) in detail_text(app)
            assert_screen_is_safe(app, size)
            assert app.is_running
        why = subprocess.run(
            [str(DOCKWIRE), "why", "dwlab-default-a", "dwlab-default-b", "--port", "80", "-v"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert why.returncode == 1, why.stderr
        assert "\x1b" not in why.stdout and "\u202e" not in why.stdout
        safety_stats.fault("hostile live rule comment")
