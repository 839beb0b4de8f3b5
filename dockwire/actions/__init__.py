"""Active probes: real packets sent from inside a container's (or the host's) network namespace, with the
kernel's own trace of the rules that judged them.

Importing this package is cheap: scapy is imported only by the worker process that sends the packets.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

__all__ = ["PROTOS", "ProbeError", "ProbeResult", "run_probe"]

PROTOS = ("icmp", "tcp", "udp", "dns", "trace")

if TYPE_CHECKING:
    from dockwire.actions.endpoints import ProbeError
    from dockwire.actions.result import ProbeResult
    from dockwire.actions.runner import run_probe


def __getattr__(name: str) -> Any:
    if name == "run_probe":
        from dockwire.actions.runner import run_probe

        return run_probe
    if name == "ProbeResult":
        from dockwire.actions.result import ProbeResult

        return ProbeResult
    if name == "ProbeError":
        from dockwire.actions.endpoints import ProbeError

        return ProbeError
    raise AttributeError(name)
