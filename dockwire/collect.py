"""Assemble one HostModel from all probes, concurrently.

A failing probe marks its part stale with the reason; it never stops the rest.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from functools import partial
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
from dockwire.probes.firewall import RawFirewall, collect_raw
from dockwire.probes.firewall_diff import FirewallDelta, FirewallPoller
from dockwire.probes.sysctls import read_sysctls
from dockwire.reader_process import Failed, NamespacePart, ReaderProcess, Wanted, failure_of


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


async def namespace_part(wanted: Wanted, slots: asyncio.Semaphore) -> NamespacePart:
    """A running container's netns identity, interfaces, routes and DNS config (small /proc reads inline)."""
    async with slots:
        inode, dns = netns_inode(wanted.pid), read_dns(wanted.pid)
        if not wanted.own_netns:
            return NamespacePart(netns_inode=inode, dns=dns)
        from dockwire.probes.netlink import read_namespace  # pyroute2: imported where netlink is read

        interfaces, routes, _ = await read_namespace(f"/proc/{wanted.pid}/ns/net")
    return NamespacePart(netns_inode=inode, dns=dns, interfaces=interfaces, routes=routes)


def _wanted(container: Container) -> Wanted:
    """A running container's namespace to read (only the DNS config where it shares another's)."""
    own = not container.netns_owner and container.network_mode != "host"
    return Wanted(container.id, container.pid or 0, own)


async def namespace_parts(wanted: list[Wanted]) -> dict[str, NamespacePart | Failed]:
    """The namespace part of each wanted container, or why it could not be read, by container id."""
    slots = asyncio.Semaphore(NAMESPACES_AT_ONCE)
    results = await asyncio.gather(*(namespace_part(w, slots) for w in wanted), return_exceptions=True)
    parts: dict[str, NamespacePart | Failed] = {}
    for w, result in zip(wanted, results, strict=True):
        if isinstance(result, Exception):
            parts[w.id] = failure_of(result)
        elif isinstance(result, BaseException):
            raise result  # a cancellation or an interrupt: not a read that failed
        else:
            parts[w.id] = result
    return parts


async def _shared_parts(
    wanted: list[Wanted], reader: ReaderProcess | None
) -> dict[str, NamespacePart | Failed]:
    """`namespace_parts`, those already streamed to the reader process from it (if it answers)."""
    streamed = reader.streamed if reader is not None else {}
    ours = [w for w in wanted if streamed.get(w.id) != w]
    theirs = [w for w in wanted if streamed.get(w.id) == w]
    if reader is None or not theirs:
        return await namespace_parts(wanted)
    here = asyncio.ensure_future(namespace_parts(ours))
    try:
        shared = await reader.streamed_parts()
    except Exception:  # the reader is gone, stuck or garbled: an optimisation lost, the read done here
        shared = await namespace_parts(theirs)
    parts = await here
    missing = [w for w in theirs if w.id not in shared]
    if missing:
        shared |= await namespace_parts(missing)
    return parts | {w.id: shared[w.id] for w in theirs}


async def _with_namespaces(
    containers: list[Container], stale: dict[str, str], reader: ReaderProcess | None = None
) -> list[Container]:
    wanted = [_wanted(c) for c in containers if c.pid]
    parts = await _shared_parts(wanted, reader)
    updated = []
    denied: list[str] = []
    for c in containers:
        part = parts.get(c.id)
        if isinstance(part, Failed):
            # A container that exited mid-read has no namespace left: only running ones are stale.
            if part.kind == "denied":
                denied.append(c.name)
            elif part.kind == "failed":
                stale[f"container:{c.name}"] = part.reason
            updated.append(c)
        elif part is not None:
            updated.append(msgspec.structs.replace(c, **part.fields()))
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
    are this machine's, not the daemon's host's, so they stay empty and `stale` says so (HOST_PARTS).

    A `reader` (a one-time read: `dockwire.reader_process`) gives the first host read and shares the
    namespace reads."""

    def __init__(
        self, client: Any | None, host_part: bool = True, reader: ReaderProcess | None = None
    ) -> None:
        self.client = client
        self.host_part = host_part
        self.poller = FirewallPoller(
            collect=partial(collect_raw, nft_tables=reader.nft_tables) if reader else collect_raw
        )
        self.reader = reader
        self._reader_host: ReaderProcess | None = reader
        #: Whether the next Docker read streams namespaces to the reader (`everything` reading them all).
        self._stream = False

    async def docker(self, stale: dict[str, str]) -> tuple[Engine | None, list[Network], list[Container]]:
        if self.client is None:
            stale["docker"] = "no Docker daemon reachable"
            return None, [], []
        try:
            return await asyncio.to_thread(read_docker, self.client, self._stream_to_reader())
        except Exception as exc:
            stale["docker"] = failure_reason(exc)
            return None, [], []

    def _stream_to_reader(self) -> Callable[[Container], None] | None:
        """While Docker is read the first time, each running container's namespace goes to the reader."""
        reader = self.reader if self._stream else None
        if reader is None:
            return None
        self._stream = False

        def stream(container: Container) -> None:
            if container.pid:
                reader.stream(_wanted(container))

        return stream

    async def namespaces(self, containers: list[Container], stale: dict[str, str]) -> list[Container]:
        return await _with_namespaces(containers, stale, self.reader)

    async def host(self, stale: dict[str, str]) -> HostNet:
        reader, self._reader_host = self._reader_host, None
        if reader is not None:
            try:
                reply = await reader.host()
            except Exception:
                pass  # the reader is gone or garbled: read here
            else:
                if isinstance(reply, Failed):
                    stale["netlink"] = reply.reason
                    return HostNet()
                return reply
        try:
            from dockwire.probes.netlink import read_namespace

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
        self._stream = namespaces_of is None
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
        if wanted is not None and self.reader is not None:
            for c in chosen:  # the reader reads them too: this process then needs no netlink of its own
                if c.pid:
                    self.reader.stream(_wanted(c))
        # The namespaces first: their reads (and the reader's reply) are under way before the firewall's parse
        # holds this thread.
        read, (firewall, _) = await asyncio.gather(
            self.namespaces(chosen, stale), self.firewall(stale, networks, raw_firewall)
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
    client: Any | None,
    namespaces_of: NamespaceChoice | None = None,
    host_part: bool = True,
    reader: ReaderProcess | None = None,
) -> HostModel:
    """Read the whole host once. `client` is a docker.DockerClient, or None when no daemon is reachable.

    `namespaces_of`, given the Docker part (networks, containers, host), may name the container ids whose
    namespaces are read (None: all): a question about two containers needs only theirs. The others then
    carry what Docker says of them, without interfaces, routes or DNS config.

    `host_part=False` when the daemon is not on this machine: only the Docker part is read (see Collector),
    and `hostname` is left empty. A `reader` process (`dockwire.reader_process`) shares the netlink reads.
    """
    return await Collector(client, host_part, reader).everything(namespaces_of)
