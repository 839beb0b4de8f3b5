"""The teaching lab against the real engine: each scenario is probed with real packets from inside containers.

The lab comes up once for the module and goes down at the end; the last test takes it down itself and checks
nothing with the lab's labels or names is left. Probes use addresses (busybox-static cannot resolve names
through glibc) except `nslookup`, and go only to lab containers and the lab's own namespace.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from typing import Any

import pytest

docker = pytest.importorskip("docker")

from dockwire.lab import LabError, LabReport, lab_down, lab_status, lab_up, outside, user_rule  # noqa: E402  # noqa: E402
from dockwire.lab.scenarios import (  # noqa: E402
    CONTAINERS,
    CUSTOM_GATEWAY,
    CUSTOM_IP,
    IMAGE,
    NETWORKS,
    SCENARIO_LABEL,
    WEB_HOST_PORT,
    WEB_UDP_HOST_PORT,
)

pytestmark = pytest.mark.live


def _unavailable() -> str:
    """Why the lab cannot run here, or "" when it can."""
    if os.geteuid() != 0:
        return "the lab needs root"
    for tool in ("ip", "iptables"):
        if shutil.which(tool) is None:
            return f"no `{tool}` command"
    try:
        client = docker.from_env(timeout=10)
        client.ping()
    except docker.errors.DockerException as err:
        return f"no Docker engine: {err}"
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        return f"no image {IMAGE} (run scripts/lab-engine)"
    return ""


@pytest.fixture(scope="module")
def client() -> Any:
    reason = _unavailable()
    if reason:
        pytest.skip(reason)
    return docker.from_env(timeout=30)


@pytest.fixture(scope="module")
def lab(client: Any) -> Iterator[LabReport]:
    report = lab_up(client)
    try:
        yield report
    finally:
        lab_down(client)


# --- probes ---------------------------------------------------------------------------------------------


def run_in(client: Any, name: str, command: str) -> tuple[int, str]:
    code, output = client.containers.get(name).exec_run(["sh", "-c", command])
    return code, output.decode(errors="replace")


def ip_of(client: Any, name: str, network: str = "bridge") -> str:
    container = client.containers.get(name)
    return str(container.attrs["NetworkSettings"]["Networks"][network]["IPAddress"])


def state(report: LabReport, name: str, kind: str = "") -> str:
    found = report.find(name, kind)
    return found.state if found else "not in report"


def pings(client: Any, name: str, address: str) -> bool:
    return run_in(client, name, f"ping -c1 -W1 {address}")[0] == 0


def http_body(client: Any, name: str, address: str, port: int = 80) -> str:
    """What an HTTP GET from `name` returns (the serving container's name), "" when it cannot connect."""
    code, out = run_in(client, name, f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w1 {address} {port}")
    return out.split("\r\n\r\n", 1)[-1].strip() if code == 0 and "\r\n\r\n" in out else ""


def udp_counters(client: Any, name: str) -> dict[str, int]:
    """The container namespace's UDP counters from /proc/net/snmp (InDatagrams, NoPorts, ...)."""
    rows = [r.split()[1:] for r in run_in(client, name, "grep '^Udp:' /proc/net/snmp")[1].splitlines()]
    return dict(zip(rows[0], map(int, rows[1]), strict=True))


def dnat_packets(port: int) -> int:
    """Packets counted by Docker's DNAT rule for a published host port."""
    out = subprocess.run(
        ["iptables", "-w", "5", "-t", "nat", "-S", "DOCKER", "-v"], capture_output=True, text=True, check=True
    ).stdout
    for line in out.splitlines():
        tokens = line.split()
        if "DNAT" in tokens and f"{port}" in tokens and "-c" in tokens:
            return int(tokens[tokens.index("-c") + 1])
    raise AssertionError(f"no DNAT rule for port {port} in nat/DOCKER")


def outside_http_get(address: str, port: int) -> str:
    """HTTP GET from inside the dwlab-outside namespace; returns the body."""
    script = textwrap.dedent(
        f"""
        import socket
        s = socket.create_connection(({address!r}, {port}), timeout=2)
        s.sendall(b"GET / HTTP/1.0\\r\\n\\r\\n")
        data = b""
        while chunk := s.recv(4096):
            data += chunk
        print(data.decode().split("\\r\\n\\r\\n", 1)[-1].strip())
        """
    )
    proc = subprocess.run(
        ["ip", "netns", "exec", outside.NETNS, sys.executable, "-c", script],
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    return proc.stdout.strip()


# --- lab up ---------------------------------------------------------------------------------------------


def test_up_builds_every_object(lab: LabReport) -> None:
    names = {o.name for o in lab.objects}
    assert {s.name for s in CONTAINERS} | {s.name for s in NETWORKS} <= names
    assert {outside.NETNS, outside.HOST_IF, user_rule.RULE_NAME} <= names
    assert all(o.state in ("created", "recreated", "reused") for o in lab.objects), str(lab)
    assert "dwlab-web" in str(lab)


def test_up_twice_reuses_everything(client: Any, lab: LabReport) -> None:
    again = lab_up(client)
    assert [o.state for o in again.objects] == ["reused"] * len(again.objects), str(again)


def test_every_lab_object_carries_the_labels(client: Any, lab: LabReport) -> None:
    for spec in CONTAINERS:
        labels = client.containers.get(spec.name).labels
        assert labels["io.dockwire.lab"] == "1"
        assert labels[SCENARIO_LABEL] == spec.scenario
    for net_spec in NETWORKS:
        labels = client.networks.get(net_spec.name).attrs["Labels"]
        assert labels["io.dockwire.lab"] == "1"
        assert labels[SCENARIO_LABEL] == net_spec.scenario


def test_status_sees_everything_running(client: Any, lab: LabReport) -> None:
    status = lab_status(client)
    for spec in CONTAINERS:
        assert state(status, spec.name, "container") == "running"
    for net_spec in NETWORKS:
        assert state(status, net_spec.name, "network") == "present"
    assert state(status, user_rule.RULE_NAME) == "present"
    assert state(status, outside.NETNS) == "present"
    assert state(status, outside.HOST_IF) == "up"


# --- scenarios ------------------------------------------------------------------------------------------


def test_default_bridge_pair_ping_each_other(client: Any, lab: LabReport) -> None:
    assert pings(client, "dwlab-default-a", ip_of(client, "dwlab-default-b"))
    assert pings(client, "dwlab-default-b", ip_of(client, "dwlab-default-a"))


def test_user_defined_bridges_are_isolated(client: Any, lab: LabReport) -> None:
    assert not pings(client, "dwlab-iso-a", ip_of(client, "dwlab-iso-b", "dwlab-net-b"))
    assert http_body(client, "dwlab-iso-a", ip_of(client, "dwlab-iso-b", "dwlab-net-b")) == ""


def test_noicc_containers_cannot_talk(client: Any, lab: LabReport) -> None:
    peer = ip_of(client, "dwlab-noicc-b", "dwlab-noicc")
    assert not pings(client, "dwlab-noicc-a", peer)
    assert http_body(client, "dwlab-noicc-a", peer) == ""


def test_internal_network_reaches_peers_but_not_outside(client: Any, lab: LabReport) -> None:
    peer = ip_of(client, "dwlab-internal-b", "dwlab-internal")
    assert pings(client, "dwlab-internal-a", peer)
    assert http_body(client, "dwlab-internal-a", peer) == "dwlab-internal-b"
    assert not pings(client, "dwlab-internal-a", outside.NS_ADDR)
    # The same probe from a non-internal user-defined network does reach the outside namespace.
    assert pings(client, "dwlab-iso-a", outside.NS_ADDR)


def test_custom_network_fixed_ip_gateway_and_mtu(client: Any, lab: LabReport) -> None:
    assert f"inet {CUSTOM_IP}/24" in run_in(client, "dwlab-custom-a", "ip -4 -o addr show eth0")[1]
    assert run_in(client, "dwlab-custom-a", "cat /sys/class/net/eth0/mtu")[1].strip() == "1400"
    assert f"default via {CUSTOM_GATEWAY}" in run_in(client, "dwlab-custom-a", "ip route")[1]


def test_outside_namespace_reaches_published_port_through_dnat(lab: LabReport) -> None:
    before = dnat_packets(WEB_HOST_PORT)
    assert outside_http_get(outside.HOST_ADDR, WEB_HOST_PORT) == "dwlab-web"
    assert dnat_packets(WEB_HOST_PORT) > before


def test_published_udp_port_on_loopback_echoes_from_web(client: Any, lab: LabReport) -> None:
    """127.0.0.1:15353/udp reaches dwlab-web's UDP echo (docker-proxy or DNAT) and the reply comes back."""
    before = udp_counters(client, "dwlab-web")
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(2)
        sock.sendto(b"dwlab-probe", ("127.0.0.1", WEB_UDP_HOST_PORT))
        reply, _ = sock.recvfrom(64)
    assert reply == b"dwlab-probe"
    after = udp_counters(client, "dwlab-web")
    assert after["InDatagrams"] > before["InDatagrams"]


def test_sidecar_shares_web_namespace(client: Any, lab: LabReport) -> None:
    assert http_body(client, "dwlab-sidecar", "127.0.0.1") == "dwlab-web"
    link = "cat /sys/class/net/eth0/address"
    assert run_in(client, "dwlab-sidecar", link)[1] == run_in(client, "dwlab-web", link)[1]


def test_none_container_has_only_loopback(client: Any, lab: LabReport) -> None:
    assert run_in(client, "dwlab-none", "ls /sys/class/net")[1].split() == ["lo"]


def test_linked_container_knows_db(client: Any, lab: LabReport) -> None:
    hosts = run_in(client, "dwlab-linked", "cat /etc/hosts")[1]
    target = ip_of(client, "dwlab-default-a")
    assert any(line.split()[:2] == [target, "db"] for line in hosts.splitlines() if line.strip())
    assert http_body(client, "dwlab-linked", target) == "dwlab-default-a"


def test_docker_user_rule_blocks_tcp80_but_not_ping(client: Any, lab: LabReport) -> None:
    target = ip_of(client, "dwlab-default-b")
    assert http_body(client, "dwlab-default-a", target) == ""
    assert pings(client, "dwlab-default-a", target)
    # Control: another container on the same bridge gets the page, so the rule is what stops default-a.
    assert http_body(client, "dwlab-linked", target) == "dwlab-default-b"


def test_embedded_dns_on_user_network_only(client: Any, lab: LabReport) -> None:
    code, out = run_in(client, "dwlab-internal-a", "nslookup dwlab-internal-b 127.0.0.11")
    assert code == 0
    assert f"Address: {ip_of(client, 'dwlab-internal-b', 'dwlab-internal')}" in out
    assert "127.0.0.11" in run_in(client, "dwlab-internal-a", "cat /etc/resolv.conf")[1]
    assert "127.0.0.11" not in run_in(client, "dwlab-default-a", "cat /etc/resolv.conf")[1]
    assert run_in(client, "dwlab-default-a", "nslookup dwlab-default-b 127.0.0.11")[0] != 0


def test_up_replaces_a_rule_for_old_addresses(client: Any, lab: LabReport) -> None:
    stale = user_rule.rule_spec("172.17.255.250", "172.17.255.251")
    user_rule.iptables("-I", user_rule.CHAIN, "1", *stale)
    report = lab_up(client)
    assert state(report, user_rule.RULE_NAME) == "recreated"
    want = user_rule.rule_spec(ip_of(client, "dwlab-default-a"), ip_of(client, "dwlab-default-b"))
    assert user_rule.lab_rules() == [want]


# --- errors ---------------------------------------------------------------------------------------------


def test_missing_image_is_a_clear_error(client: Any) -> None:
    script = textwrap.dedent(
        """
        import docker
        from dockwire.lab import LabError, lab_up
        try:
            lab_up(docker.from_env())
        except LabError as err:
            print(err)
            raise SystemExit(3)
        """
    )
    proc = subprocess.run(
        [sys.executable, "-c", script],
        env={**os.environ, "DOCKWIRE_LAB_IMAGE": "dwtest-lab/no-such-image:latest"},
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode == 3, proc.stderr
    assert "scripts/lab-engine" in proc.stdout
    assert len(proc.stdout.strip().splitlines()) == 1


def test_not_root_is_a_clear_error(client: Any) -> None:
    """lab up as `nobody` (a forked child that dropped root) stops with a one-line error naming root."""
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = 4
        try:
            os.close(read_end)
            os.setgid(65534)
            os.setuid(65534)
            lab_up(docker.DockerClient(version="1.44"))
            code = 0
        except LabError as err:
            os.write(write_end, str(err).encode())
            code = 3
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        message = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 3
    assert "root" in message
    assert "\n" not in message


def test_subnet_overlap_is_a_clear_error(client: Any, lab: LabReport) -> None:
    """A host route into the custom subnet (on an idle veth pair) stops lab up before it acts."""
    link = ["ip", "link", "add", "dwtest-lab-ovl", "type", "veth", "peer", "name", "dwtest-lab-ovp"]
    subprocess.run(link, check=True)
    try:
        subprocess.run(["ip", "addr", "add", "10.123.0.1/25", "dev", "dwtest-lab-ovl"], check=True)
        for name in ("dwtest-lab-ovl", "dwtest-lab-ovp"):
            subprocess.run(["ip", "link", "set", name, "up"], check=True)
        with pytest.raises(LabError, match=r"10\.123\.0\.0/24 .*overlaps the host route 10\.123\.0\.0/25"):
            lab_up(client)
    finally:
        subprocess.run(["ip", "link", "delete", "dwtest-lab-ovl"], check=True)


# --- lab down (keep last: it takes the lab away) --------------------------------------------------------


@pytest.fixture
def bystander(client: Any) -> Iterator[Any]:
    """A test container that carries io.dockwire.lab=1 but is no lab object: lab down must leave it."""
    container = client.containers.run(
        IMAGE,
        ["sleep", "60"],
        name="dwtest-lab-bystander",
        labels={"io.dockwire.test": "1", "io.dockwire.lab": "1"},
        detach=True,
        init=True,
    )
    try:
        yield container
    finally:
        container.remove(force=True)


def test_down_removes_every_lab_object_and_nothing_else(client: Any, lab: LabReport, bystander: Any) -> None:
    report = lab_down(client)
    assert {o.state for o in report.objects} == {"removed"}, str(report)

    assert client.containers.list(all=True, filters={"label": SCENARIO_LABEL}) == []
    assert [c.name for c in client.containers.list(all=True) if c.name.startswith("dwlab-")] == []
    assert [n.name for n in client.networks.list() if n.name.startswith("dwlab-")] == []
    assert client.networks.list(filters={"label": SCENARIO_LABEL}) == []
    assert outside.NETNS not in subprocess.run(["ip", "netns", "list"], capture_output=True, text=True).stdout
    assert subprocess.run(["ip", "link", "show", outside.HOST_IF], capture_output=True).returncode != 0
    assert user_rule.lab_rules() == []

    bystander.reload()
    assert bystander.status == "running"

    again = lab_down(client)
    assert {o.state for o in again.objects} == {"absent"}, str(again)
