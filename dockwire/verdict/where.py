"""Where a packet is when a chain looks at it (hook and interfaces), and the host facts matches consult."""

from __future__ import annotations

from dataclasses import dataclass

from dockwire.verdict.routing import RoutingTables


@dataclass(frozen=True, slots=True)
class Where:
    """The hook a packet is at and the interfaces netfilter reports for it there."""

    hook: str  # "prerouting", "input", "forward", "output", "postrouting"
    iif: str = ""
    oif: str = ""
    # Bridge ports (br_netfilter's physdev), for packets crossing a bridge.
    physdev_in: str = ""
    physdev_out: str = ""
    # True when the packet is bridged (L2 forwarded between two ports of one bridge).
    bridged: bool = False
    # For bridge-family chains: the bridge the ports belong to.
    bridge: str = ""

    def describe(self) -> str:
        parts = [self.hook.upper()]
        if self.iif:
            parts.append(f"in={self.iif}")
        if self.oif:
            parts.append(f"out={self.oif}")
        if self.physdev_in:
            parts.append(f"physdev-in={self.physdev_in}")
        if self.physdev_out:
            parts.append(f"physdev-out={self.physdev_out}")
        return " ".join(parts)


@dataclass(slots=True)
class HostFacts:
    """What matches need to know about the host: its addresses and their types (addrtype, fib)."""

    routing: RoutingTables
