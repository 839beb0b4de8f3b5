"""IPv6 neighbour discovery: no IPv6 packet leaves for a next hop before that hop's link address is known.

The sender multicasts a neighbour solicitation (ICMPv6 135) to the next hop's solicited-node address and the
next hop answers with a unicast neighbour advertisement (136). Conntrack leaves both untracked, so an
`--ctstate RELATED,ESTABLISHED` accept does not pass them. When the host's rules see them (bridged through
br_netfilter, or to and from the host's own address on a bridge) and drop one, every IPv6 flow over that hop
fails, whatever the rules say about the flow itself. The checks run on a trace of their own: the flow's path
shows them only when they fail.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from dockwire.verdict.context import EngineContext
from dockwire.verdict.hostpath import HostStack
from dockwire.verdict.notebook import Stop, Trace
from dockwire.verdict.packet import IPAddress, Packet
from dockwire.verdict.where import Where

SOLICITATION, ADVERTISEMENT = 135, 136
_SOLICITED_NODE = int(ipaddress.IPv6Address("ff02::1:ff00:0"))


def solicited_node(addr: IPAddress) -> ipaddress.IPv6Address:
    """ff02::1:ffXX:XXXX, the multicast group a solicitation for `addr` goes to."""
    return ipaddress.IPv6Address(_SOLICITED_NODE | (int(addr) & 0xFFFFFF))


def _message(src: IPAddress, dst: IPAddress, kind: int) -> Packet:
    return Packet(src=src, dst=dst, proto="icmpv6", icmp_type=kind, ct_state="UNTRACKED")


def _checked(
    ctx: EngineContext, sender: IPAddress, target: IPAddress, steps: Callable[[HostStack], None]
) -> None:
    """Run `steps` on a trace of their own; a drop becomes the flow's Stop, naming neighbour discovery."""
    stack = HostStack(ctx, Trace(direction="ndp"))
    try:
        steps(stack)
    except Stop as stop:
        what = f"IPv6 neighbour discovery between {sender} and {target} fails"
        raise Stop(
            stop.verdict,
            f"{what}: {stop.reason} (ICMPv6 neighbour solicitation/advertisement, untracked by conntrack, "
            "must pass for any IPv6 packet to reach that hop)",
            culprit=stop.culprit,
            missing="ndp",
            unknown=stop.unknown,
            facts={**stop.facts, "ndp_sender": str(sender), "ndp_target": str(target)},
        ) from None


def check_bridged(
    ctx: EngineContext, sender: IPAddress, target: IPAddress, bridge: str, port_in: str, port_out: str
) -> None:
    """Two namespaces on one bridge: the solicitation and the advertisement are bridged frames."""

    def steps(stack: HostStack) -> None:
        stack.bridged(_message(sender, solicited_node(target), SOLICITATION), bridge, port_in, port_out)
        stack.bridged(_message(target, sender, ADVERTISEMENT), bridge, port_out, port_in)

    _checked(ctx, sender, target, steps)


def _into_host(stack: HostStack, pkt: Packet, bridge: str, port: str) -> None:
    for hook in ("prerouting", "input"):
        stack.hook(Where(hook, iif=bridge, physdev_in=port), pkt)


def _out_of_host(stack: HostStack, pkt: Packet, bridge: str) -> None:
    for hook in ("output", "postrouting"):
        stack.hook(Where(hook, oif=bridge), pkt)


def check_to_host(ctx: EngineContext, sender: IPAddress, host: IPAddress, bridge: str, port_in: str) -> None:
    """A namespace on a bridge asks for the host's address there (its gateway): host input, then output."""

    def steps(stack: HostStack) -> None:
        _into_host(stack, _message(sender, solicited_node(host), SOLICITATION), bridge, port_in)
        _out_of_host(stack, _message(host, sender, ADVERTISEMENT), bridge)

    _checked(ctx, sender, host, steps)


def check_from_host(
    ctx: EngineContext, host: IPAddress, target: IPAddress, bridge: str, port_out: str
) -> None:
    """The host forwards to a namespace on a bridge: it asks for that namespace's address itself."""

    def steps(stack: HostStack) -> None:
        _out_of_host(stack, _message(host, solicited_node(target), SOLICITATION), bridge)
        _into_host(stack, _message(target, host, ADVERTISEMENT), bridge, port_out)

    _checked(ctx, host, target, steps)
