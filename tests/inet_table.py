"""A native nftables `inet` table for the IPv6 tests: its drops apply to IPv4 and IPv6 packets alike.

`script(bridge)` is what the live test loads (and scripts/record-inet-fixture recorded into
tests/fixtures/firewall/inet-table.json); every rule is limited to the lab's dual-stack bridge.
"""

from __future__ import annotations

import subprocess

from dockwire.lab.scenarios import V6_A

TABLE = "dwtest-inet"
# A port nothing else in the lab uses on the dual-stack pair.
PORT = 8081
RULES = (
    f"tcp dport {PORT} drop",  # both families
    f"ip6 saddr {V6_A} udp dport 9 drop",  # IPv6 only
    "meta nfproto ipv4 udp dport 9 drop",  # IPv4 only
)


def script(bridge: str) -> str:
    rules = "\n".join(f'    iifname "{bridge}" {rule}' for rule in RULES)
    return (
        f"table inet {TABLE} {{\n  chain forward {{\n"
        f"    type filter hook forward priority -10; policy accept;\n{rules}\n  }}\n}}\n"
    )


def load(bridge: str) -> None:
    subprocess.run(["nft", "-f", "-"], input=script(bridge), text=True, check=True, capture_output=True)


def remove() -> None:
    """Delete the table when it is there (by its name only)."""
    if (
        subprocess.run(["nft", "list", "table", "inet", TABLE], capture_output=True, check=False).returncode
        == 0
    ):
        subprocess.run(["nft", "delete", "table", "inet", TABLE], check=True, capture_output=True)
