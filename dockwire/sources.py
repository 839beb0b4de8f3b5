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
from collections.abc import AsyncIterator
from typing import Any, Protocol

from dockwire.errors import DockwireError
from dockwire.hosts import spec_for_docker_host
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
        label = f"live · {spec.url} (Docker part only: host part unavailable)"
        return LiveSource(connect(spec.url), label, host_part=False)
    return LiveSource(connect(host), f"live · {host or 'local Docker'}")
