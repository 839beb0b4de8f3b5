"""Commands and processes of the two-host lab: run a tool here or in host B, stop a daemon by pidfile.

Daemons are only ever found through the pidfile they wrote and stopped by that pid, never by name.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

from dockwire.lab.report import LabError
from dockwire.lab.second_host import HOST_NAME, NETNS_PATH


def in_hostb(*argv: str) -> list[str]:
    """ARGV run in host B's network namespace (nsenter: `ip netns exec` would remount /sys)."""
    return ["nsenter", f"--net={NETNS_PATH}", *argv]


def daemon_in_hostb(*argv: str) -> list[str]:
    """ARGV run as a daemon of host B: in B's network namespace and a UTS namespace named `HOST_NAME`."""
    named = ["unshare", "--uts", "sh", "-c", 'hostname "$0" && exec "$@"', HOST_NAME, *argv]
    return in_hostb(*named)


def run(argv: list[str], check: bool = True, timeout: float = 30) -> subprocess.CompletedProcess[str]:
    """Run ARGV; on failure raise LabError with the command's first line of output."""
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, check=False, timeout=timeout)
    except (OSError, subprocess.TimeoutExpired) as err:
        raise LabError(f"{' '.join(argv)}: {err}") from err
    if check and proc.returncode != 0:
        lines = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError(f"{' '.join(argv)}: {lines[0] if lines else f'exit {proc.returncode}'}")
    return proc


def pid_alive(pid: int) -> bool:
    """Whether PID is a live (not zombie) process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rpartition(")")[2].split()[0] != "Z"


def pidfile_pid(pidfile: Path, expect: str) -> int | None:
    """The live process PIDFILE names, if its command line contains EXPECT (a reused pid is not taken)."""
    try:
        pid = int(pidfile.read_text().strip())
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except (OSError, ValueError):
        return None
    return pid if pid > 0 and expect in cmdline and pid_alive(pid) else None


def in_namespace(pid: int, netns_path: str = NETNS_PATH) -> bool:
    """Whether PID's network namespace is the one bound at NETNS_PATH."""
    try:
        return os.stat(f"/proc/{pid}/ns/net").st_ino == os.stat(netns_path).st_ino
    except OSError:
        return False


def stop(pidfile: Path, expect: str, what: str, timeout: float = 30) -> bool:
    """SIGTERM the process PIDFILE names (see `pidfile_pid`) and wait until it is gone; False if none ran."""
    pid = pidfile_pid(pidfile, expect)
    if pid is None:
        return False
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return True
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise LabError(f"{what} (pid {pid}) did not stop within {timeout:.0f}s")
        time.sleep(0.1)
    return True
