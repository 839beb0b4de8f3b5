"""The sysctl reader, on this machine's own /proc/sys and on a tree laid out like it."""

from __future__ import annotations

from pathlib import Path

from dockwire.probes.sysctls import read_sysctls


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
