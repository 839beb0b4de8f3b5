"""The live model: one HostModel kept current from Docker events, netlink notifications and a firewall poll.

Consumers iterate `LiveModel.updates()`; each ModelUpdate carries the new model, which parts were re-read,
which rules' counters moved, and human-readable event lines. Only what changed is re-read:
a Docker event re-reads Docker, namespaces, host links and the firewall (Docker rewrites rules);
a netlink notification re-reads host links and container namespaces; the poll re-reads the firewall alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import select
import threading
from collections.abc import AsyncGenerator
from dataclasses import dataclass, field
from typing import Any

from dockwire.collect import Collector, assemble
from dockwire.model import HostModel
from dockwire.probes.firewall_diff import RuleKey

DOCKER_EVENT_TYPES = ["container", "network"]
DOCKER_ACTIONS = {"create", "start", "die", "destroy", "connect", "disconnect", "rename", "pause", "unpause"}


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

    def __init__(self, client: Any | None, poll_interval: float = 1.0, debounce: float = 0.2) -> None:
        self.collector = Collector(client)
        self.client = client
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

    # --- watchers (threads) ---------------------------------------------------------------------------

    def _signal(self, kind: str, line: str | None = None) -> None:
        """Called from any thread: note what happened and wake the updater."""

        def note() -> None:
            self._signals.kinds.add(kind)
            if line:
                self._signals.events.append(line)
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
                        self._signal("docker", line)
            except Exception as exc:
                if self._stop.is_set():
                    return
                line = None if down else f"docker: connection lost ({type(exc).__name__})"
                down = True
                self._signal("docker-lost", line)
            if self._stop.wait(2.0):
                return
            self._signal("docker", None)

    def _watch_netlink(self) -> None:
        from pyroute2 import IPRoute
        from pyroute2.netlink.rtnl import (
            RTMGRP_IPV4_IFADDR,
            RTMGRP_IPV4_ROUTE,
            RTMGRP_IPV6_ROUTE,
            RTMGRP_LINK,
        )

        try:
            ipr = IPRoute()
            ipr.bind(groups=RTMGRP_LINK | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE | RTMGRP_IPV6_ROUTE)
        except Exception as exc:
            self._signal("netlink-lost", f"netlink: cannot watch ({exc})")
            return
        try:
            while not self._stop.is_set():
                ready, _, _ = select.select([ipr.fileno()], [], [], 0.5)
                if not ready:
                    continue
                for msg in ipr.get():
                    event = str(msg.get("event", ""))
                    name = msg.get("ifname") if event.endswith("LINK") else None
                    line = f"link {name}: {event.removeprefix('RTM_').lower()}" if name else None
                    self._signal("netlink", line)
        except Exception as exc:
            self._signal("netlink-lost", f"netlink: watch ended ({exc})")
        finally:
            ipr.close()

    # --- updater --------------------------------------------------------------------------------------

    async def _reread(self, kinds: set[str]) -> tuple[set[str], frozenset[RuleKey]]:
        stale = self._stale
        parts: dict[str, Any] = {}
        read: set[str] = set()
        model = self.model

        def clear(*names: str) -> None:
            for key in [k for k in stale if k in names or any(k.startswith(f"{n}:") for n in names)]:
                del stale[key]

        if "docker" in kinds or "docker-lost" in kinds:
            clear("docker", "container", "namespaces")
            engine, networks, containers = await self.collector.docker(stale)
            parts.update(engine=engine or model.engine, networks=networks, containers=containers)
            read |= {"docker", "namespaces"}
            kinds |= {"netlink", "firewall"}
        if "netlink" in kinds:
            clear("netlink", "container", "namespaces")
            parts["host"] = await self.collector.host(stale)
            containers = parts.get("containers", model.containers)
            parts["containers"] = await self.collector.namespaces(containers, stale)
            read |= {"netlink", "namespaces"}
        moved: frozenset[RuleKey] = frozenset()
        if "firewall" in kinds:
            clear("firewall", "iptables", "ip6tables", "nftables", "ipset")
            networks = parts.get("networks", model.networks)
            firewall, delta = await self.collector.firewall(stale, networks)
            if delta is not None and delta.changed:
                parts["firewall"] = firewall
                read.add("firewall" if delta.rules_changed else "counters")
                moved = frozenset(delta.moved)
        if parts:
            self.model = assemble(model, stale, **parts)
        return read, moved

    async def updates(self) -> AsyncGenerator[ModelUpdate, None]:
        """The first full model, then one update per batch of changes, forever (until cancelled)."""
        self._loop = asyncio.get_running_loop()
        # Watch first, then read: a change that lands during the first read is re-read, never missed.
        for target, name in (
            (self._watch_docker, "dockwire-docker-events"),
            (self._watch_netlink, "dockwire-netlink"),
        ):
            threading.Thread(target=target, name=name, daemon=True).start()
        poller = asyncio.create_task(self._poll_firewall())
        if self.client is not None:
            await asyncio.to_thread(self._subscribed.wait, 5.0)
        try:
            self.model = await self.collector.everything()
            self._stale = dict(self.model.stale)
            yield ModelUpdate(self.model, frozenset({"all"}))
            while True:
                await self._wake.wait()
                await asyncio.sleep(self.debounce)
                self._wake.clear()
                signals, self._signals = self._signals, _Signals()
                read, moved = await self._reread(set(signals.kinds))
                if read or signals.events:
                    yield ModelUpdate(self.model, frozenset(read), moved, tuple(signals.events))
        finally:
            poller.cancel()
            self.close()

    async def _poll_firewall(self) -> None:
        while True:
            await asyncio.sleep(self.poll_interval)
            self._signals.kinds.add("firewall")
            self._wake.set()

    def close(self) -> None:
        """Stop the watcher threads (the Docker event stream is closed to unblock its reader)."""
        self._stop.set()
        for stream in getattr(self, "_streams", []):
            with contextlib.suppress(Exception):
                stream.close()
