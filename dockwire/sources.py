"""Where a model comes from: the live host or a snapshot file. The TUI sees only this interface,
so demo mode and tests are not special cases.

A live model's Docker part and host part come from the same host (`dockwire.hosts.HostSpec.kind`): this
machine's engine is read here (LiveModel); an ssh host is re-read whole over ssh (RemoteSource); any other
daemon gives its Docker part only, the host part stale with the reason. A source whose host is not this
machine sets `actions_refused`: probes would send packets from here.
"""

from __future__ import annotations

import asyncio
import os
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any, Protocol
from urllib.parse import urlsplit

import msgspec

from dockwire.errors import DockwireError
from dockwire.hosts import HostSpec, spec_for_docker_host
from dockwire.live import LiveModel, ModelUpdate
from dockwire.model import HostModel
from dockwire.snapshot import SnapshotError, load, load_demo


class ModelSource(Protocol):
    #: Shown in the title bar: where the model comes from.
    label: str
    #: True when actions (probes, traces) can act on a real host.
    live: bool
    #: The Docker client for actions on a live host, else None.
    client: Any | None
    # Optional (read with getattr): `actions_refused: str`, why probes cannot act there ("" if they can).

    def updates(self) -> AsyncIterator[ModelUpdate]: ...


class SnapshotSource:
    """A fixed model: one update, then nothing more."""

    live = False
    client = None

    def __init__(self, model: HostModel, label: str) -> None:
        self.model = model
        self.label = label

    async def updates(self) -> AsyncIterator[ModelUpdate]:
        yield ModelUpdate(self.model, frozenset({"all"}))
        await asyncio.Event().wait()


class LiveSource:
    """A Docker host kept current by LiveModel: this machine's, or (`host_part=False`) only the Docker part of
    a daemon whose host part is not readable from here."""

    live = True

    def __init__(self, client: Any, label: str, poll_interval: float = 1.0, host_part: bool = True) -> None:
        self.client = client
        self.label = label
        self.poll_interval = poll_interval
        self.host_part = host_part
        self.actions_refused = (
            "" if host_part else "Docker part only: probes would send packets from this machine, not its host"
        )

    async def updates(self) -> AsyncIterator[ModelUpdate]:
        live = LiveModel(self.client, self.poll_interval, host_part=self.host_part)
        async for update in live.updates():
            yield update


def open_source(host: str | None = None, demo: bool = False, snapshot: str | None = None) -> ModelSource:
    """The source the CLI asked for. DockwireError (one line) when it cannot be opened."""
    if demo and snapshot is not None:
        raise DockwireError("--demo and --snapshot exclude each other")
    try:
        if demo:
            return SnapshotSource(load_demo(), "DEMO · recorded snapshot (no live host)")
        if snapshot is not None:
            model = load(snapshot)
            taken = f"taken {model.taken_at}" if model.taken_at else "time of recording unknown"
            return SnapshotSource(model, f"snapshot {snapshot} · {taken}")
    except SnapshotError as exc:
        raise DockwireError(str(exc)) from None
    return _live_source(host)


def _live_source(host: str | None) -> ModelSource:
    """The live source for -H/$DOCKER_HOST (None: $DOCKER_HOST, else the local default), by its kind."""
    from dockwire.docker_client import connect

    spec = spec_for_docker_host(host if host is not None else os.environ.get("DOCKER_HOST"))
    if spec.kind == "ssh":
        from dockwire.remote_source import RemoteSource

        source = RemoteSource(spec)
        source.model = asyncio.run(source.read())  # a host that does not answer is a one-line error now
        return source
    if spec.kind == "docker":
        from dockwire.remote import client_for

        label = f"live · {spec.url} (Docker part only: host part unavailable)"
        return LiveSource(client_for(spec), label, host_part=False)
    return LiveSource(connect(host), f"live · {host or 'local Docker'}")


# --- several hosts --------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FleetUpdate:
    """One host's update, in a fleet."""

    host: str
    update: ModelUpdate


class FleetSource:
    """Several named sources followed at once; each update says its host. A host whose source fails is
    marked stale (its last model kept) and followed again after a pause, while the others keep going."""

    retry_seconds = 3.0

    def __init__(self, sources: list[tuple[str, ModelSource]]) -> None:
        self.sources = dict(sources)
        self.live = any(s.live for s in self.sources.values())
        kind = "live" if self.live else "snapshots"
        self.label = f"{len(sources)} hosts ({', '.join(self.sources)}) · {kind}"
        self.client = None
        self.actions_refused = "several hosts: probes are not sent across hosts"

    async def updates(self) -> AsyncIterator[FleetUpdate]:
        queue: asyncio.Queue[FleetUpdate] = asyncio.Queue()
        tasks = [asyncio.create_task(self._follow(name, s, queue)) for name, s in self.sources.items()]
        try:
            while True:
                yield await queue.get()
        finally:
            for task in tasks:
                task.cancel()

    async def _follow(self, name: str, source: ModelSource, queue: asyncio.Queue[FleetUpdate]) -> None:
        last, said = HostModel(), ""
        while True:
            try:
                async for update in source.updates():
                    last, said = update.model, ""
                    await queue.put(FleetUpdate(name, update))
                return
            except Exception as exc:  # one host failing marks that host stale; the rest keep going
                why = str(exc) if isinstance(exc, DockwireError) else f"{type(exc).__name__}: {exc}"
                reason = f"not answering: {why}; retrying"
                if reason != said:
                    said = reason
                    stale = msgspec.structs.replace(last, stale={**last.stale, "host": reason})
                    events = (reason,) if last.hostname or last.containers else ()  # else said as stale
                    update = ModelUpdate(stale, frozenset({"all"}), events=events)
                    await queue.put(FleetUpdate(name, update))
            await asyncio.sleep(self.retry_seconds)


def snapshot_fleet_source(named: list[tuple[str, HostModel]], files: list[str]) -> FleetSource:
    """A fleet of snapshot sources, one per (name, model) read from `files`."""
    sources: list[tuple[str, ModelSource]] = []
    for (name, model), path in zip(named, files, strict=True):
        taken = f"taken {model.taken_at}" if model.taken_at else "time unknown"
        sources.append((name, SnapshotSource(model, f"snapshot {path} · {taken}")))
    return FleetSource(sources)


def live_fleet_source(specs: list[HostSpec]) -> FleetSource:
    """A live source per host (`-H NAME=URL`, `--context`), by its kind: this machine's engine, an ssh host
    re-read whole, or another daemon's Docker part. DockwireError (one line) on a name given twice."""
    sources: list[tuple[str, ModelSource]] = []
    for spec in specs:
        name = spec.name or re.sub(r"[^A-Za-z0-9._-]", "-", urlsplit(spec.url).hostname or "local")
        if name in dict(sources):
            raise DockwireError(f"host {name!r} is given twice: name each host once (NAME=URL)")
        sources.append((name, _spec_source(spec)))
    return FleetSource(sources)


def _spec_source(spec: HostSpec) -> ModelSource:
    """The host's source; it first reaches the host in the dashboard, so a failure marks only that host."""
    if spec.kind == "ssh":
        from dockwire.remote_source import RemoteSource

        return RemoteSource(spec)
    if spec.kind == "docker":
        label = f"live · {spec.url} (Docker part only: host part unavailable)"
        return ConnectingSource(spec.url, label, host_part=False)
    return ConnectingSource(spec.url, f"live · {spec.url or 'local Docker'}")


class ConnectingSource:
    """A LiveSource that connects to its daemon on its first update (the fleet marks a failure stale)."""

    live = True
    client = None

    def __init__(self, url: str, label: str, host_part: bool = True) -> None:
        self.url, self.label, self.host_part = url, label, host_part
        self.actions_refused = "" if host_part else "Docker part only: probes would not act on that host"

    async def updates(self) -> AsyncIterator[ModelUpdate]:
        from dockwire.docker_client import connect

        client = await asyncio.to_thread(connect, self.url or None)
        async for update in LiveSource(client, self.label, host_part=self.host_part).updates():
            yield update
