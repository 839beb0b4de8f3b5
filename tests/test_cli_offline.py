"""A command given a snapshot (or the demo) never touches the host; one that acts on the host refuses them.

DOCKER_HOST points at a socket that does not exist: a command that tried to reach a daemon would fail.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from dockwire.cli import main

SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft.json"
NOWHERE = {"DOCKER_HOST": "unix:///run/dwtest-no-such-docker.sock"}


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args), env=NOWHERE)
    return result.exit_code, result.stdout, result.stderr


@pytest.mark.parametrize(
    "args",
    [
        ("--demo", "why", "dwlab-default-a", "dwlab-default-b"),
        ("--snapshot", str(SNAPSHOT), "why", "dwlab-default-a", "dwlab-default-b", "--port", "80"),
        ("why", "dwlab-default-a", "dwlab-default-b", "--port", "80", "--snapshot", str(SNAPSHOT)),
        ("--snapshot", str(SNAPSHOT), "matrix", "--json"),
    ],
)
def test_offline_commands_answer_from_the_snapshot(args: tuple[str, ...]) -> None:
    code, out, err = run(*args)
    assert code in (0, 1), err
    assert "docker" not in err.lower() or "warning" in err.lower()
    assert out.strip()


@pytest.mark.parametrize("args", [("--snapshot", "", "why", "a", "b"), ("why", "a", "b", "--snapshot", "")])
def test_an_empty_snapshot_path_is_an_error(args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2 and err.count("\n") == 1 and "snapshot" in err


@pytest.mark.parametrize(
    "args",
    [("--demo", "probe", "a", "b"), ("--demo", "snapshot"), ("--snapshot", str(SNAPSHOT), "lab", "up")],
)
def test_commands_that_act_on_the_host_refuse_a_snapshot(args: tuple[str, ...]) -> None:
    code, _, err = run(*args)
    assert code == 2 and err.count("\n") == 1 and "live host" in err
