"""Read a container's own resolver configuration (/etc/resolv.conf, /etc/hosts) through /proc/PID/root."""

from __future__ import annotations

from pathlib import Path

from dockwire.model import DnsConfig, HostEntry


def parse_resolv_conf(text: str) -> tuple[list[str], list[str], list[str]]:
    """Nameservers, search domains and options of a resolv.conf."""
    nameservers: list[str] = []
    search: list[str] = []
    options: list[str] = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) < 2:
            continue
        key, values = words[0], words[1:]
        if key == "nameserver":
            nameservers.append(values[0])
        elif key in ("search", "domain"):
            search = values
        elif key == "options":
            options.extend(values)
    return nameservers, search, options


def parse_hosts(text: str) -> list[HostEntry]:
    entries = []
    for line in text.splitlines():
        words = line.split("#", 1)[0].split()
        if len(words) >= 2:
            entries.append(HostEntry(ip=words[0], names=words[1:]))
    return entries


def read_dns(pid: int, proc: Path = Path("/proc")) -> DnsConfig:
    """The DNS view from inside the container with this PID. Raises OSError when it cannot be read."""
    root = proc / str(pid) / "root"
    nameservers, search, options = parse_resolv_conf((root / "etc/resolv.conf").read_text())
    try:
        hosts = parse_hosts((root / "etc/hosts").read_text())
    except FileNotFoundError:
        hosts = []
    return DnsConfig(nameservers=nameservers, search=search, options=options, hosts=hosts)


def netns_inode(pid: int, proc: Path = Path("/proc")) -> int:
    """Identity of the network namespace a process lives in. Raises OSError when it cannot be read."""
    return (proc / str(pid) / "ns/net").stat().st_ino
