"""Reading another host: the ssh argv, what ssh brings back, the pipes, and for real: ssh failing inside a
network namespace made for the test, host B of the two-host lab over ssh, and B's engine read without ssh.

Traffic goes only to namespaces these tests create (dwtest-ssh-*) and to the lab's host B."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dockwire.collect import HOST_PARTS
from dockwire.errors import DockwireError
from dockwire.hosts import HostSpec, parse_host_option, spec_for_docker_host
from dockwire.model import HostModel
from dockwire.remote import (
    STDERR_KEPT,
    _model_from,
    collect_host,
    remote_command,
    run_captured,
    ssh_command,
)
from dockwire.snapshot import dumps

ROOT = Path(__file__).resolve().parent.parent
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
HOSTB_SOCKET = "unix:///run/dwlab-hostb.sock"
HOSTB_NETNS = "/run/netns/dwlab-hostb"


def _spec(url: str = "ssh://root@198.51.100.242:2222", **kw: Any) -> HostSpec:
    return msgspec.structs.replace(parse_host_option(f"b={url}"), **kw)


# --- the command --------------------------------------------------------------------------------------------


def test_ssh_argv_never_prompts_and_ends_options_before_the_command() -> None:
    spec = _spec(ssh_options=["-i", "/k", "-F", "/cfg"])
    assert ssh_command(spec, timeout=30) == [
        "-T", "-o", "BatchMode=yes", "-i", "/k", "-F", "/cfg", "-o", "ConnectTimeout=15",
        "-p", "2222", "root@198.51.100.242", "--", "dockwire snapshot -o -",
    ]  # fmt: skip
    assert ssh_command(_spec("ssh://[2001:db8::2]"), timeout=1)[-4:] == [
        "ConnectTimeout=1",
        "2001:db8::2",
        "--",
        "dockwire snapshot -o -",
    ]


def test_the_remote_command_is_quoted_for_the_remote_shell() -> None:
    assert remote_command(_spec(remote_dockwire=["~/.local/bin/dockwire"])) == (
        "~/.local/bin/dockwire snapshot -o -"
    )
    spec = _spec(remote_dockwire=["dockwire", "-H", "unix:///run/a b.sock; rm -rf /"])
    assert remote_command(spec) == "dockwire -H 'unix:///run/a b.sock; rm -rf /' snapshot -o -"


async def test_no_ssh_client_is_one_line(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(
        DockwireError, match=r"^b: no `ssh` command here to reach ssh://root@198\.51\.100\.242"
    ):
        await collect_host(_spec("ssh://root@198.51.100.242"))


# --- what comes back ----------------------------------------------------------------------------------------


def remote_model() -> HostModel:
    return HostModel(
        taken_at="2026-11-23T12:00:00+00:00",
        hostname="the-remote-says",
        stale={"firewall:nftables": "nft: tool missing; native nftables tables not read"},
    )


def test_the_snapshot_is_the_hosts_own_model() -> None:
    model = _model_from(_spec(), "root@198.51.100.242", 0, dumps(remote_model()), b"dockwire: warning: ...\n")
    assert model == remote_model()  # its hostname, its stale warnings: nothing of this machine


@pytest.mark.parametrize(
    ("status", "out", "err", "message"),
    [
        (255, b"", b"Warning: added\nssh: connect to host h port 22: Connection refused\r\n",
         "b: ssh to root@198.51.100.242 failed: ssh: connect to host h port 22: Connection refused"),
        (255, b"", b"", "failed: no reason given"),
        (255, b"", b"evil \x1b]0;title\x07\n", "failed: evil \\x1b]0;title\\x07"),
        (127, b"", b"bash: line 1: dockwire: command not found\n",
         "b: dockwire is not installed on root@198.51.100.242 (install it there: pipx install dockwire, "
         "on the PATH of ssh sessions; its shell said: bash: line 1: dockwire: command not found)"),
        (2, b"", b"dockwire: cannot reach Docker at the local Docker socket: daemon not running\n",
         "b: dockwire on root@198.51.100.242 failed: cannot reach Docker at the local Docker socket: daemon"),
        (3, b"", b"", "failed: exit status 3"),
        (-9, b"", b"", "was killed by signal 9"),
        (0, b"", b"", "wrote no snapshot"),
        (0, b"{not json", b"", "b: snapshot from root@198.51.100.242: not valid JSON"),
        (0, b"[]", b"", "not a dockwire snapshot"),
        (0, b'{"schema_version": 99}', b"",
         "schema version 99 is not supported (this dockwire reads 1); run the same dockwire version"),
    ],
)  # fmt: skip
def test_failures_are_one_line(status: int, out: bytes, err: bytes, message: str) -> None:
    with pytest.raises(DockwireError) as caught:
        _model_from(_spec(), "root@198.51.100.242", status, out, err)
    assert message in str(caught.value)
    assert str(caught.value).isprintable()


async def test_both_pipes_are_read_at_once() -> None:
    """MBs on stdout and stderr together: no deadlock, all of stdout, the end of stderr."""
    script = "head -c 3000000 /dev/zero >&2 & head -c 20000000 /dev/zero; wait; echo last >&2"
    status, out, err, over = await run_captured(["sh", "-c", script], 64 * 2**20)
    assert (status, len(out), len(err), over) == (0, 20_000_000, STDERR_KEPT, False)
    assert err.endswith(b"\x00last\n")


def marked(marker: str) -> list[int]:
    """Processes whose command line holds `marker` (to see that none is left)."""
    found = []
    for proc in Path("/proc").iterdir():
        try:
            if proc.name.isdigit() and marker.encode() in (proc / "cmdline").read_bytes():
                found.append(int(proc.name))
        except OSError:
            continue
    return found


async def test_too_much_output_kills_the_writer() -> None:
    marker = f"dwtest-{uuid.uuid4().hex}"
    started = time.monotonic()
    status, out, _, over = await run_captured(["sh", "-c", f"yes {marker}"], 2**20)
    assert over and len(out) == 2**20 and status < 0
    assert time.monotonic() - started < 10 and marked(marker) == []


async def test_cancelling_kills_the_child_and_its_group() -> None:
    marker = f"dwtest-{uuid.uuid4().hex}"
    script = f"sh -c 'sleep 60; : {marker}' & sleep 61; : {marker}"  # a child in the group, too
    task = asyncio.ensure_future(run_captured(["sh", "-c", script], 2**20))
    await asyncio.sleep(0.5)
    assert len(marked(marker)) == 2
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.2)  # the group's other member is reaped by init
    assert marked(marker) == []


# --- ssh for real, inside a network namespace made for the test ---------------------------------------------

#: The test namespace has only lo up, and drops what comes in for tcp/22 (a connect there times out).
BLACKHOLE = "127.0.0.1"
DROP_SSH = "add table ip dwtest; add chain ip dwtest input { type filter hook input priority 0; }; "
DROP_SSH += "add rule ip dwtest input tcp dport 22 drop"

RUN_IN_NETNS = """
import asyncio, json, sys
from dockwire.errors import DockwireError
from dockwire.hosts import parse_host_option
from dockwire.remote import collect_host
spec = parse_host_option(sys.argv[1], sys.argv[3:])
try:
    asyncio.run(collect_host(spec, timeout=float(sys.argv[2])))
    print(json.dumps({"ok": True}))
except DockwireError as exc:
    print(json.dumps({"error": str(exc)}))
"""


def _need(*tools: str) -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (network namespaces)")
    for tool in tools:
        if shutil.which(tool) is None:
            pytest.skip(f"no `{tool}` command")


@pytest.fixture
def netns() -> Iterator[str]:
    _need("ip", "nsenter", "ssh", "nft")
    name = f"dwtest-ssh-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    subprocess.run(["ip", "netns", "add", name], check=True)
    try:
        subprocess.run(["ip", "-n", name, "link", "set", "lo", "up"], check=True)
        subprocess.run(["ip", "netns", "exec", name, "nft", DROP_SSH], check=True)
        yield f"/run/netns/{name}"
    finally:
        subprocess.run(["ip", "netns", "del", name], check=False)


def in_netns(netns: str, url: str, timeout: float, *options: str) -> tuple[str, float]:
    """collect_host(url) run inside `netns`: its error line, and how long it took."""
    started = time.monotonic()
    done = subprocess.run(
        [
            "nsenter",
            f"--net={netns}",
            PYTHON,
            "-c",
            RUN_IN_NETNS,
            url,
            str(timeout),
            "-F",
            "/dev/null",
            *options,
        ],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)["error"], time.monotonic() - started


@pytest.mark.live
def test_ssh_connection_refused(netns: str) -> None:
    error, _ = in_netns(netns, "b=ssh://dwtest@127.0.0.1:1", 20)
    assert (
        error
        == "b: ssh to dwtest@127.0.0.1 failed: ssh: connect to host 127.0.0.1 port 1: Connection refused"
    )


@pytest.mark.live
def test_ssh_connect_timeout_is_ssh_own_reason(netns: str) -> None:
    error, took = in_netns(netns, f"b=ssh://dwtest@{BLACKHOLE}", 4)  # ssh gives up after 2s
    said = f"ssh: connect to host {BLACKHOLE} port 22: Connection timed out"
    assert error == f"b: ssh to dwtest@{BLACKHOLE} failed: {said}"
    assert took < 4 + 5


@pytest.mark.live
def test_timeout_kills_ssh(netns: str) -> None:
    marker = f"dwtest{uuid.uuid4().hex[:12]}"  # the ssh user: in ssh's command line
    error, took = in_netns(netns, f"b=ssh://{marker}@{BLACKHOLE}", 2, "-o", "ConnectTimeout=60")
    assert error == f"b: no model within 2s (ssh://{marker}@{BLACKHOLE})"
    assert took < 2 + 5
    assert marked(marker) == []


# --- host B of the two-host lab -----------------------------------------------------------------------------


def hostb_or_skip() -> Any:
    _need("ssh", "nsenter")
    try:
        from dockwire.lab import second_host
    except ImportError:
        pytest.skip("no two-host lab (dockwire.lab.second_host)")
    if not Path(second_host.SSH_KEY).is_file() or not Path(HOSTB_NETNS).exists():
        pytest.skip("host B is not up (dockwire lab up)")
    try:
        socket.create_connection((second_host.B_ADDR, second_host.SSH_PORT), timeout=3).close()
    except OSError as exc:
        pytest.skip(f"host B's sshd does not answer: {exc}")
    return second_host


def hostb_spec(**kw: Any) -> HostSpec:
    lab = hostb_or_skip()
    return msgspec.structs.replace(parse_host_option(f"b={lab.ssh_url()}", lab.ssh_options()), **kw)


@pytest.mark.live
async def test_hostb_wrong_key_is_an_auth_failure(tmp_path: Path) -> None:
    lab = hostb_or_skip()
    key = tmp_path / "id_ed25519"
    subprocess.run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-f", key], check=True)
    options = ["-F", "/dev/null", "-i", str(key), "-o", "IdentitiesOnly=yes"]
    options += ["-o", f"UserKnownHostsFile={lab.SSH_KNOWN_HOSTS}", "-o", "StrictHostKeyChecking=yes"]
    spec = parse_host_option(f"b={lab.ssh_url()}", options)
    with pytest.raises(DockwireError) as caught:
        await collect_host(spec, timeout=20)
    assert (
        str(caught.value)
        == f"b: ssh to root@{lab.B_ADDR} failed: root@{lab.B_ADDR}: Permission denied (publickey)."
    )


@pytest.mark.live
async def test_hostb_unknown_host_key_is_refused(tmp_path: Path) -> None:
    lab = hostb_or_skip()
    (tmp_path / "known_hosts").write_text("")
    options = [
        "-F",
        "/dev/null",
        "-i",
        lab.SSH_KEY,
        "-o",
        "IdentitiesOnly=yes",
        "-o",
        "StrictHostKeyChecking=yes",
    ]
    options += ["-o", f"UserKnownHostsFile={tmp_path / 'known_hosts'}"]
    with pytest.raises(DockwireError) as caught:
        await collect_host(parse_host_option(f"b={lab.ssh_url()}", options), timeout=20)
    assert str(caught.value) == f"b: ssh to root@{lab.B_ADDR} failed: Host key verification failed."


@pytest.mark.live
async def test_hostb_without_dockwire_on_path() -> None:
    spec = hostb_spec(remote_dockwire=["env", "PATH=/usr/bin:/bin", "dockwire"])
    with pytest.raises(DockwireError) as caught:
        await collect_host(spec, timeout=20)
    assert str(caught.value).startswith(
        "b: dockwire is not installed on root@198.51.100.242 (install it there"
    )
    assert "dockwire" in str(caught.value).rpartition("its shell said: ")[2]


@pytest.mark.live
async def test_hostb_dockwire_error_is_its_own_line() -> None:
    spec = hostb_spec(remote_dockwire=["dockwire", "-H", "unix:///run/dwtest-no-daemon.sock"])
    with pytest.raises(DockwireError) as caught:
        await collect_host(spec, timeout=20)
    assert str(caught.value).startswith(
        "b: dockwire on root@198.51.100.242 failed: cannot reach Docker at "
        "unix:///run/dwtest-no-daemon.sock: daemon not running"
    )


def comparable(model: HostModel) -> dict[str, Any]:
    """A model as JSON without what two reads a moment apart may differ in: when it was taken and the
    firewall's packet and byte counters (traffic between the reads moves them). Everything else (ids, pids,
    interfaces, routes, rules, rule handles, sysctls, stale) must be the same host's."""
    doc: dict[str, Any] = json.loads(dumps(model))
    doc["taken_at"] = ""
    for table in doc["firewall"]["tables"]:
        for chain in table["chains"]:
            chain["packets"] = chain["bytes"] = 0
            for rule in chain["rules"]:
                rule["packets"] = rule["bytes"] = 0
    return doc


def direct_snapshot_of_b() -> HostModel:
    """`dockwire snapshot` run on B itself: in B's network namespace and, when B's sshd runs, in its UTS
    namespace (B's daemons carry B's hostname there; the network namespace alone gives this machine's)."""
    from dockwire.lab import second_host
    from dockwire.snapshot import loads

    pidfile = Path(second_host.SSHD_PIDFILE)
    pid = pidfile.read_text().strip() if pidfile.exists() else ""
    uts = [f"--uts=/proc/{pid}/ns/uts"] if pid.isdigit() else []
    on_b = ["nsenter", f"--net={HOSTB_NETNS}", *uts, "env", f"DOCKER_HOST={HOSTB_SOCKET}"]
    dockwire = str(ROOT / ".venv" / "bin" / "dockwire")
    done = subprocess.run(
        [*on_b, dockwire, "snapshot", "-o", "-"], capture_output=True, timeout=120, check=True
    )
    return loads(done.stdout, origin="host B's own snapshot")


@pytest.mark.live
async def test_hostb_over_ssh_is_hostb_as_it_reads_itself() -> None:
    spec = hostb_spec()
    reading = await collect_host(spec, timeout=60)
    direct = await asyncio.to_thread(direct_snapshot_of_b)
    assert (reading.name, reading.spec) == ("b", spec)
    assert comparable(reading.model) == comparable(direct)
    assert any(a.address == "198.51.100.242" for i in reading.model.host.interfaces for a in i.addresses)
    assert reading.model.networks and reading.model.firewall.tables


@pytest.mark.live
async def test_hostb_engine_without_ssh_has_no_host_part() -> None:
    """B's engine through its socket, not declared local: the Docker part only; nothing of this machine."""
    if not Path(HOSTB_SOCKET.removeprefix("unix://")).exists():
        pytest.skip("host B's engine is not up (dockwire lab up)")
    spec = spec_for_docker_host(HOSTB_SOCKET)
    assert spec.kind == "docker"
    model = (await collect_host(spec, timeout=60)).model
    assert model.engine is not None and model.networks
    assert model.host == HostModel().host and model.bridges == [] and model.veths == []
    assert model.sysctls == HostModel().sysctls and model.firewall == HostModel().firewall
    assert all(not c.interfaces and not c.routes and c.dns is None for c in model.containers)
    why = f"host part unavailable: {HOSTB_SOCKET} is served from another network namespace"
    assert {k: model.stale[k] for k in HOST_PARTS} == dict.fromkeys(HOST_PARTS, why)
    import docker

    client = docker.DockerClient(base_url=HOSTB_SOCKET)
    try:
        assert model.hostname == client.info()["Name"]  # what B's engine reports, not this machine's
    finally:
        client.close()
    if Path(HOSTB_NETNS).exists():
        direct = await asyncio.to_thread(direct_snapshot_of_b)
        assert [n.id for n in model.networks] == [n.id for n in direct.networks]
        assert [(c.id, c.name, c.pid) for c in model.containers] == [
            (c.id, c.name, c.pid) for c in direct.containers
        ]


@pytest.mark.live
async def test_the_local_host_is_read_whole() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    reading = await collect_host(spec_for_docker_host(None), timeout=120)
    assert reading.name == "local" and reading.model.hostname == socket.gethostname()
    assert reading.model.host.interfaces and "netlink" not in reading.model.stale


@pytest.mark.live
async def test_hostb_stale_warnings_come_back_with_the_model(tmp_path: Path) -> None:
    """B's dockwire with iptables but no nft on its PATH cannot read native nftables: B's model says so,
    and that is the model this host gets."""
    lab = hostb_or_skip()
    if "nf_tables" not in subprocess.run(["iptables", "-V"], capture_output=True, text=True).stdout:
        pytest.skip("on iptables-legacy host B has no nf_tables tables to read: no nft, no warning")
    for tool in ("iptables", "iptables-save", "ip6tables", "ip6tables-save"):
        if found := shutil.which(tool, path="/usr/sbin:/sbin:/usr/bin"):
            (tmp_path / tool).symlink_to(found)
    dockwire = str(Path(lab.venv_bin()) / "dockwire")
    spec = hostb_spec(remote_dockwire=["env", f"PATH={tmp_path}:/usr/bin:/bin", dockwire])
    model = (await collect_host(spec, timeout=60)).model
    assert model.stale.get("firewall:nftables") == "nft: tool missing; native nftables tables not read"
    assert model.hostname == lab.HOST_NAME and model.firewall.tables  # the iptables part was read
