"""`dockwire serve` on the real lab: `why` answered by the resident prints what a cold read prints, and
holds a change made just before the question (a rule, a sysctl, a route inside a container), on either
iptables backend.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from dockwire.live import LiveModel
from dockwire.model import HostModel

pytestmark = pytest.mark.live

RULE_COMMENT = "dwtest-resident"
START_WAIT = 60.0


class Served:
    def __init__(self, proc: subprocess.Popen[str], env: dict[str, str], socket: Path) -> None:
        self.proc, self.env, self.socket = proc, env, socket

    def why(self, *args: str) -> tuple[int, str, str]:
        proc = subprocess.run(
            [sys.executable, "-m", "dockwire", "why", *args],
            env=self.env,
            capture_output=True,
            text=True,
            check=False,
            timeout=120,
        )
        return proc.returncode, proc.stdout, proc.stderr


def start_serve(runtime: Path) -> Served:
    env = {**os.environ, "DOCKWIRE_RUNTIME_DIR": str(runtime)}
    env.pop("DOCKER_HOST", None)
    proc = subprocess.Popen(
        [sys.executable, "-m", "dockwire", "serve"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    socket = runtime / "local.sock"
    deadline = time.monotonic() + START_WAIT
    while not socket.exists():
        if proc.poll() is not None or time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"serve did not start: {proc.communicate()[1]}")
        time.sleep(0.1)
    return Served(proc, env, socket)


def stop(served: Served) -> tuple[int, str]:
    served.proc.send_signal(signal.SIGTERM)
    _, err = served.proc.communicate(timeout=30)
    return served.proc.returncode, err


@pytest.fixture(scope="module")
def served(lab: Any, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    served = start_serve(tmp_path_factory.mktemp("resident"))
    yield served
    if served.proc.poll() is None:
        stop(served)


PAIRS = [
    ("dwlab-default-a", "dwlab-default-b"),
    ("dwlab-iso-a", "dwlab-iso-b"),
    ("dwlab-noicc-a", "dwlab-noicc-b", "--port", "80"),
    ("dwlab-custom-a", "dwlab-web:80"),
    ("dwlab-internal-a", "outside:198.51.100.7", "--json"),
    ("dwlab-default-a", "no-such-container"),
]


@pytest.mark.parametrize("pair", PAIRS, ids=lambda p: " ".join(p))
def test_the_resident_prints_what_a_cold_read_prints(served: Served, pair: tuple[str, ...]) -> None:
    answered = served.why(*pair, "-v")
    cold = served.why(*pair, "-v", "--cold")
    assert answered[:2] == cold[:2]
    if answered[0] != 2:
        assert "answered by the resident dockwire" in answered[2]
        assert "resident" not in cold[2]


def _iptables(*args: str) -> None:
    subprocess.run(["iptables", "-w", "5", *args], check=True, capture_output=True)


def _address(name: str) -> str:
    out = subprocess.run(
        ["docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name],
        capture_output=True,
        text=True,
        check=True,
    )
    return out.stdout.strip()


def test_a_rule_added_just_before_the_question_is_in_its_answer(served: Served) -> None:
    if subprocess.run(["iptables", "-w", "5", "-n", "-L", "DOCKER-USER"], capture_output=True).returncode:
        pytest.skip("this engine has no DOCKER-USER chain")
    rule = [
        "DOCKER-USER",
        "-d",
        f"{_address('dwlab-default-b')}/32",
        "-m",
        "comment",
        "--comment",
        RULE_COMMENT,
    ]
    _iptables("-I", *rule, "-j", "DROP")
    try:
        code, out, _ = served.why("dwlab-default-a", "dwlab-default-b")
    finally:
        _iptables("-D", *rule, "-j", "DROP")
    assert code == 1 and RULE_COMMENT in out
    code, out, _ = served.why("dwlab-default-a", "dwlab-default-b")
    assert code == 0, out


def test_a_route_changed_inside_a_container_is_in_the_next_answer(served: Served) -> None:
    pid = subprocess.run(
        ["docker", "inspect", "-f", "{{.State.Pid}}", "dwlab-default-a"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    route = ["nsenter", "-t", pid, "-n", "ip", "route"]
    subprocess.run([*route, "add", "blackhole", "198.51.100.9"], check=True)
    try:
        code, out, _ = served.why("dwlab-default-a", "outside:198.51.100.9")
    finally:
        subprocess.run([*route, "del", "blackhole", "198.51.100.9"], check=True)
    assert code == 1 and "no route to 198.51.100.9" in out
    assert served.why("dwlab-default-a", "outside:198.51.100.9")[0] == 0


def test_a_sysctl_changed_just_before_is_in_the_settled_model(lab: Any, docker_client: Any) -> None:
    """No notification announces a sysctl: `settled` reads them again (here rp_filter of a lab bridge)."""
    bridge = "br-" + docker_client.networks.get("dwlab-custom").id[:12]
    path = Path(f"/proc/sys/net/ipv4/conf/{bridge}/rp_filter")
    before = path.read_text()
    wanted = 2 if before.strip() != "2" else 1

    async def settled_value() -> tuple[int | None, int | None]:
        live = LiveModel(docker_client)
        first: list[HostModel] = []
        follow = asyncio.ensure_future(_follow(live, first))
        try:
            while not first:
                await asyncio.sleep(0.05)
            path.write_text(f"{wanted}\n")
            model, complete = await live.settled()
            assert complete
            return first[0].sysctls.rp_filter.get(bridge), model.sysctls.rp_filter.get(bridge)
        finally:
            path.write_text(before)
            follow.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await follow

    old, new = asyncio.run(settled_value())
    assert old == int(before) and new == wanted


async def _follow(live: LiveModel, first: list[HostModel]) -> None:
    async for update in live.updates():
        first[:] = first or [update.model]


def test_a_second_serve_is_refused_in_one_line(served: Served) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "dockwire", "serve"],
        env=served.env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert proc.stderr.count("\n") == 1 and f"(pid {served.proc.pid}) already serves" in proc.stderr


def test_sigterm_removes_the_socket(lab: Any, tmp_path: Path) -> None:
    served = start_serve(tmp_path)
    code, err = stop(served)
    assert code == 143 and "terminated (socket removed)" in err
    assert not served.socket.exists()
    code, _, err = served.why("dwlab-default-a", "dwlab-default-b", "-v")  # read cold again
    assert code == 0 and "resident" not in err
