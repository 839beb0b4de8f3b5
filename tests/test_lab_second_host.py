"""The two-host lab against the real engines: host B exists, is reachable over ssh, and real packets between
A's and B's containers die where Docker 28.2+ puts them (raw PREROUTING of the receiving host).

Probes go only from lab containers to lab containers. The fixes (B's dockerd with `allow-direct-routing`, a
DOCKER-USER accept on B) are applied by one test and taken away again; the lab is left up.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from typing import Any

import pytest

docker = pytest.importorskip("docker")

from dockwire.lab import hostb_dockerd, hostb_sshd, lab_down, lab_status, lab_up  # noqa: E402
from dockwire.lab import second_host as hb  # noqa: E402
from dockwire.lab.hostb_proc import pid_alive  # noqa: E402
from dockwire.lab.report import LabReport  # noqa: E402
from tests.two_hosts_env import IN_B, bridge_ip, http_body, packets, pings, raw_drop, saved  # noqa: E402

pytestmark = pytest.mark.live

A_CONTAINER = "dwlab-default-b"
B_CONTAINER = "dwlab-b-web"
FIX_COMMENT = "dwtest-two-hosts-fix"
B_USER_ACCEPT = [
    "DOCKER-USER", "-d", hb.B_SUBNET, "-i", hb.B_IF, "-o", "docker0",
    "-m", "comment", "--comment", FIX_COMMENT, "-j", "ACCEPT",
]  # fmt: skip


@pytest.fixture(scope="module")
def client_b(lab: LabReport) -> Iterator[Any]:
    client = docker.DockerClient(base_url=hb.B_SOCKET, timeout=30)
    yield client
    client.close()


def lab_rule_lines(host: str) -> list[str]:
    return [line for line in saved(host, "filter").splitlines() if hb.RULE_COMMENT in line]


# --- lab up ---------------------------------------------------------------------------------------------


def a_subnet(client: Any) -> str:
    return str(client.networks.get("bridge").attrs["IPAM"]["Config"][0]["Subnet"])


def test_up_builds_host_b(docker_client: Any, lab: LabReport, client_b: Any) -> None:
    for kind, name in [
        ("netns", hb.NETNS), ("veth", hb.A_IF), ("dockerd", hb.HOST_NAME), ("sshd", hb.HOST_NAME),
        ("container", B_CONTAINER), ("route", f"hosta:{hb.B_SUBNET}"),
        ("rule", f"hosta:FORWARD/{hb.RULE_COMMENT}"), ("rule", f"hostb:FORWARD/{hb.RULE_COMMENT}"),
    ]:  # fmt: skip
        found = lab.find(name, kind)
        assert found is not None and found.state in ("created", "recreated", "reused"), str(lab)
    assert client_b.info()["Name"] == hb.HOST_NAME
    assert client_b.containers.get(B_CONTAINER).labels["io.dockwire.lab.scenario"] == hb.SCENARIO
    assert bridge_ip(client_b, B_CONTAINER).startswith("10.199.")
    # The classic accepts are appended: after Docker's jumps in FORWARD, on both hosts.
    for host, other in (("a", hb.LINK_SUBNET), ("b", hb.LINK_SUBNET)):
        forward = [
            line.split("] ", 1)[1] for line in saved(host, "filter").splitlines() if "-A FORWARD " in line
        ]
        assert forward[-1] == f"-A FORWARD -s {other} -m comment --comment {hb.RULE_COMMENT} -j ACCEPT"
        assert forward[-1] != forward[0]  # Docker's jumps come first (DOCKER-USER, then its own chains)
        assert forward[0] == "-A FORWARD -j DOCKER-USER"
    routes = subprocess.run(["ip", "-n", hb.NETNS, "route"], capture_output=True, text=True).stdout
    assert f"via {hb.A_ADDR} dev {hb.B_IF}" in routes


def test_status_reports_host_b(docker_client: Any, lab: LabReport) -> None:
    status = lab_status(docker_client)
    two_hosts = [o for o in status.objects if o.scenario == hb.SCENARIO]
    assert {o.kind for o in two_hosts} == {"netns", "veth", "dockerd", "sshd", "route", "rule", "container"}
    assert all(o.state in ("present", "running", "up") for o in two_hosts), str(status)


def test_ssh_runs_dockwire_on_host_b(lab: LabReport) -> None:
    command = "dockwire --version && hostname && printenv DOCKER_HOST && command -v dockwire"
    proc = subprocess.run(
        ["ssh", *hb.ssh_options(), f"root@{hb.B_ADDR}", command], capture_output=True, text=True, timeout=30
    )
    assert proc.returncode == 0, proc.stderr
    version, hostname, docker_host, where = proc.stdout.split("\n")[:4]
    assert version.startswith("dockwire")
    assert (hostname, docker_host) == (hb.HOST_NAME, hb.B_SOCKET)
    assert where == f"{hb.venv_bin()}/dockwire"
    via_config = ["ssh", "-F", hb.SSH_CONFIG, hb.HOST_NAME, "hostname"]
    assert (
        subprocess.run(via_config, capture_output=True, text=True, timeout=30).stdout.strip() == hb.HOST_NAME
    )


# --- the broken seed: each host's raw PREROUTING drops the other's traffic ------------------------------


def engine_28(client: Any) -> bool:
    """Docker 28.2+ drops routed traffic to containers (raw PREROUTING per endpoint); 20.10 does not."""
    major, minor = (int(p) for p in client.version()["Version"].split(".")[:2])
    return (major, minor) >= (28, 2)


@pytest.fixture
def direct_access_dropped(docker_client: Any) -> None:
    if not engine_28(docker_client):
        pytest.skip("engines before 28.2 have no raw direct-access drop: the seed works there")


@pytest.mark.usefixtures("direct_access_dropped")
def test_a_to_b_dies_in_b_raw_prerouting(docker_client: Any, client_b: Any, lab: LabReport) -> None:
    target = bridge_ip(client_b, B_CONTAINER)
    before = packets("b", "raw", raw_drop(target))
    assert not pings(docker_client, A_CONTAINER, target)
    after_ping = packets("b", "raw", raw_drop(target))
    assert after_ping > before
    assert http_body(docker_client, A_CONTAINER, target) == ""
    assert packets("b", "raw", raw_drop(target)) > after_ping


@pytest.mark.usefixtures("direct_access_dropped")
def test_b_to_a_dies_in_a_raw_prerouting(docker_client: Any, client_b: Any, lab: LabReport) -> None:
    target = bridge_ip(docker_client, A_CONTAINER)
    before = packets("a", "raw", raw_drop(target))
    assert not pings(client_b, B_CONTAINER, target)
    after_ping = packets("a", "raw", raw_drop(target))
    assert after_ping > before
    assert http_body(client_b, B_CONTAINER, target) == ""
    assert packets("a", "raw", raw_drop(target)) > after_ping


# --- the fix: allow-direct-routing on B, then a DOCKER-USER accept on B ---------------------------------


@pytest.fixture
def b_direct_routing(
    direct_access_dropped: None, docker_client: Any, client_b: Any, lab: LabReport
) -> Iterator[None]:
    """B's dockerd restarted with allow-direct-routing; afterwards lab up restores the lab's default."""
    try:
        hostb_dockerd.ensure({"allow-direct-routing": True})
        client_b.containers.get(B_CONTAINER).start()
        yield
    finally:
        subprocess.run([*IN_B, "iptables", "-w", "5", "-D", *B_USER_ACCEPT], capture_output=True, check=False)
        lab_up(docker_client)


def test_direct_routing_and_docker_user_accept_let_a_reach_b(
    docker_client: Any, client_b: Any, b_direct_routing: None
) -> None:
    target = bridge_ip(client_b, B_CONTAINER)
    assert raw_drop(target) not in saved("b", "raw")
    docker_drop = "-A DOCKER ! -i docker0 -o docker0 -j DROP"
    before = packets("b", "filter", docker_drop)
    assert not pings(docker_client, A_CONTAINER, target)
    assert packets("b", "filter", docker_drop) > before  # now filter DOCKER drops it

    subprocess.run([*IN_B, "iptables", "-w", "5", "-I", *B_USER_ACCEPT], check=True)
    accept = "-A " + " ".join(B_USER_ACCEPT)
    before = packets("b", "filter", accept)
    assert pings(docker_client, A_CONTAINER, target)
    assert http_body(docker_client, A_CONTAINER, target) == B_CONTAINER
    assert packets("b", "filter", accept) > before


@pytest.mark.usefixtures("direct_access_dropped")
def test_lab_up_restored_the_broken_seed(client_b: Any, lab: LabReport) -> None:
    assert hb.DAEMON_JSON.read_text().strip() == "{}"
    assert raw_drop(bridge_ip(client_b, B_CONTAINER)) in saved("b", "raw")
    assert FIX_COMMENT not in saved("b", "filter")


# --- lab down (last: it takes the lab away, then builds it again) ---------------------------------------


def test_down_leaves_nothing_of_host_b(docker_client: Any, lab: LabReport) -> None:
    dockerd_pid, sshd_pid = hostb_dockerd.running_pid(), hostb_sshd.running_pid()
    assert dockerd_pid and sshd_pid
    report = lab_down(docker_client)
    try:
        two_hosts = [o for o in report.objects if o.scenario == hb.SCENARIO]
        assert {o.state for o in two_hosts} == {"removed"}, str(report)
        assert hb.NETNS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
        assert subprocess.run(["ip", "link", "show", hb.A_IF], capture_output=True).returncode != 0
        assert hb.B_SUBNET not in subprocess.run(["ip", "route"], capture_output=True, text=True).stdout
        assert lab_rule_lines("a") == []
        assert not pid_alive(dockerd_pid) and not pid_alive(sshd_pid)  # a zombie waits for init to reap it
        assert not hb.EXEC_ROOT.exists() and not os.path.exists(hb.B_SOCKET.removeprefix("unix://"))
        again = lab_down(docker_client)
        assert {o.state for o in again.objects if o.scenario == hb.SCENARIO} == {"absent"}, str(again)
    finally:
        lab_up(docker_client)
