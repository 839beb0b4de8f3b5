"""Turn the user's SRC and DST into a namespace to send from and an address to send to.

SRC: a container (name, id or id prefix), `host`, a named network namespace (`netns:NAME`, or a bare
NAME that exists under /run/netns), or `outside`: the namespace the caller names as the outside client.
DST: an IPv4 or IPv6 address, a container (its address of the probe's family on a network it shares with SRC,
else its first one), or `host` (SRC's gateway: the host as SRC reaches it). Only addresses the user named,
directly or by a container's name, are ever probed.
"""

from __future__ import annotations

import ipaddress
import os
from dataclasses import dataclass, field
from pathlib import Path

from dockwire.errors import DockwireError
from dockwire.model import Container, HostEntry, HostModel

NETNS_DIR = Path("/run/netns")
# Placeholder for "SRC's default gateway", resolved by the worker inside SRC's namespace.
GATEWAY = "@gateway"


class ProbeError(DockwireError):
    """A probe that cannot be run: bad input, missing privileges, SRC without a namespace."""


@dataclass(frozen=True)
class Source:
    label: str
    # "container", "host", "netns".
    kind: str
    # Namespace file to enter (/proc/PID/ns/net, /run/netns/NAME); None: dockwire's own (the host's).
    netns: str | None
    container: Container | None = None
    addresses: list[str] = field(default_factory=list)
    gateways: list[str] = field(default_factory=list)
    addresses6: list[str] = field(default_factory=list)
    gateways6: list[str] = field(default_factory=list)
    resolvers: list[str] = field(default_factory=list)
    hosts: list[HostEntry] = field(default_factory=list)
    loopback_only: bool = False


@dataclass(frozen=True)
class Destination:
    label: str
    # IPv4 or IPv6 address, or GATEWAY.
    address: str
    container: Container | None = None
    family: int = 4


def _owner(model: HostModel, c: Container) -> Container:
    """The container whose namespace `c` uses (itself unless it runs in container:X mode)."""
    if c.netns_owner:
        owner = model.container(c.netns_owner)
        if owner is not None:
            return owner
    return c


def address_literal(text: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """An address the user typed (an IPv6 one also in brackets), else None."""
    try:
        return ipaddress.ip_address(text.removeprefix("[").removesuffix("]"))
    except ValueError:
        return None


def is_loopback(address: str) -> bool:
    addr = address_literal(address)
    return addr is not None and addr.is_loopback


def _named_netns(text: str) -> str | None:
    name = text.removeprefix("netns:")
    if "/" in name or not name:
        return None
    path = NETNS_DIR / name
    try:
        exists = path.exists()
    except (OSError, ValueError):  # a name no file can have (too long, a NUL byte)
        exists = False
    if exists:
        return str(path)
    if text.startswith("netns:"):
        raise ProbeError(f"{text}: no such network namespace under {NETNS_DIR}")
    return None


def container_netns(c: Container) -> str:
    """The namespace file of a running container; ProbeError when it has none."""
    if c.state and c.state != "running":
        raise ProbeError(f"{c.name} is {c.state}: a container that is not running has no network namespace")
    if not c.pid:
        raise ProbeError(f"{c.name} has no process: it is not running, so it has no network namespace")
    path = f"/proc/{c.pid}/ns/net"
    if not os.path.exists(path):
        raise ProbeError(f"{c.name}: process {c.pid} is gone (the model is older than the container)")
    return path


def resolve_source(model: HostModel, text: str, outside: str | None = None) -> Source:
    """SRC as a namespace to send from; `outside` names the namespace that stands for SRC `outside`."""
    if text == "host":
        return Source(label="host", kind="host", netns=None)
    c = model.container(text)
    if c is None:
        if text == "outside" or text.startswith("outside:"):
            # `why` calls any client beyond the host "outside"; a probe needs a real one: a namespace.
            if not outside:
                raise ProbeError(f"{text}: name the outside client's network namespace with --outside NETNS")
            ns = _named_netns(outside)
            if ns is None:
                raise ProbeError(f"{text}: --outside {outside}: no such network namespace under {NETNS_DIR}")
            return Source(label=outside, kind="netns", netns=ns)
        ns = _named_netns(text)
        if ns is not None:
            return Source(label=text, kind="netns", netns=ns)
        raise ProbeError(f"{text}: no such container or network namespace (try `host` or netns:NAME)")
    owner = _owner(model, c)
    if owner.network_mode == "host":
        return Source(label=c.name, kind="host", netns=None, container=c)
    netns = container_netns(owner)
    dns = c.dns or owner.dns
    return Source(
        label=c.name,
        kind="container",
        netns=netns,
        container=owner,
        addresses=[e.ip for e in owner.endpoints if e.ip],
        gateways=[e.gateway for e in owner.endpoints if e.gateway],
        addresses6=[e.ipv6 for e in owner.endpoints if e.ipv6],
        gateways6=[e.ipv6_gateway for e in owner.endpoints if e.ipv6_gateway],
        resolvers=list(dns.nameservers) if dns else [],
        hosts=list(dns.hosts) if dns else [],
        loopback_only=owner.network_mode == "none" or not owner.endpoints,
    )


def resolve_destination(model: HostModel, src: Source, text: str, family: int | None = None) -> Destination:
    """DST as one address; `family` (4 or 6) picks a dual-stack container's address (an address literal's
    own family wins over it: ProbeError when they differ)."""
    literal = address_literal(text)
    if literal is not None:
        if family is not None and family != literal.version:
            raise ProbeError(f"{text} is an IPv{literal.version} address, but IPv{family} was asked for")
        return Destination(label=text, address=str(literal), family=literal.version)
    family = family or 4
    if text == "host":
        if src.kind == "host":
            return Destination(label="host", address="::1" if family == 6 else "127.0.0.1", family=family)
        gateways = src.gateways6 if family == 6 else src.gateways
        return Destination(label="host", address=gateways[0] if gateways else GATEWAY, family=family)
    c = model.container(text)
    if c is None:
        raise ProbeError(f"{text}: not an IP address, `host`, or a known container")
    owner = _owner(model, c)
    if src.container is not None and owner.id == src.container.id:
        return Destination(
            label=c.name, address="::1" if family == 6 else "127.0.0.1", container=owner, family=family
        )
    if owner.network_mode == "host":
        raise ProbeError(f"{c.name} uses the host's network: probe `host` or one of the host's addresses")
    addressed = [e for e in owner.endpoints if (e.ipv6 if family == 6 else e.ip)]
    if not addressed:
        if family == 6 and owner.endpoints:
            raise ProbeError(f"{c.name} has no IPv6 address: none of its networks was created with --ipv6")
        raise ProbeError(f"{c.name} has no IPv{family} address (network mode {owner.network_mode or 'none'})")
    src_nets = {e.network_id for e in src.container.endpoints} if src.container else set()
    chosen = ([e for e in addressed if e.network_id in src_nets] or addressed)[0]
    address = chosen.ipv6 if family == 6 else chosen.ip
    return Destination(label=c.name, address=address, container=owner, family=family)


def check_outbound(src: Source, dst: Destination) -> None:
    """A container with only loopback can only probe itself."""
    if src.loopback_only and not is_loopback(dst.address):
        raise ProbeError(f"{src.label} has no network but loopback (--network none): nothing can leave it")
