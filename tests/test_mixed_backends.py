"""A host whose rules sit in both iptables backends: the dashboard says so, and the fix reaches the right one.

The recording (engine-28.5.2-iptables-legacy-nft-leftovers) is a real host: `iptables` points at legacy, but
an earlier engine's FORWARD DROP policy and chains were left in iptables-nft, where the kernel still applies
them.
"""

from __future__ import annotations

from pathlib import Path

from dockwire.snapshot import load
from dockwire.widgets.sysctl_bar import sysctl_chips

SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"


def test_the_header_shows_both_backends_when_both_hold_rules() -> None:
    mixed = load(SNAPSHOTS / "engine-28.5.2-iptables-legacy-nft-leftovers.json")
    assert mixed.firewall.iptables_sources_with_rules() == {"iptables-legacy", "iptables-nft"}
    text, alarm = sysctl_chips(mixed)
    assert "legacy + nf_tables hold rules (`iptables` is legacy)" in text.plain and alarm


def test_one_backend_shows_as_before() -> None:
    single = load(SNAPSHOTS / "engine-28.5.2-iptables-nft.json")
    text, _ = sysctl_chips(single)
    assert "legacy + nf_tables" not in text.plain and "nft" in text.plain
