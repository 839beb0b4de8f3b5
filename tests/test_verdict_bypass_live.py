"""An INPUT deny for a published port, on the real lab: real traffic goes past it, and `why` says so.

The lab's dwlab-web publishes 80 as port 18080 of the host; the outside namespace `dwlab-outside`
(198.51.100.2, TEST-NET-2) reaches it as 198.51.100.1:18080. The test inserts an INPUT DROP for tcp/18080
(comment `dockwire-test-bypass`): a real connection still gets through, the rule's own counter stays at 0
(the kernel's word that INPUT never saw the packet), and `why` says ALLOWED with the rule beside the answer.
Then the DOCKER-USER rule `why` suggests is inserted (with the comment `dockwire-test-bypass-fix`): the
connection is dropped, and `why` names that rule. Both rules are inserted and removed by their exact spec
(in a finally: nothing is flushed). Traffic only goes from the lab's outside namespace to the lab's host
address. The lab is shared: run it under its lock,
`flock /tmp/dwlab.lock .venv/bin/pytest -q -m live tests/test_verdict_bypass_live.py`.
"""

from __future__ import annotations

import asyncio
import shlex
import subprocess
from typing import Any

import pytest

from dockwire.model import HostModel
from dockwire.verdict.render import render_verdict
from dockwire.verdict.verdict import evaluate
from tests.lab_traffic import OUTSIDE, OUTSIDE_HOST_ADDR, tcp_connect

pytestmark = pytest.mark.live

COMMENT = "dockwire-test-bypass"
FIX_COMMENT = "dockwire-test-bypass-fix"
PORT = 18080
PUBLISHED = f"{OUTSIDE_HOST_ADDR}:{PORT}"
INPUT_SPEC = [
    "-p",
    "tcp",
    "-m",
    "tcp",
    "--dport",
    str(PORT),
    "-m",
    "comment",
    "--comment",
    COMMENT,
    "-j",
    "DROP",
]


def _nft_backend() -> bool:
    proc = subprocess.run(["iptables", "-V"], capture_output=True, text=True, check=False)
    return "nf_tables" in proc.stdout


def _run(argv: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, check=False, timeout=30)


def _model(docker_client: Any) -> HostModel:
    from dockwire.collect import collect

    model = asyncio.run(collect(docker_client))
    assert not model.stale, model.stale
    return model


def _with_comment(spec: list[str], comment: str) -> list[str]:
    """`spec` with a comment match before its target, so that the rule is ours to find and remove."""
    at = spec.index("-j")
    return [*spec[:at], "-m", "comment", "--comment", comment, *spec[at:]]


def _remove(tool: str, chain: str, spec: list[str]) -> None:
    for _ in range(10):  # every copy of exactly this rule (a failed earlier run may have left one)
        if _run([tool, "-w", "5", "-C", chain, *spec]).returncode != 0:
            return
        _run([tool, "-w", "5", "-D", chain, *spec])


def _connects() -> bool:
    return tcp_connect(OUTSIDE, OUTSIDE_HOST_ADDR, PORT)


def test_input_deny_is_bypassed_and_the_suggested_docker_user_rule_blocks(
    lab: Any, docker_client: Any
) -> None:
    if not _nft_backend():
        pytest.skip("run on the machine's iptables nf_tables backend")
    assert _connects(), "the lab's published port does not answer from the outside namespace"
    fix_tool, fix_spec = "", []
    added = _run(["iptables", "-w", "5", "-I", "INPUT", "1", *INPUT_SPEC])
    assert added.returncode == 0, added.stderr
    try:
        # The INPUT deny is not on the path: real traffic gets through, and the kernel never counts it.
        assert _connects(), "the INPUT rule dropped traffic to a published port"
        model = _model(docker_client)
        verdict = evaluate(model, OUTSIDE, PUBLISHED, "tcp")
        shown = render_verdict(verdict)
        assert verdict.verdict == "allowed", shown
        ours = [b for b in verdict.bypassed if COMMENT in b.rule.text]
        assert len(ours) == 1, shown
        (aside,) = ours
        assert (aside.rule.table, aside.rule.chain, aside.rule.position) == ("filter", "INPUT", 1)
        assert aside.rule.packets == 0, "INPUT saw the forwarded packet"
        assert "never sees the packet" in aside.why
        assert "⚠ not on this path: filter INPUT #1" in shown
        (command,) = aside.fix
        words = shlex.split(command)
        assert words[:3] == ["iptables", "-I", "DOCKER-USER"], command
        assert "--ctorigdstport" in words and str(PORT) in words

        # The fix `why` gives is on the path: it drops the connection, and `why` now names it.
        fix_tool, fix_spec = words[0], _with_comment(words[3:], FIX_COMMENT)
        added = _run([fix_tool, "-w", "5", "-I", "DOCKER-USER", *fix_spec])
        assert added.returncode == 0, added.stderr
        assert not _connects(), f"the suggested rule did not stop the traffic: {command}"
        blocked = evaluate(_model(docker_client), OUTSIDE, PUBLISHED, "tcp")
        shown = render_verdict(blocked)
        assert blocked.verdict == "blocked" and not blocked.bypassed, shown
        assert blocked.culprit is not None and blocked.culprit.chain == "DOCKER-USER", shown
        assert FIX_COMMENT in blocked.culprit.text and blocked.culprit.packets > 0, shown
        assert shlex.split(blocked.culprit.text)[2:] == fix_spec, shown
    finally:
        if fix_spec:
            _remove(fix_tool, "DOCKER-USER", fix_spec)
        _remove("iptables", "INPUT", INPUT_SPEC)
    assert COMMENT not in _run(["iptables-save"]).stdout
    assert _connects(), "the lab's published port no longer answers after the test"
