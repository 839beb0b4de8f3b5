"""Build, remove and list host B (see `dockwire.lab.second_host`); B's containers are `build.py`'s job.

`ensure_host` brings up the namespace, B's dockerd with the lab image and B's sshd; `ensure_wiring` adds the
routes and FORWARD accepts once A's docker0 subnet is known; `remove_host` takes all of it away again. Each
keeps what is already right, and is safe on a half-built host. `lab down` keeps B's data root (the loaded
image and B's engine state, a cache for the next `lab up`); delete /var/lib/dockwire-lab/hostb to drop it.
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess
from pathlib import Path

import docker

from dockwire.lab import hostb_dockerd, hostb_net, hostb_sshd
from dockwire.lab.report import LabError, LabObject
from dockwire.lab.second_host import B_SOCKET, EXEC_ROOT, HOST_NAME, SCENARIO

#: The iptables backend host B was built with.
BACKEND_MARK = EXEC_ROOT / "iptables-backend"


def require_tools() -> None:
    """Fail with one line when a tool host B needs is missing (sshd included)."""
    for tool, package in (("nsenter", "util-linux"), ("setsid", "util-linux"), ("dockerd", "docker.io")):
        if shutil.which(tool) is None:
            raise LabError(f"host B needs the `{tool}` command: install {package}")
    hostb_sshd.sshd_binary()


def iptables_backend() -> str:
    """What the `iptables` command drives now: "nf_tables" or "legacy"."""
    proc = subprocess.run(["iptables", "-V"], capture_output=True, text=True, check=False)
    return "nf_tables" if "nf_tables" in proc.stdout else "legacy"


def ensure_host(client_a: docker.DockerClient) -> tuple[list[LabObject], docker.DockerClient]:
    """Namespace, veth, B's dockerd (with the lab image) and sshd; returns them and a client for B.

    After a switch of the iptables backend host B is built again from nothing: its rules of the old
    backend would stay in its namespace beside the new ones."""
    require_tools()
    backend = iptables_backend()
    if BACKEND_MARK.exists() and BACKEND_MARK.read_text() != backend:
        remove_host()
    if not hostb_net.link_healthy():  # B's daemons hold the namespace they started in
        hostb_sshd.stop_sshd()
        hostb_dockerd.stop_dockerd()
    objects = hostb_net.ensure_link()
    objects.append(hostb_dockerd.ensure())
    BACKEND_MARK.write_text(backend)
    client_b = hostb_dockerd.client()
    objects.append(hostb_dockerd.ensure_image(client_a, client_b))
    objects.append(hostb_sshd.ensure())
    return objects, client_b


def ensure_wiring(a_subnet: str) -> list[LabObject]:
    """The static routes both ways and the appended FORWARD accepts (the classic, broken seed)."""
    return hostb_net.ensure_routes(a_subnet) + hostb_net.ensure_rules()


def client_if_up() -> docker.DockerClient | None:
    """A client for B's engine when it runs and answers."""
    if hostb_dockerd.running_pid() is None or not hostb_dockerd.answers():
        return None
    return hostb_dockerd.client()


def _gone(kind: str, was_there: bool) -> LabObject:
    return LabObject(kind, HOST_NAME, "removed" if was_there else "absent", SCENARIO)


def remove_host() -> list[LabObject]:
    """Stop B's daemons by their pidfiles, delete the rules, routes, veth, namespace and B's exec root."""
    objects = [_gone("dockerd", hostb_dockerd.stop_dockerd()), _gone("sshd", hostb_sshd.stop_sshd())]
    hostb_dockerd.unmount_leftovers()
    objects += hostb_net.remove_rules()
    objects += hostb_net.remove_routes()
    objects += hostb_net.remove_link()
    shutil.rmtree(EXEC_ROOT, ignore_errors=True)
    _remove_socket(Path(B_SOCKET.removeprefix("unix://")))
    if EXEC_ROOT.parent.exists() and not any(EXEC_ROOT.parent.iterdir()):
        EXEC_ROOT.parent.rmdir()
    return objects


def _remove_socket(path: Path) -> None:
    try:
        if stat.S_ISSOCK(path.lstat().st_mode):
            path.unlink()
    except FileNotFoundError:
        pass


def host_status(a_subnet: str) -> list[LabObject]:
    objects = hostb_net.link_status()
    if os.geteuid() != 0:
        objects.append(LabObject("dockerd", HOST_NAME, "unknown", SCENARIO, "reading host B needs root"))
        return objects
    objects += [hostb_dockerd.status(), hostb_sshd.status()]
    objects += hostb_net.route_status(a_subnet) + hostb_net.rule_status()
    return objects
