"""Assemble one HostModel from all probes, concurrently.

A failing probe marks its part stale with the reason; it never stops the rest.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from typing import Any

import msgspec

from dockwire.model import (
    Bridge,
    Container,
    Engine,
    Firewall,
    HostModel,
    HostNet,
    Interface,
    Network,
    Sysctls,
    VethPair,
)
from dockwire.probes.container_files import netns_inode, read_dns
from dockwire.probes.docker_api import read_docker
from dockwire.probes.firewall import RawFirewall
from dockwire.probes.firewall_diff import FirewallDelta, FirewallPoller
from dockwire.probes.netlink import read_namespace
from dockwire.probes.sysctls import read_sysctls


def failure_reason(exc: BaseException) -> str:
    """One line saying why a part could not be read (what `stale` holds)."""
    if isinstance(exc, PermissionError):
        return "permission denied (needs root or CAP_NET_ADMIN/CAP_SYS_ADMIN)"
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0] if text else ''}".rstrip(": ")


def match_veths(host_ifaces: list[Interface], containers: list[Container]) -> list[VethPair]:
    """Pair host-side veths with container-side ones: each names the other's ifindex (IFLA_LINK)."""
    by_index = {i.ifindex: i for i in host_ifaces if i.kind == "veth"}
    pairs: list[VethPair] = []
    matched: set[int] = set()
    for c in containers:
        for iface in c.interfaces:
            if iface.kind != "veth" or iface.peer_ifindex is None:
                continue
            host = by_index.get(iface.peer_ifindex)
            if host is None or host.peer_ifindex != iface.ifindex:
                continue
            matched.add(host.ifindex)
            pairs.append(
                VethPair(
                    host_ifname=host.name,
                    host_ifindex=host.ifindex,
                    bridge=host.master,
                    container_id=c.id,
                    container_ifname=iface.name,
                    container_ifindex=iface.ifindex,
                )
            )
    # Host veths whose peer lives in a namespace that is not a container's (e.g. a lab or user netns).
    pairs.extend(
        VethPair(host_ifname=h.name, host_ifindex=h.ifindex, bridge=h.master)
        for h in by_index.values()
        if h.ifindex not in matched
    )
    return sorted(pairs, key=lambda p: p.host_ifindex)


def find_bridges(host_ifaces: list[Interface], networks: list[Network]) -> list[Bridge]:
    by_bridge = {n.bridge: n.id for n in networks if n.bridge}
    return [
        Bridge(
            name=b.name,
            ifindex=b.ifindex,
            ports=sorted(i.name for i in host_ifaces if i.master == b.name),
            network_id=by_bridge.get(b.name, ""),
        )
        for b in host_ifaces
        if b.kind == "bridge"
    ]


def confirm_layout(engine: Engine, firewall: Firewall) -> Engine:
    """Refine the layout guessed from the version with what the rules show."""
    chains = {c.name for t in firewall.tables if t.family == "ip" for c in t.chains}
    tables = {t.name for t in firewall.tables}
    if "docker-bridges" in tables or "DOCKER-INTERNAL" in chains:
        layout = "29"
    elif "DOCKER-FORWARD" in chains:
        layout = "28"
    elif "DOCKER-ISOLATION-STAGE-1" in chains or "DOCKER" in chains:
        layout = "<=27"
    else:
        return engine
    return msgspec.structs.replace(engine, layout=layout)


#: Given the Docker part of a model, the container ids whose namespaces to read (None: every one).
NamespaceChoice = Callable[[HostModel], "set[str] | None"]


#: Namespaces read at once (each holds a netlink socket while it is read).
NAMESPACES_AT_ONCE = 32


async def _namespace_part(container: Container, slots: asyncio.Semaphore) -> dict[str, Any]:
    """A running container's netns identity, interfaces, routes and DNS config (small /proc reads inline)."""
    assert container.pid
    async with slots:
        data: dict[str, Any] = {"netns_inode": netns_inode(container.pid)}
        data["dns"] = read_dns(container.pid)
        if not container.netns_owner and container.network_mode != "host":
            data["interfaces"], data["routes"], _ = await read_namespace(f"/proc/{container.pid}/ns/net")
    return data


async def _with_namespaces(containers: list[Container], stale: dict[str, str]) -> list[Container]:
    running = [c for c in containers if c.pid]
    slots = asyncio.Semaphore(NAMESPACES_AT_ONCE)
    results = await asyncio.gather(*(_namespace_part(c, slots) for c in running), return_exceptions=True)
    parts = {c.id: r for c, r in zip(running, results, strict=True)}
    updated = []
    denied: list[str] = []
    for c in containers:
        part = parts.get(c.id)
        if isinstance(part, BaseException):
            # A container that exited mid-read has no namespace left: only running ones are stale.
            if isinstance(part, PermissionError):
                denied.append(c.name)
            elif not isinstance(part, (FileNotFoundError, ProcessLookupError)):
                stale[f"container:{c.name}"] = failure_reason(part)
            updated.append(c)
        elif part is not None:
            updated.append(msgspec.structs.replace(c, **part))
        else:
            updated.append(c)
    if denied:
        why = failure_reason(PermissionError())
        stale["namespaces"] = f"interfaces, routes and DNS config of {len(denied)} containers: {why}"
    return updated


#: The parts read from this machine, not from the Docker daemon (their `stale` keys).
HOST_PARTS = ("netlink", "firewall", "sysctls", "namespaces")
#: Why they are missing when the daemon is another host's (`collect(..., host_part=False)`).
NOT_THIS_HOST = "host part not read: the Docker daemon is not on this machine"


class Collector:
    """Reads the host part by part; each part's failure lands in `stale` under that part's name.

    With `host_part=False` only the Docker part is read: netlink, firewall, sysctls and container namespaces
    are this machine's, not the daemon's host's, so they stay empty and `stale` says so (HOST_PARTS)."""

    def __init__(self, client: Any | None, host_part: bool = True) -> None:
        self.client = client
        self.host_part = host_part
        self.poller = FirewallPoller()

    async def docker(self, stale: dict[str, str]) -> tuple[Engine | None, list[Network], list[Container]]:
        if self.client is None:
            stale["docker"] = "no Docker daemon reachable"
            return None, [], []
        try:
            return await asyncio.to_thread(read_docker, self.client)
        except Exception as exc:
            stale["docker"] = failure_reason(exc)
            return None, [], []

    async def namespaces(self, containers: list[Container], stale: dict[str, str]) -> list[Container]:
        return await _with_namespaces(containers, stale)

    async def host(self, stale: dict[str, str]) -> HostNet:
        try:
            ifaces, routes, rules = await read_namespace(None, True)
        except Exception as exc:
            stale["netlink"] = failure_reason(exc)
            return HostNet()
        return HostNet(interfaces=ifaces, routes=routes, rules=rules)

    async def firewall(
        self,
        stale: dict[str, str],
        networks: list[Network] | None = None,
        started: asyncio.Task[RawFirewall] | None = None,
        families: Collection[str] = (),
    ) -> tuple[Firewall, FirewallDelta | None]:
        """The firewall, and what changed since this collector's previous read.

        The change is None on the first read or when nothing changed.

        `networks` gives Docker's bridge names (custom ones included) for the ownership tags; `started` is
        a read begun earlier with `poller.start_read()`; `families` narrows the read to the iptables-nft
        rules of those families (see `FirewallPoller.poll`).
        """
        bridges = [n.bridge for n in networks if n.bridge] if networks is not None else None
        try:
            result = await self.poller.poll(bridges, started, families)
        except Exception as exc:
            stale["firewall"] = failure_reason(exc)
            return Firewall(), None
        stale.update(result.stale)
        return result.firewall, result.delta

    async def sysctls(self, stale: dict[str, str]) -> Sysctls:
        try:
            return await asyncio.to_thread(read_sysctls)
        except Exception as exc:
            stale["sysctls"] = failure_reason(exc)
            return Sysctls()

    async def everything(self, namespaces_of: NamespaceChoice | None = None) -> HostModel:
        """The whole host. `namespaces_of` may narrow the container namespaces read (see `collect`)."""
        stale: dict[str, str] = {}
        if not self.host_part:
            engine, networks, containers = await self.docker(stale)
            stale.update(dict.fromkeys(HOST_PARTS, NOT_THIS_HOST))
            model = assemble(HostModel(), stale, engine=engine, networks=networks, containers=containers)
            return msgspec.structs.replace(model, hostname="")  # not this machine's name
        raw_firewall = self.poller.start_read()  # the firewall commands run while Docker answers
        try:
            (engine, networks, containers), host, sysctls = await asyncio.gather(
                self.docker(stale), self.host(stale), self.sysctls(stale)
            )
        except BaseException:
            raw_firewall.cancel()  # never left running on its own
            raise
        wanted = (
            namespaces_of(HostModel(networks=networks, containers=containers, host=host))
            if namespaces_of
            else None
        )
        chosen = containers if wanted is None else [c for c in containers if c.id in wanted]
        (firewall, _), read = await asyncio.gather(
            self.firewall(stale, networks, raw_firewall), self.namespaces(chosen, stale)
        )
        by_id = {c.id: c for c in read}
        containers = [by_id.get(c.id, c) for c in containers]
        return assemble(
            HostModel(),
            stale,
            engine=engine,
            networks=networks,
            containers=containers,
            host=host,
            firewall=firewall,
            sysctls=sysctls,
        )


def assemble(base: HostModel, stale: dict[str, str], **parts: Any) -> HostModel:
    """A new model: `base` with the given parts replaced.

    The derived parts (bridges, veths, layout) are redone from the new parts.
    """
    model = msgspec.structs.replace(base, **parts)
    engine = model.engine
    if engine is not None:
        engine = confirm_layout(engine, model.firewall)
    return msgspec.structs.replace(
        model,
        taken_at=datetime.now(UTC).isoformat(timespec="seconds"),
        hostname=socket.gethostname(),
        engine=engine,
        bridges=find_bridges(model.host.interfaces, model.networks),
        veths=match_veths(model.host.interfaces, model.containers),
        stale=dict(sorted(stale.items())),
    )


async def collect(
    client: Any | None, namespaces_of: NamespaceChoice | None = None, host_part: bool = True
) -> HostModel:
    """Read the whole host once. `client` is a docker.DockerClient, or None when no daemon is reachable.

    `namespaces_of`, given the Docker part (networks, containers, host), may name the container ids whose
    namespaces are read (None: all): a question about two containers needs only theirs. The others then
    carry what Docker says of them, without interfaces, routes or DNS config.

    `host_part=False` when the daemon is not on this machine: only the Docker part is read (see Collector),
    and `hostname` is left empty.
    """
    return await Collector(client, host_part).everything(namespaces_of)
