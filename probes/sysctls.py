"""Read the kernel settings that decide whether container traffic flows."""

from __future__ import annotations

from pathlib import Path

from dockwire.model import Sysctls

PROC_SYS = Path("/proc/sys")


def _read_int(path: Path) -> int | None:
    try:
        return int(path.read_text().strip())
    except (OSError, ValueError):
        return None


def _per_interface(setting: str, root: Path, family: str = "ipv4") -> dict[str, int]:
    values: dict[str, int] = {}
    conf = root / "net" / family / "conf"
    try:
        entries = sorted(conf.iterdir())
    except OSError:
        return values
    for entry in entries:
        value = _read_int(entry / setting)
        if value is not None:
            values[entry.name] = value
    return values


def read_sysctls(root: Path = PROC_SYS) -> Sysctls:
    """ip_forward, br_netfilter's bridge-nf-call-*, per-interface rp_filter / route_localnet, and IPv6's
    forwarding, disable_ipv6 and accept_ra."""
    bridge = root / "net/bridge"
    return Sysctls(
        ip_forward=_read_int(root / "net/ipv4/ip_forward"),
        ipv6_forwarding=_read_int(root / "net/ipv6/conf/all/forwarding"),
        # net/bridge/ only exists while the br_netfilter module is loaded.
        br_netfilter_loaded=bridge.is_dir(),
        bridge_nf_call_iptables=_read_int(bridge / "bridge-nf-call-iptables"),
        bridge_nf_call_ip6tables=_read_int(bridge / "bridge-nf-call-ip6tables"),
        rp_filter=_per_interface("rp_filter", root),
        route_localnet=_per_interface("route_localnet", root),
        disable_ipv6=_per_interface("disable_ipv6", root, "ipv6"),
        accept_ra=_per_interface("accept_ra", root, "ipv6"),
    )
