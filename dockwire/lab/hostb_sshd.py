"""Host B's sshd: listens on 198.51.100.242:22 only, with its own host key, config and authorized_keys.

Everything lives in `second_host.SSH_DIR` (under B's exec root, so `lab down` takes it away): the keys are
made with ssh-keygen (ed25519) on the first `lab up` and kept while the directory stays. The session
environment is set by the server (`SetEnv`): this venv's bin first on PATH, `DOCKER_HOST` at B's engine.
"""

from __future__ import annotations

import shutil
import socket
import time
from pathlib import Path

from dockwire.lab.hostb_proc import daemon_in_hostb, in_namespace, pidfile_pid, run, stop
from dockwire.lab.report import LabError, LabObject
from dockwire.lab.second_host import (
    B_ADDR,
    B_SOCKET,
    HOST_NAME,
    SCENARIO,
    SSH_CONFIG,
    SSH_DIR,
    SSH_KEY,
    SSH_KNOWN_HOSTS,
    SSH_PORT,
    SSHD_AUTHORIZED_KEYS,
    SSHD_CONFIG,
    SSHD_HOST_KEY,
    SSHD_LOG,
    SSHD_PIDFILE,
    ssh_url,
    venv_bin,
)

PRIVSEP_DIR = Path("/run/sshd")  # compiled into Debian's sshd; normally made by its init script
SYSTEM_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
READY_TIMEOUT = 10.0


def sshd_binary() -> str:
    found = shutil.which("sshd") or ("/usr/sbin/sshd" if Path("/usr/sbin/sshd").exists() else "")
    if not found or shutil.which("ssh-keygen") is None:
        raise LabError("host B needs sshd and ssh-keygen: install openssh-server (scripts/lab-engine does)")
    return found


def sshd_config_text() -> str:
    return "\n".join(
        [
            "# dockwire lab: host B's sshd, written by `dockwire lab up` (dockwire.lab.hostb_sshd)",
            f"ListenAddress {B_ADDR}:{SSH_PORT}",
            f"HostKey {SSHD_HOST_KEY}",
            f"PidFile {SSHD_PIDFILE}",
            f"AuthorizedKeysFile {SSHD_AUTHORIZED_KEYS}",
            "PermitRootLogin prohibit-password",
            "PubkeyAuthentication yes",
            "PasswordAuthentication no",
            "KbdInteractiveAuthentication no",
            "UsePAM no",
            "StrictModes yes",
            "X11Forwarding no",
            f"SetEnv PATH={venv_bin()}:{SYSTEM_PATH} DOCKER_HOST={B_SOCKET}",
            "",
        ]
    )


def ssh_config_text() -> str:
    return "\n".join(
        [
            f"Host {HOST_NAME}",
            f"    HostName {B_ADDR}",
            "    User root",
            f"    IdentityFile {SSH_KEY}",
            "    IdentitiesOnly yes",
            f"    UserKnownHostsFile {SSH_KNOWN_HOSTS}",
            "    StrictHostKeyChecking yes",
            "    BatchMode yes",
            "",
        ]
    )


def _keygen(path: Path, comment: str) -> bool:
    if path.exists() and path.with_name(path.name + ".pub").exists():
        return False
    path.unlink(missing_ok=True)
    run(["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", comment, "-f", str(path)])
    return True


def _write(path: Path, text: str, mode: int = 0o600) -> bool:
    """Write TEXT to PATH unless it is already there; True when it changed."""
    if path.exists() and path.read_text() == text:
        return False
    path.write_text(text)
    path.chmod(mode)
    return True


def _write_files() -> bool:
    """Keys, authorized_keys, known_hosts and both configs; True when anything sshd reads changed."""
    SSH_DIR.mkdir(mode=0o700, parents=True, exist_ok=True)
    changed = _keygen(SSHD_HOST_KEY, f"{HOST_NAME} host key")
    _keygen(Path(SSH_KEY), f"dockwire lab client for {HOST_NAME}")
    client_pub = Path(SSH_KEY + ".pub").read_text()
    host_pub = " ".join(Path(f"{SSHD_HOST_KEY}.pub").read_text().split()[:2])
    changed |= _write(SSHD_AUTHORIZED_KEYS, client_pub)
    changed |= _write(SSHD_CONFIG, sshd_config_text())
    _write(Path(SSH_KNOWN_HOSTS), f"{B_ADDR},{HOST_NAME} {host_pub}\n")
    _write(Path(SSH_CONFIG), ssh_config_text())
    return changed


def running_pid() -> int | None:
    return pidfile_pid(SSHD_PIDFILE, str(SSHD_CONFIG))


def answers(timeout: float = 1.0) -> bool:
    """Whether B's sshd sends its banner."""
    try:
        with socket.create_connection((B_ADDR, SSH_PORT), timeout=timeout) as conn:
            return conn.recv(4).startswith(b"SSH-")
    except OSError:
        return False


def ensure() -> LabObject:
    """Keep a running sshd whose files are unchanged, else (re)start it in B's namespace."""
    binary = sshd_binary()
    changed = _write_files()
    pid = running_pid()
    detail = f"{B_ADDR}:{SSH_PORT}, {ssh_url()}"
    if pid is not None and not changed and in_namespace(pid) and answers():
        return LabObject("sshd", HOST_NAME, "reused", SCENARIO, detail)
    stop_sshd()
    PRIVSEP_DIR.mkdir(mode=0o755, exist_ok=True)
    run(daemon_in_hostb(binary, "-f", str(SSHD_CONFIG), "-E", str(SSHD_LOG)))
    deadline = time.monotonic() + READY_TIMEOUT
    while not answers():
        if time.monotonic() > deadline:
            raise LabError(f"host B's sshd does not answer on {B_ADDR}:{SSH_PORT} (log: {SSHD_LOG})")
        time.sleep(0.1)
    return LabObject("sshd", HOST_NAME, "recreated" if pid is not None else "created", SCENARIO, detail)


def stop_sshd() -> bool:
    return stop(SSHD_PIDFILE, str(SSHD_CONFIG), "host B's sshd")


def status() -> LabObject:
    if running_pid() is None:
        return LabObject("sshd", HOST_NAME, "missing", SCENARIO, f"{B_ADDR}:{SSH_PORT}")
    return LabObject(
        "sshd", HOST_NAME, "running" if answers() else "not answering", SCENARIO, f"{B_ADDR}:{SSH_PORT}"
    )
