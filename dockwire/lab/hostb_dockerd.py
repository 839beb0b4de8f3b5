"""Host B's Docker engine: a dockerd started inside the namespace with its own roots, socket and daemon.json.

`nsenter --net` (not `ip netns exec`, whose /sys remount makes dockerd stop with "Devices cgroup isn't
mounted") puts it in B's namespace and leaves the mount namespace alone; its own UTS namespace gives it the
host name `dwlab-hostb`. Given no containerd address, dockerd
starts a managed containerd under its exec root (state there, content under the data root); the containerd
namespaces are our own as well, so B stays apart even if a system containerd appears. The daemon.json is the
lab's (`{}` by default), never /etc/docker's: a test may restart B with other settings, and the next `lab up`
restores the default.
"""

from __future__ import annotations

import json
import subprocess
import time
from pathlib import Path
from typing import Any

import docker
import docker.errors

from dockwire.lab.hostb_proc import daemon_in_hostb, in_namespace, pidfile_pid, run, stop
from dockwire.lab.report import LabError, LabObject
from dockwire.lab.scenarios import IMAGE
from dockwire.lab.second_host import (
    B_BIP,
    B_SOCKET,
    DAEMON_JSON,
    DATA_ROOT,
    DOCKERD_LOG,
    EXEC_ROOT,
    HOST_NAME,
    PIDFILE,
    SCENARIO,
)

START_TIMEOUT = 30.0
DEFAULT_CONFIG: dict[str, Any] = {}
CONTAINERD_PIDFILE = EXEC_ROOT / "containerd" / "containerd.pid"


def command() -> list[str]:
    return daemon_in_hostb(
        "dockerd",
        "--config-file", str(DAEMON_JSON),
        "--data-root", str(DATA_ROOT),
        "--exec-root", str(EXEC_ROOT),
        "--pidfile", str(PIDFILE),
        "-H", B_SOCKET,
        "--bip", B_BIP,
        "--containerd-namespace", HOST_NAME,
        "--containerd-plugins-namespace", f"{HOST_NAME}-plugins",
    )  # fmt: skip


def client(timeout: int = 30) -> docker.DockerClient:
    return docker.DockerClient(base_url=B_SOCKET, timeout=timeout)


def answers() -> bool:
    try:
        probe = client(timeout=3)  # the client asks for the API version already
    except docker.errors.DockerException:
        return False
    try:
        return bool(probe.ping())
    except docker.errors.DockerException:
        return False
    finally:
        probe.close()


def running_pid() -> int | None:
    """The pid of B's dockerd from its pidfile, when alive and ours (its command names our exec root)."""
    return pidfile_pid(PIDFILE, str(EXEC_ROOT))


def _config_text(config: dict[str, Any]) -> str:
    return json.dumps(config, indent=2, sort_keys=True) + "\n"


def _detail(pid: int | None) -> str:
    return f"{B_SOCKET}, docker0 {B_BIP}" + (f", pid {pid}" if pid else "")


def ensure(config: dict[str, Any] | None = None) -> LabObject:
    """Keep B's dockerd when it runs here with CONFIG (default `{}`), else (re)start it."""
    text = _config_text(DEFAULT_CONFIG if config is None else config)
    pid = running_pid()
    current = DAEMON_JSON.read_text() if DAEMON_JSON.exists() else ""
    if pid is not None and in_namespace(pid) and current == text and answers():
        return LabObject("dockerd", HOST_NAME, "reused", SCENARIO, _detail(pid))
    existed = pid is not None
    stop_dockerd()
    EXEC_ROOT.mkdir(parents=True, exist_ok=True)
    DATA_ROOT.mkdir(parents=True, exist_ok=True)
    DAEMON_JSON.write_text(text)
    _start()
    return LabObject(
        "dockerd", HOST_NAME, "recreated" if existed else "created", SCENARIO, _detail(running_pid())
    )


def _start() -> None:
    with DOCKERD_LOG.open("a") as log:
        # setsid -f: dockerd is nobody's child here, so stopping it later never leaves a zombie to wait for.
        subprocess.run(
            ["setsid", "-f", *command()], stdin=subprocess.DEVNULL, stdout=log, stderr=log, check=True
        )
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if answers():
            return
        time.sleep(0.1)
    stop_dockerd()
    raise LabError(f"host B's dockerd did not answer on {B_SOCKET}: {_last_error()} (log: {DOCKERD_LOG})")


def _last_error() -> str:
    try:
        lines = DOCKERD_LOG.read_text(errors="replace").splitlines()[-200:]
    except OSError:
        return "no log"
    errors = [line for line in lines if "level=error" in line or "level=fatal" in line or "failed" in line]
    return (errors or lines or ["no output"])[-1].strip()[:300]


def stop_dockerd() -> bool:
    """Stop B's dockerd by its pidfile pid, then wait for (or stop) its containerd; False if none ran."""
    stopped = stop(PIDFILE, str(EXEC_ROOT), "host B's dockerd", timeout=60)
    stop(CONTAINERD_PIDFILE, str(EXEC_ROOT), "host B's containerd", timeout=30)
    return stopped


def status() -> LabObject:
    pid = running_pid()
    if pid is None:
        return LabObject("dockerd", HOST_NAME, "missing", SCENARIO, B_SOCKET)
    state = "running" if answers() else "not answering"
    return LabObject("dockerd", HOST_NAME, state, SCENARIO, _detail(pid))


def ensure_image(client_a: docker.DockerClient, client_b: docker.DockerClient) -> LabObject:
    """Give B the lab image A has, by `docker save | docker load` (same content, same id)."""
    name = f"{HOST_NAME}:{IMAGE}"
    try:
        image = client_a.images.get(IMAGE)
    except docker.errors.ImageNotFound as err:
        raise LabError(f"image {IMAGE} not found: run scripts/lab-engine to build it") from err
    try:
        if client_b.images.get(IMAGE).id == image.id:
            return LabObject("image", name, "reused", SCENARIO, image.short_id)
        state = "recreated"
    except docker.errors.ImageNotFound:
        state = "created"
    try:
        client_b.images.load(b"".join(image.save(named=True)))
    except docker.errors.DockerException as err:
        raise LabError(f"cannot load {IMAGE} into host B: {err}") from err
    return LabObject("image", name, state, SCENARIO, image.short_id)


def unmount_leftovers() -> None:
    """Unmount what a dockerd that died uncleanly left mounted under B's roots (its own bind mounts)."""
    mounts = [line.split()[4] for line in Path("/proc/self/mountinfo").read_text().splitlines()]
    ours = [m for m in mounts if any(m == str(r) or m.startswith(f"{r}/") for r in (DATA_ROOT, EXEC_ROOT))]
    for mount in sorted(ours, key=len, reverse=True):
        run(["umount", mount], check=False)
