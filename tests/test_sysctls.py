"""The sysctl reader, on this machine's own /proc/sys and on a tree laid out like it."""

from __future__ import annotations

from pathlib import Path

from dockwire.model import Sysctls
from dockwire.probes.sysctls import changed_settings, read_global_sysctls, read_sysctls


def test_this_hosts_ipv6_settings_are_read_per_interface() -> None:
    s = read_sysctls()
    for setting in (s.disable_ipv6, s.accept_ra):
        assert {"all", "default", "lo"} <= set(setting), setting
    assert set(s.disable_ipv6.values()) <= {0, 1}
    assert s.ipv6_forwarding in (0, 1)


def test_an_interfaces_own_disable_ipv6_wins_over_all(tmp_path: Path) -> None:
    for dev, value in (("all", "0"), ("default", "0"), ("eth0", "1"), ("eth1", "0")):
        conf = tmp_path / "net/ipv6/conf" / dev
        conf.mkdir(parents=True)
        (conf / "disable_ipv6").write_text(value + "\n")
        (conf / "accept_ra").write_text("2\n")
    s = read_sysctls(tmp_path)
    assert s.disable_ipv6 == {"all": 0, "default": 0, "eth0": 1, "eth1": 0}
    assert s.accept_ra["eth0"] == 2
    assert s.ipv6_disabled("eth0") and not s.ipv6_disabled("eth1")
    assert not s.ipv6_disabled("never-recorded")  # `all` says 0
    assert s.ip_forward is None and s.rp_filter == {}  # nothing of IPv4 in this tree


def _tree(root: Path, values: dict[str, str]) -> None:
    for name, value in values.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(value + "\n")


def test_the_host_wide_read_keeps_the_per_interface_settings(tmp_path: Path) -> None:
    _tree(tmp_path, {"net/ipv4/ip_forward": "1", "net/ipv4/conf/eth0/rp_filter": "2"})
    full = read_sysctls(tmp_path)
    assert full.ip_forward == 1 and full.rp_filter == {"eth0": 2} and not full.br_netfilter_loaded
    _tree(tmp_path, {"net/ipv4/ip_forward": "0", "net/ipv4/conf/eth0/rp_filter": "0"})
    _tree(tmp_path, {"net/bridge/bridge-nf-call-iptables": "1"})
    fresh = read_global_sysctls(full, tmp_path)
    assert fresh.ip_forward == 0 and fresh.br_netfilter_loaded and fresh.bridge_nf_call_iptables == 1
    assert fresh.rp_filter == {"eth0": 2}  # read again only by the full read
    assert read_sysctls(tmp_path).rp_filter == {"eth0": 0}


def test_a_changed_setting_is_one_line_and_a_new_interface_is_none() -> None:
    old = Sysctls(ip_forward=1, rp_filter={"eth0": 1}, disable_ipv6={"all": 0})
    new = Sysctls(
        ip_forward=0,
        br_netfilter_loaded=True,
        bridge_nf_call_iptables=1,
        rp_filter={"eth0": 2, "veth1": 1},
        disable_ipv6={"all": 0},
    )
    assert changed_settings(old, new) == [
        "sysctl: br_netfilter loaded",
        "sysctl net.ipv4.ip_forward: 1 → 0",
        "sysctl net.bridge.bridge-nf-call-iptables: unset → 1",
        "sysctl net.ipv4.conf.eth0.rp_filter: 1 → 2",
    ]
    assert changed_settings(new, new) == []
