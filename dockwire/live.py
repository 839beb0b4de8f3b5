"""The live model: one HostModel kept current from Docker events, netlink notifications and a firewall poll.

Consumers iterate `LiveModel.updates()`; each ModelUpdate carries the new model, which parts were re-read,
which rules' counters moved, and human-readable event lines. Only what changed is re-read:
- a Docker event re-reads the containers it names (their inspect and namespace) and, for a network event,
  the network it names; then the firewall (Docker rewrites rules). A lost and regained event stream re-reads
  all of Docker;
- the host's links, addresses, routes and policy rules follow the kernel's netlink notifications, applied
  one by one (`NetlinkState`): no dump per change. A dump is taken only when messages were lost (the
  socket's buffer overflowed), once `NETLINK_CHECK` seconds after a change, to catch what the kernel
  leaves unsaid, and on every Docker event once the watcher stopped;
- the sysctls, which nothing announces: the host-wide ones (ip_forward, bridge-nf-call-*) on every tick of
  the firewall poll, the per-interface ones with each netlink check or dump;
- an nf_tables notification (any ruleset change: iptables-nft, nft, Docker's nftables backend) re-reads the
  firewall at once; the poll re-reads it for counters (and legacy iptables, which sends no notification),
  every `poll_interval` while counters move and less often, up to `IDLE_POLL`, while nothing does. A
  firewall read runs beside the rest: Docker and netlink changes reach the model while it is under way.

With `host_part=False` (a daemon that is not on this machine) only Docker is read and watched: no netlink,
firewall, sysctls or namespaces of this machine enter the model, and `stale` says why (`collect.HOST_PARTS`).
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import select
import threading
from collections.abc import AsyncGenerator, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import msgspec

from dockwire.collect import HOST_PARTS, NOT_THIS_HOST, Collector, assemble, failure_reason
from dockwire.model import Container, Firewall, HostModel, Network
from dockwire.probes.docker_api import read_containers, read_networks, read_networks_by_id
from dockwire.probes.firewall_diff import FirewallDelta, RuleKey, rule_changes
from dockwire.probes.netlink_changes import NetlinkState, decoded, link_changes, open_monitor, same_host
from dockwire.probes.nft_notifications import Change, waiting_changes
from dockwire.probes.nft_notifications import open_monitor as open_nft_monitor
from dockwire.probes.sysctls import changed_settings, read_global_sysctls

FirewallRead = tuple[Firewall, FirewallDelta | None]

DOCKER_EVENT_TYPES = ["container", "network"]
#: What a network event that names no network stands for: re-read them all.
ALL_NETWORKS = "*"
DOCKER_ACTIONS = {"create", "start", "die", "destroy", "connect", "disconnect", "rename", "pause", "unpause"}
#: The longest wait between firewall polls while no counter moves (seconds).
IDLE_POLL = 5.0
#: Signals the updater takes at once, without waiting `debounce` for more: a firewall read of its own that
#: ended, an nf_tables change (one transaction comes in one piece; changes during the read it starts are
#: gathered by the read after it), the poll's tick and a question's re-read (`settled`).
UNGATHERED = frozenset({"firewall-done", "nftables", "poll", "recheck"})
#: Seconds after a netlink change (the first since the last check) at which a dump is compared with the state
#: the messages built.
NETLINK_CHECK = 5.0
#: The largest notification a monitoring socket returns at once.
NETLINK_RECV = 1 << 20
#: Signals after which the firewall's rules (not only its counters) may differ from the model's.
RULE_SIGNALS = frozenset({"firewall", "nftables", "docker", "docker-lost"})
#: `settled`: how long the watcher threads get to pass on what is already waiting in their sockets, how often
#: it looks whether the updater is done, and the longest it waits (seconds).
SETTLE_GRACE = 0.02
SETTLE_STEP = 0.005
SETTLE_TIMEOUT = 5.0


@dataclass(frozen=True, slots=True)
class ModelUpdate:
    model: HostModel
    parts: frozenset[str]
    moved: frozenset[RuleKey] = frozenset()
    events: tuple[str, ...] = ()

    def then(self, newer: ModelUpdate) -> ModelUpdate:
        """`newer`'s model, with what changed in this update as well as in it (updates coalesced)."""
        return ModelUpdate(
            newer.model, self.parts | newer.parts, self.moved | newer.moved, self.events + newer.events
        )


@dataclass(slots=True)
class _Signals:
    """What happened since the last re-read, gathered by the watcher threads."""

    kinds: set[str] = field(default_factory=set)
    events: list[str] = field(default_factory=list)
    #: Containers and networks a Docker event named (ids), to re-inspect.
    containers: set[str] = field(default_factory=set)
    networks: set[str] = field(default_factory=set)
    #: Netlink notifications of the host, decoded, in the order they came.
    netlink: list[Any] = field(default_factory=list)
    #: The nf_tables tables changed (nfgen family, name), from the nf_tables notifications.
    nft_changes: set[Change] = field(default_factory=set)
    #: Containers (ids) whose namespaces a question asked to read again ("recheck").
    recheck: set[str] = field(default_factory=set)


def describe_docker_event(event: dict[str, Any]) -> str | None:
    """One line for a Docker event that matters to networking, None for the rest."""
    action = str(event.get("Action") or event.get("status") or "")
    kind = event.get("Type", "")
    if action.split(":")[0] not in DOCKER_ACTIONS:
        return None
    attrs = (event.get("Actor") or {}).get("Attributes") or {}
    if kind == "network":
        who = attrs.get("name", "?")
        container = attrs.get("container", "")
        extra = f" container {container[:12]}" if container else ""
        return f"network {who}: {action}{extra}"
    return f"container {attrs.get('name', '?')}: {action}"


class LiveModel:
    """Keeps a HostModel current. Iterate `updates()`; cancel the iteration to stop every watcher."""

    def __init__(
        self, client: Any | None, poll_interval: float = 1.0, debounce: float = 0.03, host_part: bool = True
    ) -> None:
        self.collector = Collector(client, host_part)
        self.client = client
        self.host_part = host_part
        self.poll_interval = poll_interval
        self.debounce = debounce
        self.model = HostModel()
        self._stale: dict[str, str] = {}
        self._wake = asyncio.Event()
        self._signals = _Signals()
        self._stop = threading.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._streams: list[Any] = []
        self._subscribed = threading.Event()
        #: Firewall polls in a row that found nothing new (the poll backs off while it grows).
        self._idle_polls = 0
        #: The host's netlink part as the notifications keep it (None until a dump seeds it).
        self._netlink: NetlinkState | None = None
        self._netlink_check: asyncio.TimerHandle | None = None
        #: False once the netlink watcher stopped: then Docker events re-read the host links, as a dump.
        self._netlink_watched = True
        #: The firewall read under way (with the stale reasons it found), and whether another is due after it.
        self._firewall_job: tuple[asyncio.Future[FirewallRead], dict[str, str]] | None = None
        self._firewall_again = False
        #: Rule signals so far (a signal after which the rules may differ), as of the read under way's start,
        #: and as of the latest read's start: the model may lack a rule change while the last two differ.
        self._rule_signals = 0
        self._job_signals = 0
        self._read_signals = 0
        #: True while the updater re-reads; True once the nf_tables watcher listens.
        self._busy = False
        self._nft_watched = False

    # --- watchers (threads) ---------------------------------------------------------------------------

    def _signal(
        self,
        kind: str,
        *lines: str | None,
        event: dict[str, Any] | None = None,
        messages: list[Any] | None = None,
        nft_changes: set[Change] | None = None,
    ) -> None:
        """Called from any thread: note what happened (and, for a Docker event, what it names; for netlink,
        its messages); wake the updater."""

        def note() -> None:
            signals = self._signals
            signals.kinds.add(kind)
            signals.events.extend(line for line in lines if line)
            if messages:
                signals.netlink.extend(messages)
            if nft_changes:
                signals.nft_changes |= nft_changes
            if event is not None:
                actor = event.get("Actor") or {}
                if event.get("Type") == "network":
                    signals.networks.add(str(actor.get("ID") or ALL_NETWORKS))
                    container = (actor.get("Attributes") or {}).get("container")
                    if container:
                        signals.containers.add(str(container))
                elif actor.get("ID"):
                    signals.containers.add(str(actor["ID"]))
            self._wake.set()

        if self._loop is not None and not self._loop.is_closed():
            with contextlib.suppress(RuntimeError):
                self._loop.call_soon_threadsafe(note)

    def _watch_docker(self) -> None:
        if self.client is None:
            self._subscribed.set()
            return
        down = False  # one "connection lost" line per outage, not one per retry
        while not self._stop.is_set():
            stream = None
            try:
                stream = self.client.events(decode=True, filters={"type": DOCKER_EVENT_TYPES})
                self._streams.append(stream)
                self._subscribed.set()
                down = False
                for event in stream:
                    line = describe_docker_event(event)
                    if line:
                        self._signal("docker", line, event=event)
            except Exception as exc:
                if self._stop.is_set():
                    return
                line = None if down else f"docker: connection lost ({type(exc).__name__})"
                down = True
                self._signal("docker-lost", line)
            if self._stop.wait(2.0):
                return
            self._signal("docker-lost", None)  # back: re-read all of Docker, events may have been missed

    def _watch_netlink(self) -> None:
        try:
            sock = open_monitor()
        except OSError as exc:
            self._signal("netlink-lost", f"netlink: cannot watch ({exc})")
            return
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([sock], [], [], 0.5)
                if not ready:
                    continue
                try:
                    messages = decoded(sock.recv(NETLINK_RECV))
                except OSError as exc:
                    if exc.errno != errno.ENOBUFS:
                        raise
                    self._signal("netlink-resync", "netlink: notifications lost, host re-read")
                    continue
                self._signal("netlink", messages=messages)
        except Exception as exc:
            self._signal("netlink-lost", f"netlink: watch ended ({exc})")
        finally:
            sock.close()

    def _watch_nftables(self) -> None:
        """Wake the updater on every nf_tables ruleset change, with the tables it touched."""
        try:
            sock = open_nft_monitor()
        except OSError:
            return  # no nf_tables (or no permission): the poll alone sees firewall changes
        self._nft_watched = True
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([sock], [], [], 0.5)
                if not ready:
                    continue
                changes = waiting_changes(sock)
                if changes:  # none: only the end of a transaction whose changes came before
                    self._signal("nftables", nft_changes=changes)
        finally:
            self._nft_watched = False  # from now on rules may change unannounced
            sock.close()

    # --- updater --------------------------------------------------------------------------------------

    async def _reread(self, signals: _Signals) -> tuple[set[str], frozenset[RuleKey]]:
        kinds = set(signals.kinds)
        if kinds & RULE_SIGNALS and self.host_part:
            self._rule_signals += 1
        if "poll" in kinds:
            kinds.add("firewall")
        stale = self._stale
        parts: dict[str, Any] = {}
        read: set[str] = set()
        model = self.model

        # A Docker event re-reads what it names; a lost and regained event stream, all of Docker.
        incremental = "docker" in kinds and "docker-lost" not in kinds
        if "docker-lost" in kinds:
            _clear(stale, "docker", "container", "namespaces")
            engine, networks, containers = await self.collector.docker(stale)
            parts.update(engine=engine or model.engine, networks=networks, containers=containers)
            parts["containers"] = await self._namespaces(containers, stale)
        if "docker" in kinds or "docker-lost" in kinds:
            read |= {"docker", "namespaces"} if self.host_part else {"docker"}
            kinds.add("firewall")  # Docker rewrites rules
        if "netlink-lost" in kinds:  # no notifications any more: a dump now, and on every Docker event
            self._netlink_watched = False
            kinds.add("netlink-resync")
        if not self._netlink_watched and kinds & {"docker", "docker-lost"}:
            kinds.add("netlink-resync")
        if self.host_part:
            await self._follow_netlink(kinds, signals.netlink, parts, read)
            if "host" in parts:
                signals.events.extend(link_changes(model.host.interfaces, parts["host"].interfaces))
            await self._follow_sysctls(kinds, parts, read, signals.events)
        if incremental:
            await self._reread_docker(signals, parts, stale)
        if "recheck" in kinds and self.host_part:
            await self._recheck(signals.recheck, parts, read)
        moved: frozenset[RuleKey] = frozenset()
        if self.host_part:
            moved = self._firewall_done(kinds, parts, read, signals.events)
            networks = parts.get("networks", model.networks)
            poller = self.collector.poller
            families = poller.iptables_families(signals.nft_changes) if "nftables" in kinds else None
            if families:  # only iptables' own tables changed: their families first, any full read after
                self._start_firewall(networks, families)
                self._firewall_again |= "firewall" in kinds
            elif kinds & {"firewall", "nftables"} or (signals.networks and self._firewall_job is not None):
                self._start_firewall(networks)
        if parts or stale != model.stale:
            if not parts:
                read.add("stale")  # only why a part was not read changed (a read failed, or works again)
            self.model = self._assemble(model, stale, **parts)
        return read, moved

    async def _follow_netlink(
        self, kinds: set[str], messages: list[Any], parts: dict[str, Any], read: set[str]
    ) -> None:
        """The host's netlink part: the notifications applied to the state, or a dump where they cannot be
        trusted (none seeded it yet, messages were lost) or where the check is due."""
        state = self._netlink
        dump = "netlink-resync" in kinds or "netlink-check" in kinds or (state is None and bool(messages))
        if not dump:
            if state is not None and messages and state.apply(messages):
                parts["host"] = state.hostnet()
                read.add("netlink")
                self._schedule_netlink_check()
            return
        _clear(self._stale, "netlink")
        host = await self.collector.host(self._stale)
        if "netlink" in self._stale:
            if state is not None:
                return  # the dump failed: the notifications' state stays, `stale` says why
            self._netlink = None
        elif state is not None and "netlink-resync" not in kinds and same_host(host, state.hostnet()):
            return  # the check found the notifications' state right: no change to show
        else:
            self._netlink = NetlinkState(host)
        parts["host"] = host
        read.add("netlink")

    async def _follow_sysctls(
        self, kinds: set[str], parts: dict[str, Any], read: set[str], events: list[str]
    ) -> None:
        """The sysctls, which no notification announces: the host-wide ones on every poll tick, all of them
        (the per-interface ones of links new since) with a netlink check or dump; a line in `events` per
        setting changed. A question's re-read reads them all itself."""
        full = bool(kinds & {"netlink-check", "netlink-resync"})
        if "recheck" in kinds or not (full or "poll" in kinds):
            return
        previous = self.model.sysctls
        if full:
            _clear(self._stale, "sysctls")
            sysctls = await self.collector.sysctls(self._stale)
        else:
            sysctls = read_global_sysctls(previous)  # five small /proc files: no thread for them
        if sysctls != previous:
            parts["sysctls"] = sysctls
            read.add("sysctls")
            events.extend(changed_settings(previous, sysctls))

    def _schedule_netlink_check(self) -> None:
        """A check `NETLINK_CHECK` seconds after the first change since the last one (not the latest: on a
        busy host it would never come)."""
        if self._netlink_check is not None:
            return
        self._netlink_check = asyncio.get_running_loop().call_later(NETLINK_CHECK, self._netlink_check_due)

    def _netlink_check_due(self) -> None:
        self._netlink_check = None
        self._signal("netlink-check")

    def _start_firewall(self, networks: list[Any], families: set[str] | None = None) -> None:
        """Start a firewall read beside the updater (of the iptables-nft rules of `families` alone, if
        given), or ask for a full one after the read under way."""
        if self._firewall_job is not None:
            self._firewall_again = True
            return
        self._firewall_again = False
        found: dict[str, str] = {}
        job = asyncio.ensure_future(self.collector.firewall(found, networks, families=families or ()))
        job.add_done_callback(lambda _: self._signal("firewall-done"))
        self._firewall_job = (job, found)
        self._job_signals = self._rule_signals

    def _firewall_done(
        self, kinds: set[str], parts: dict[str, Any], read: set[str], events: list[str]
    ) -> frozenset[RuleKey]:
        """Take in the firewall read that finished, if one did (a line in `events` per rule added or removed);
        the rules whose counters moved."""
        if self._firewall_job is None or not self._firewall_job[0].done():
            return frozenset()
        job, found = self._firewall_job
        self._firewall_job = None
        if self._firewall_again:
            kinds.add("firewall")
        if job.cancelled():
            return frozenset()
        self._read_signals = self._job_signals
        _clear(self._stale, "firewall", "iptables", "ip6tables", "nftables", "ipset")
        self._stale.update(found)
        new_firewall, delta = job.result()
        if delta is None or not delta.changed:
            self._idle_polls += 1
            return frozenset()
        parts["firewall"] = new_firewall
        read.add("firewall" if delta.rules_changed else "counters")
        if delta.rules_changed and self.model.firewall.tables:
            events.extend(rule_changes(self.model.firewall, new_firewall))
        return frozenset(delta.moved)

    def _assemble(self, model: HostModel, stale: dict[str, str], **parts: Any) -> HostModel:
        """`assemble`; without a host part, its stale reasons kept and no hostname (not this machine's)."""
        if self.host_part:
            return assemble(model, stale, **parts)
        stale.update(dict.fromkeys(HOST_PARTS, NOT_THIS_HOST))
        return msgspec.structs.replace(assemble(model, stale, **parts), hostname="")

    async def _namespaces(self, containers: list[Container], stale: dict[str, str]) -> list[Container]:
        """The containers with their namespace part (none without a host part: the pids are not ours)."""
        return await self.collector.namespaces(containers, stale) if self.host_part else containers

    async def _recheck(self, ids: set[str], parts: dict[str, Any], read: set[str]) -> None:
        """What no notification announces, read again for a question: the sysctls, and the namespaces of the
        containers `ids` (addresses, routes, DNS config changed from inside). Only what differs enters."""
        stale = self._stale
        _clear(stale, "sysctls")
        sysctls = await self.collector.sysctls(stale)
        if sysctls != self.model.sysctls:
            parts["sysctls"] = sysctls
            read.add("sysctls")
        containers: list[Container] = parts.get("containers", self.model.containers)
        chosen = [c for c in containers if c.id in ids and c.pid]
        if not chosen:
            return
        found: dict[str, str] = {}  # only these containers' reasons: "namespaces" counts the full read's
        fresh = {c.id: c for c in await self._namespaces(chosen, found)}
        for c in chosen:
            stale.pop(f"container:{c.name}", None)
        stale.update((key, why) for key, why in found.items() if key.startswith("container:"))
        if any(fresh[c.id] != c for c in chosen):
            parts["containers"] = [fresh.get(c.id, c) for c in containers]
            read.add("namespaces")

    async def settled(self, containers: Collection[str] = ()) -> tuple[HostModel, bool]:
        """The model once it holds the changes made before this call, and True; after SETTLE_TIMEOUT
        seconds, the model as it is and False.

        Taken in: what the watchers have received (they get SETTLE_GRACE seconds to pass on what is already
        in their sockets or the Docker event stream: a bound that holds on a working host, not a proof),
        the firewall as re-read after any rule change, and, read again now, what no notification announces:
        the sysctls and the namespaces of `containers`, and on a host whose rules change without an
        nf_tables notification (legacy iptables, ipsets, no watcher) the firewall too."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + SETTLE_TIMEOUT
        await asyncio.sleep(SETTLE_GRACE)
        if self.host_part:
            self._signals.kinds.add("recheck")
            self._signals.recheck.update(containers)
            if self._rules_unannounced():
                self._signals.kinds.add("firewall")
            self._wake.set()
        while self._unsettled():
            if loop.time() > deadline:
                return self.model, False
            await asyncio.sleep(SETTLE_STEP)
        return self.model, True

    def _unsettled(self) -> bool:
        """Whether a change may still be on its way into the model: signals not taken in, a re-read under
        way, or a rule signal after the start of the latest firewall read."""
        return self._wake.is_set() or self._busy or self._rule_signals != self._read_signals

    def _rules_unannounced(self) -> bool:
        """Whether a rule can change with no nf_tables notification: no watcher, legacy rules, or ipsets."""
        firewall = self.model.firewall
        return (
            not self._nft_watched
            or firewall.iptables_backend == "legacy"
            or "iptables-legacy" in firewall.iptables_sources_with_rules()
            or bool(firewall.ipsets)
        )

    async def _reread_docker(self, signals: _Signals, parts: dict[str, Any], stale: dict[str, str]) -> None:
        """Re-read what the Docker events named: those containers (and their namespaces), the networks."""
        model = self.model
        if self.client is None:
            return
        try:
            if signals.networks:
                if ALL_NETWORKS in signals.networks:
                    parts["networks"] = await asyncio.to_thread(read_networks, self.client)
                else:
                    ids = sorted(signals.networks)
                    named = await asyncio.to_thread(read_networks_by_id, self.client, ids)
                    parts["networks"] = _merged(model.networks, named)
            known = {c.name: c.id for c in model.containers} | {c.id: c.id for c in model.containers}
            ids = sorted(signals.containers)
            fresh = await asyncio.to_thread(read_containers, self.client, ids, known)
        except Exception as exc:
            stale["docker"] = failure_reason(exc)
            return
        for key in [k for k in stale if k.startswith("container:") or k == "docker"]:
            del stale[key]
        running = [c for c in fresh.values() if c is not None]
        read = {c.id: c for c in await self._namespaces(running, stale)}
        parts["containers"] = _merged(model.containers, fresh, read)

    async def updates(self) -> AsyncGenerator[ModelUpdate, None]:
        """The first full model, then one update per batch of changes, forever (until cancelled)."""
        self._loop = asyncio.get_running_loop()
        # Watch first, then read: a change that lands during the first read is re-read, never missed.
        watchers = [(self._watch_docker, "dockwire-docker-events")]
        if self.host_part:
            watchers += [
                (self._watch_netlink, "dockwire-netlink"),
                (self._watch_nftables, "dockwire-nftables"),
            ]
        for target, name in watchers:
            threading.Thread(target=target, name=name, daemon=True).start()
        poller = asyncio.create_task(self._poll_firewall()) if self.host_part else None
        if self.client is not None:
            await asyncio.to_thread(self._subscribed.wait, 5.0)
        try:
            self.model = await self.collector.everything()
            self._stale = dict(self.model.stale)
            if self.host_part and "netlink" not in self._stale:
                self._netlink = NetlinkState(self.model.host)
            yield ModelUpdate(self.model, frozenset({"all"}))
            while True:
                await self._wake.wait()
                if not self._signals.kinds <= UNGATHERED:
                    await asyncio.sleep(self.debounce)
                self._wake.clear()
                signals, self._signals = self._signals, _Signals()
                self._busy = True
                try:
                    read, moved = await self._reread(signals)
                finally:
                    self._busy = False
                if moved or read - {"counters"}:
                    self._idle_polls = 0
                if read or signals.events:
                    yield ModelUpdate(self.model, frozenset(read), moved, tuple(signals.events))
        finally:
            if poller is not None:
                poller.cancel()
            if self._firewall_job is not None:  # its command killed and ended before the loop may close
                job = self._firewall_job[0]
                job.cancel()
                with contextlib.suppress(BaseException):
                    await job
            if self._netlink_check is not None:
                self._netlink_check.cancel()
            self.close()

    async def _poll_firewall(self) -> None:
        """Ask for a firewall read every poll_interval while counters move, backing off to IDLE_POLL."""
        while True:
            await asyncio.sleep(min(IDLE_POLL, self.poll_interval * 2 ** min(self._idle_polls, 8)))
            self._signals.kinds.add("poll")
            self._wake.set()

    def close(self) -> None:
        """Stop the watcher threads (the Docker event stream is closed to unblock its reader)."""
        self._stop.set()
        for stream in getattr(self, "_streams", []):
            with contextlib.suppress(Exception):
                stream.close()


def _clear(stale: dict[str, str], *names: str) -> None:
    """Forget the stale reasons of these parts (and of their sub-parts, "name:detail"), before a re-read."""
    for key in [k for k in stale if k in names or any(k.startswith(f"{n}:") for n in names)]:
        del stale[key]


#: What `_merged` merges: the model's containers or its networks.
Inspected = TypeVar("Inspected", Container, Network)


def _merged(
    known: list[Inspected], fresh: dict[str, Inspected | None], read: Mapping[str, Inspected] | None = None
) -> list[Inspected]:
    """The model's containers (or networks) with the re-inspected ones replaced (a container with its
    namespace part, from `read`), the new ones added and the gone ones dropped, by name as read_docker
    orders them."""
    kept = {item.id: item for item in known if item.id not in fresh}
    for ident, item in fresh.items():
        if item is not None:
            kept[ident] = read.get(ident, item) if read else item
    return sorted(kept.values(), key=lambda item: item.name)
