"""The two-host lab (issue #12): a second Docker host, "host B", in its own network namespace on this machine.

Host B is the namespace `dwlab-hostb`, joined to this host ("A") by a veth pair: `dwlab-hosta` 198.51.100.241
here, `eth0` 198.51.100.242 there (198.51.100.240/28, in TEST-NET-2 beside the outside namespace: a lab host's
own network and its package mirrors may live in TEST-NET-1 and TEST-NET-3). B runs its own dockerd (docker0
10.199.0.1/16, socket /run/dwlab-hostb.sock) and an sshd on 198.51.100.242:22, so it can be reached as
`ssh://root@198.51.100.242`.
B shares this machine's filesystem: its dockerd has its own data root, exec root (its managed containerd
lives there too) and daemon.json, and an ssh session on B finds this venv's `dockwire` first on PATH and
`DOCKER_HOST` set to B's socket, as on a real remote host.

The seed is the classic two-hosts-over-static-routes recipe: each host routes the other's container subnet
via the other's link address and *appends* `iptables -A FORWARD -s <hosts' subnet> -j ACCEPT` (the other
host masquerades its containers: their packets come from its link address). On Docker 28.2+
that accept never sees the packet: the receiving engine drops it first in raw PREROUTING
(`-d <container> ! -i docker0 -j DROP`), and with `allow-direct-routing` in filter DOCKER
(`! -i docker0 -o docker0 -j DROP`). The lab leaves that broken state as it is; tests apply fixes and
remove them again.

This module holds the names, addresses and paths, and what an ssh or Docker client needs to reach B;
`dockwire.lab.two_hosts` builds and removes it.
"""

from __future__ import annotations

import sys
from pathlib import Path

from dockwire.lab.scenarios import ContainerSpec

SCENARIO = "two-hosts"
NETNS = "dwlab-hostb"
NETNS_PATH = f"/run/netns/{NETNS}"
HOST_NAME = "dwlab-hostb"
LINK_SUBNET = "198.51.100.240/28"
PREFIXLEN = 28
A_IF = "dwlab-hosta"
A_ADDR = "198.51.100.241"
B_IF = "eth0"
B_ADDR = "198.51.100.242"
B_BIP = "10.199.0.1/16"
B_SUBNET = "10.199.0.0/16"
B_SOCKET = "unix:///run/dwlab-hostb.sock"

DATA_ROOT = Path("/var/lib/dockwire-lab/hostb")
EXEC_ROOT = Path("/run/dockwire-lab/hostb")
PIDFILE = EXEC_ROOT / "dockerd.pid"
DAEMON_JSON = EXEC_ROOT / "daemon.json"
DOCKERD_LOG = Path("/var/log/dockwire-hostb-dockerd.log")

SSH_DIR = EXEC_ROOT / "ssh"
SSH_KEY = str(SSH_DIR / "id_ed25519")
SSH_KNOWN_HOSTS = str(SSH_DIR / "known_hosts")
SSH_CONFIG = str(SSH_DIR / "config")
SSHD_CONFIG = SSH_DIR / "sshd_config"
SSHD_HOST_KEY = SSH_DIR / "ssh_host_ed25519_key"
SSHD_AUTHORIZED_KEYS = SSH_DIR / "authorized_keys"
SSHD_PIDFILE = SSH_DIR / "sshd.pid"
SSHD_LOG = SSH_DIR / "sshd.log"
SSH_PORT = 22

#: Every iptables rule the scenario adds, on either host, carries this comment.
RULE_COMMENT = "dwlab-two-hosts"

#: B's containers, on B's default bridge: each serves its own name on tcp/80 and answers ping.
CONTAINERS: tuple[ContainerSpec, ...] = (ContainerSpec("dwlab-b-web", SCENARIO),)


def ssh_url() -> str:
    """B as a Docker `ssh://` host."""
    return f"ssh://root@{B_ADDR}"


def ssh_options() -> list[str]:
    """The options an ssh client needs to log in to B non-interactively with the lab's key."""
    return [
        "-i", SSH_KEY,
        "-o", f"UserKnownHostsFile={SSH_KNOWN_HOSTS}",
        "-o", "StrictHostKeyChecking=yes",
        "-o", "BatchMode=yes",
        "-o", "IdentitiesOnly=yes",
    ]  # fmt: skip


def venv_bin() -> str:
    """The running interpreter's environment's bin directory (where `dockwire` is installed)."""
    return str(Path(sys.prefix) / "bin")
