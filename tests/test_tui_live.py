"""The dashboard against the real lab: an active probe from the app, and `dockwire` itself in tmux.

The blocked pair is dwlab-iso-a -> dwlab-iso-b (two user-defined bridges, isolated by Docker): ICMP is
dropped, and the rule that drops it is the one the static engine names on the same host at the same time.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockwire.collect import collect
from dockwire.sources import LiveSource
from dockwire.tui.app import make_app
from dockwire.verdict.verdict import evaluate
from dockwire.widgets.firewall import FirewallView
from tests.tui_harness import fixed_clock, mark_by_filter, press, ready, settle, type_text, until

pytestmark = pytest.mark.live

SRC, DST = "dwlab-iso-a", "dwlab-iso-b"
DOCKWIRE = Path(sys.executable).parent / "dockwire"


def expected_culprit(client: Any) -> str:
    """`table/CHAIN #n` of the rule the static engine blames for SRC -> DST on the host as it is now."""
    model = asyncio.run(collect(client))
    verdict = evaluate(model, SRC, DST)
    assert verdict.verdict == "blocked" and verdict.culprit is not None, verdict.reason
    return f"{verdict.culprit.table}/{verdict.culprit.chain} #{verdict.culprit.position}"


async def expected_rule(client: Any) -> tuple[str, str, int | None, str]:
    """(table, chain, position, text) of the static culprit for SRC -> DST, read with no trace rule there."""
    model = await collect(client)
    verdict = evaluate(model, SRC, DST)
    assert verdict.verdict == "blocked" and verdict.culprit is not None, verdict.reason
    c = verdict.culprit
    return (c.table, c.chain, c.position, c.text)


POLL_MARKER = "dwtest-poll-marker"


def _raw_prerouting(*args: str) -> int:
    return subprocess.run(["iptables", "-w", "5", "-t", "raw", *args], check=False).returncode


@contextlib.contextmanager
def another_runs_trace_rule() -> Iterator[None]:
    """A dockwire-style trace rule at the top of raw PREROUTING, as a concurrent probe's would sit there
    (its run id names this test's live pid, so the probe's sweep leaves it alone), then a counting-only
    marker rule at the end: once the model shows the marker, a firewall read has seen the trace rule too.
    Both match no lab traffic (ICMP timestamp requests from TEST-NET addresses)."""
    trace = [
        "-s", "198.51.100.250/32", "-p", "icmp", "-m", "icmp", "--icmp-type", "13",
        "-m", "comment", "--comment", f"dockwire-trace-{os.getpid()}-fa4e00", "-j", "TRACE",
    ]  # fmt: skip
    marker = ["-s", "198.51.100.251/32", "-p", "icmp", "-m", "icmp", "--icmp-type", "13",
              "-m", "comment", "--comment", POLL_MARKER]  # fmt: skip
    assert _raw_prerouting("-I", "PREROUTING", "1", *trace) == 0
    try:
        assert _raw_prerouting("-A", "PREROUTING", *marker) == 0
        yield
    finally:
        for spec in (marker, trace):
            while _raw_prerouting("-C", "PREROUTING", *spec) == 0:
                _raw_prerouting("-D", "PREROUTING", *spec)


def shows_marker(model: Any) -> bool:
    return any(POLL_MARKER in r.text for t in model.firewall.tables for c in t.chains for r in c.rules)


async def test_p_in_the_app_sends_a_real_probe_and_highlights_the_dropping_rule(
    lab: Any, docker_client: Any
) -> None:
    """The probe's culprit is lit on screen by identity, at the position the user would count without
    dockwire's temporary rules — even when the firewall pane was read while a trace rule sat at the top
    of the chain (the test waits for a poll that saw one before the probe runs)."""
    table, chain, position, text = await expected_rule(docker_client)
    app = make_app(LiveSource(docker_client, "live · test"), clock=fixed_clock, root=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        await mark_by_filter(pilot, SRC)
        await mark_by_filter(pilot, DST)
        with another_runs_trace_rule():
            await until(
                pilot, lambda: shows_marker(app.model), "a firewall read with the trace rule in place"
            )
            await pilot.press("p")
            await settle(pilot)
        outcome = app.last_outcome
        assert outcome is not None
        assert outcome.mode == "active", outcome
        assert outcome.status == "blocked", outcome.summary
        assert outcome.culprit is not None
        assert (outcome.culprit.table, outcome.culprit.chain, outcome.culprit.text) == (table, chain, text)
        row = app.main_screen.query_one(FirewallView).culprit_row
        assert row is not None and row.rule is not None
        assert (row.rule.table, row.rule.chain, row.rule.position, row.rule.text) == (
            table,
            chain,
            position,
            text,
        )


@pytest.fixture
def tmux_session() -> Iterator[str]:
    if shutil.which("tmux") is None:
        pytest.skip("no tmux")
    name = f"dwtest-tui-{uuid.uuid4().hex[:8]}"
    yield name
    subprocess.run(["tmux", "kill-session", "-t", name], capture_output=True, check=False)


def capture(session: str) -> str:
    return subprocess.run(
        ["tmux", "capture-pane", "-p", "-t", session], capture_output=True, text=True, check=False
    ).stdout


def wait_for(session: str, text: str, timeout: float = 30.0) -> str:
    deadline = time.monotonic() + timeout
    screen = ""
    while time.monotonic() < deadline:
        screen = capture(session)
        if text in screen:
            return screen
        time.sleep(0.2)
    raise AssertionError(f"{text!r} never appeared; the screen was:\n{screen}")


def send(session: str, *keys: str, literal: bool = False) -> None:
    subprocess.run(["tmux", "send-keys", "-t", session, *(["-l"] if literal else []), *keys], check=True)
    time.sleep(0.3)


def test_dockwire_in_tmux_shows_the_rule_that_blocks_a_ping(
    lab: Any, docker_client: Any, tmux_session: str
) -> None:
    """Start `dockwire` on the live host in a real terminal, mark A and B with the keys a user would press,
    ping, and read the rule's name off the screen."""
    rule = expected_culprit(docker_client)
    # The short sleep lets tmux settle the pane's size before the app reads it (else it may start at 80x24).
    command = f"sleep 0.5; exec {DOCKWIRE}"
    subprocess.run(
        ["tmux", "new-session", "-d", "-s", tmux_session, "-x", "160", "-y", "45", command], check=True
    )
    wait_for(tmux_session, "firewall rules")
    for name in (SRC, DST):
        send(tmux_session, "2")
        send(tmux_session, "/")
        send(tmux_session, name, literal=True)
        send(tmux_session, "Enter")
        send(tmux_session, "Space")
        send(tmux_session, "Escape")
    wait_for(tmux_session, f"{SRC} → ")
    send(tmux_session, "p")
    screen = wait_for(tmux_session, "BLOCKED")
    screen = wait_for(tmux_session, rule) if rule not in screen else screen
    assert f"{SRC} → {DST} icmp" in screen
    send(tmux_session, "q")


async def test_an_ipv6_probe_from_the_command_line_names_the_ip6tables_rule(
    lab: Any, docker_client: Any
) -> None:
    """`:probe dwlab-v6-a dwlab-v6-b tcp/80 -6` sends real IPv6 packets; the kernel's trace names the lab's
    ip6tables DOCKER-USER rule, the one the static engine blames (an engine without ip6tables has no such
    rule: there the probe gets through)."""
    model = await collect(docker_client)
    static = evaluate(model, "dwlab-v6-a", "dwlab-v6-b", "tcp", 80, family=6)
    app = make_app(LiveSource(docker_client, "live · test"), clock=fixed_clock, root=True)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        await press(pilot, "colon")
        await type_text(pilot, "probe dwlab-v6-a dwlab-v6-b tcp/80 -6")
        await press(pilot, "enter")
        await until(pilot, lambda: app.last_outcome is not None, "the probe's answer", timeout=30)
        outcome = app.last_outcome
        assert outcome is not None and outcome.mode == "active", outcome
        if static.verdict == "allowed":
            assert outcome.status == "allowed", outcome.summary
            return
        assert outcome.status == "blocked" and outcome.culprit is not None, outcome.summary
        assert static.culprit is not None
        culprit = outcome.culprit
        assert (culprit.family, culprit.table, culprit.chain, culprit.text) == (
            "ip6",
            static.culprit.table,
            static.culprit.chain,
            static.culprit.text,
        )
