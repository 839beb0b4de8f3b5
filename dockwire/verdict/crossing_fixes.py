"""Fixes for a flow that another host sent in: Docker's drops of routed traffic, the engine version's way.

Docker 28.2+ drops packets addressed straight to a container from any other interface (raw PREROUTING, per
endpoint) and then, in its DOCKER chain, anything into a bridge that is not a published port; 20.10 has
neither, and only the FORWARD policy stands in the way (the classic `iptables -A FORWARD -s NET -j ACCEPT`
is enough there). The fix names both steps where both are needed.
"""

from __future__ import annotations

from dataclasses import dataclass
from ipaddress import ip_interface, ip_network

from dockwire.model import HostModel
from dockwire.verdict.fixes import Fix, FixInput, iptables_tool
from dockwire.verdict.netfilter_eval import Hit
from dockwire.verdict.packet import IPAddress, Packet

NFTABLES_NOTE = (
    "Docker's nftables backend has no DOCKER-USER chain: create the network with "
    "-o com.docker.network.bridge.gateway_mode_ipv4=routed (no NAT, routed traffic accepted) or "
    "=nat-unprotected"
)


@dataclass(frozen=True, slots=True)
class Entry:
    """How the flow came into the host that stopped it: the packet as it arrived and on which interface."""

    host: str
    packet: Packet
    iface: str


def engine_version(model: HostModel) -> tuple[int, int]:
    text = model.engine.version if model.engine is not None else ""
    parts = [int(p) for p in text.split("-")[0].split(".")[:2] if p.isdigit()]
    major, minor = [*parts, 0, 0][:2]
    return major, minor


def _link_network(model: HostModel, iface: str, src: IPAddress) -> str:
    """The connected network on `iface` that the sender is on (the hosts' link), else the sender alone."""
    for i in model.host.interfaces:
        if i.name != iface:
            continue
        for a in i.addresses:
            if a.family == src.version:
                net = ip_interface(f"{a.address}/{a.prefixlen}").network
                if src in net:
                    return str(net)
    return f"{src}/{src.max_prefixlen}"


def _dst_network(fx: FixInput, dst: IPAddress) -> tuple[str, str]:
    """The destination's Docker network subnet and bridge on this host, else the address alone."""
    for net in fx.ctx.model.networks:
        for sub in net.subnets:
            try:
                if dst in ip_network(sub.subnet, strict=False):
                    return sub.subnet, net.bridge
            except ValueError:
                continue
    return f"{dst}/{dst.max_prefixlen}", ""


def _is_direct_access_drop(hit: Hit) -> bool:
    rule = hit.rule.rule if hit.rule is not None else None
    if rule is None:
        return False
    return (hit.chain.table.name == "raw" and hit.chain.chain.name == "PREROUTING") or (
        rule.comment.upper() == "DROP DIRECT ACCESS"
    )


def _is_unpublished_drop(hit: Hit) -> bool:
    rule = hit.rule.rule if hit.rule is not None else None
    if rule is None:
        return False
    return hit.chain.chain.name == "DOCKER" or rule.comment.upper() == "UNPUBLISHED PORT DROP"


def cross_host_fix(fx: FixInput, entry: Entry) -> Fix | None:
    """The fix on `entry.host` for a flow it received from another host and dropped; None when the drop is
    not one of Docker's routed-traffic drops (the ordinary fixes apply)."""
    hit = fx.culprit
    if hit is None or fx.direction != "request":
        return None
    model = fx.ctx.model
    version = engine_version(model)
    src = entry.packet.src
    link = _link_network(model, entry.iface, src)
    subnet, bridge = _dst_network(fx, entry.packet.dst)
    table = hit.chain.table
    nft_backend = table.source == "nftables"
    on = f"on host {entry.host} (Docker {model.engine.version.split('+')[0] if model.engine else '?'})"
    accept = ""
    if not nft_backend:
        tool = iptables_tool(table, model.firewall) if table.source.startswith("iptables") else "iptables"
        out = f" -o {bridge}" if bridge else ""
        accept = f"{tool} -I DOCKER-USER -i {entry.iface}{out} -s {link} -d {subnet} -j ACCEPT"
    if _is_direct_access_drop(hit):
        raw_step = (
            'set "allow-direct-routing": true in /etc/docker/daemon.json and restart dockerd, or create the '
            f"network with -o com.docker.network.bridge.trusted_host_interfaces={entry.iface}"
        )
        if nft_backend:
            return Fix([], f"{on}: {raw_step}; then {NFTABLES_NOTE}")
        return Fix(
            [accept],
            f"{on}: two rules stop traffic routed to a container from another host. First the raw "
            f"PREROUTING direct-access drop: {raw_step}. Then the DOCKER chain's drop of ports that are not "
            "published: the DOCKER-USER rule above lets the link's traffic past it (or give the network "
            "gateway mode routed or nat-unprotected)",
        )
    if _is_unpublished_drop(hit):
        if nft_backend:
            return Fix([], f"{on}: {NFTABLES_NOTE}")
        return Fix(
            [accept],
            f"{on}: the DOCKER chain drops traffic into the bridge that is not for a published port; the "
            "DOCKER-USER rule lets traffic from the hosts' link in (or give the network gateway mode routed "
            "or nat-unprotected)",
        )
    if hit.rule is None and hit.chain.chain.name == "FORWARD" and not nft_backend:
        if version[0] < 28:
            tool = iptables_tool(table, model.firewall)
            return Fix(
                [f"{tool} -A FORWARD -s {link} -j ACCEPT"],
                f"{on}: nothing accepts forwarded traffic from the other hosts before the FORWARD policy: "
                "accept the hosts' link (the classic static-route recipe)",
            )
        return Fix(
            [accept], f"{on}: the FORWARD policy drops traffic from the other hosts: accept the link's"
        )
    return None


__all__ = ["Entry", "cross_host_fix", "engine_version"]
