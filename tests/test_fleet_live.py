"""Verdicts across two real hosts: this machine (A) and the lab's host B (its own netns and dockerd, read over
ssh the way a remote host is). Real packets between A's and B's lab containers agree with `why`; the rule
the verdict blames is the one whose counter moves on the receiving host and the one the kernel's trace
shows there; after the fix `why` suggests is applied on B, traffic passes and `why` says so.

Probes go only from lab containers to lab containers on this machine. Fixes are removed again.
"""

from __future__ import annotations

import json
import shlex
import subprocess
import sys
import time
from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("docker")

from dockwire.lab import second_host as hb
from dockwire.lab.report import LabReport
from dockwire.verdict.records import Verdict
from dockwire.verdict.render import render_verdict
from tests.test_verdict_live import traced_drop
from tests.two_hosts_env import (
    A_WEB,
    B_WEB,
    CASES,
    IN_B,
    Case,
    apply_fix_on_b,
    ask,
    bridge_ip,
    case_id,
    fleet_now,
    http_body,
    packets,
    pings,
    reaches,
    undo_fix_on_b,
)
from tests.two_hosts_env import client_b as open_client_b

pytestmark = pytest.mark.live

TRACE_COMMENT = "dwtest-fleet-trace"


@pytest.fixture(scope="module")
def clients(docker_client: Any, lab: LabReport) -> Iterator[dict[str, Any]]:
    b = open_client_b()
    yield {"a": docker_client, "b": b}
    b.close()


def culprit_packets(verdict: Verdict) -> int:
    c = verdict.culprit
    assert c is not None and c.host in ("a", "b")
    return packets(c.host, c.table, c.text)


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_verdict_agrees_with_real_traffic(clients: dict[str, Any], case: Case) -> None:
    verdict = ask(fleet_now(), case)
    assert verdict.dst.address == bridge_ip(clients[case[2]], case[3])
    before = culprit_packets(verdict) if verdict.culprit is not None else 0
    reached = reaches(clients, case)
    assert (verdict.verdict == "allowed") == reached, render_verdict(verdict)
    if verdict.verdict == "blocked":
        assert verdict.culprit is not None and verdict.culprit.host == case[2], render_verdict(verdict)
        assert verdict.fix_host == case[2]
        assert culprit_packets(verdict) > before, "the culprit's counter did not move on the receiving host"


def blocked_or_skip(verdict: Verdict) -> None:
    """Engines before 28.0 let the seed through (its appended accept is reached): nothing to trace or fix."""
    if verdict.verdict == "allowed":
        pytest.skip("A -> B passes on this engine (the seed's FORWARD accept is reached): nothing to fix")
    assert verdict.verdict == "blocked" and verdict.culprit is not None, render_verdict(verdict)


def test_receiving_host_trace_names_the_culprit(clients: dict[str, Any]) -> None:
    if "nf_tables" not in subprocess.run(["iptables", "-V"], capture_output=True, text=True).stdout:
        pytest.skip("xtables-monitor --trace needs the iptables nf_tables backend (legacy: counters above)")
    verdict = ask(fleet_now(), CASES[0])
    blocked_or_skip(verdict)
    assert verdict.culprit is not None
    target = bridge_ip(clients["b"], B_WEB)
    # On B the packet comes from A's link address: A masquerades its containers.
    spec = ["-s", f"{hb.A_ADDR}/32", "-d", f"{target}/32", "-p", "icmp"]
    spec += ["-m", "comment", "--comment", TRACE_COMMENT, "-j", "TRACE"]
    iptables_b = [*IN_B, "iptables", "-w", "5", "-t", "raw"]
    subprocess.run([*iptables_b, "-I", "PREROUTING", "1", *spec], check=True)
    monitor = None
    try:
        monitor = subprocess.Popen(
            [*IN_B, "xtables-monitor", "--trace"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        time.sleep(0.5)  # let the monitor subscribe before the packet goes
        assert not pings(clients["a"], A_WEB, target)
        monitor.terminate()
        output, _ = monitor.communicate(timeout=10)
    finally:
        if monitor is not None and monitor.poll() is None:
            monitor.kill()
            monitor.wait()
        while subprocess.run([*iptables_b, "-C", "PREROUTING", *spec], capture_output=True).returncode == 0:
            subprocess.run([*iptables_b, "-D", "PREROUTING", *spec], check=True)
    traced = traced_drop(output)
    assert traced is not None, f"no DROP in host B's trace:\n{output}"
    assert shlex.split(traced) == shlex.split(verdict.culprit.text), output + render_verdict(verdict)


@pytest.fixture
def fixed_b(clients: dict[str, Any]) -> Iterator[None]:
    """Host B with the fix `why` suggests for A -> B applied; undone afterwards."""
    applied: list[list[str]] = []
    verdict = ask(fleet_now(), CASES[0])
    blocked_or_skip(verdict)
    try:
        applied = apply_fix_on_b(verdict, clients["b"])
        yield
    finally:
        undo_fix_on_b(applied, clients["a"])


def test_after_the_suggested_fix_traffic_passes_and_why_says_so(
    clients: dict[str, Any], fixed_b: None
) -> None:
    fleet = fleet_now()
    for case in CASES[:2]:
        verdict = ask(fleet, case)
        assert verdict.verdict == "allowed", render_verdict(verdict)
        assert reaches(clients, case), render_verdict(verdict)
    assert http_body(clients["a"], A_WEB, bridge_ip(clients["b"], B_WEB)) == B_WEB
    back = ask(fleet, CASES[2])  # B -> A is still A's raw drop: the fix was for B only
    assert back.verdict == "blocked" and back.culprit is not None and back.culprit.host == "a"
    assert not reaches(clients, CASES[2])


def test_the_fix_is_gone_again(clients: dict[str, Any]) -> None:
    assert hb.DAEMON_JSON.read_text().strip() == "{}"
    verdict = ask(fleet_now(), CASES[0])
    assert (verdict.verdict == "allowed") == reaches(clients, CASES[0]), render_verdict(verdict)


def test_the_command_line_reads_both_live_hosts(clients: dict[str, Any]) -> None:
    """`dockwire --ssh-config … -H a=unix://… -H b=ssh://dwlab-hostb why …`: host a read here, host b by
    dockwire there over ssh; the same verdict as the models read directly, and it agrees with real traffic."""
    argv = [sys.executable, "-m", "dockwire", "--ssh-config", hb.SSH_CONFIG]
    argv += ["-H", "a=unix:///var/run/docker.sock", "-H", f"b=ssh://{hb.HOST_NAME}"]
    case = CASES[0]
    proc = subprocess.run(
        [*argv, "why", f"{case[1]}@a", f"{case[3]}@b", "--json"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)
    expected = ask(fleet_now(), case)
    assert (data["verdict"], data["dst"]["address"]) == (expected.verdict, expected.dst.address)
    assert (data["verdict"] == "allowed") == reaches(clients, case)
    if expected.culprit is not None:
        assert (data["culprit"]["host"], data["culprit"]["text"]) == ("b", expected.culprit.text)
    bad = subprocess.run(
        [*argv[:5], "-H", "b=ssh://root@198.51.100.242:2", "why", "x@b", "y@b"],
        capture_output=True,
        text=True,
    )
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "ssh" in bad.stderr, bad.stderr
