"""Where a model comes from: the live host or a snapshot file. The TUI sees only this interface,
so demo mode and tests are not special cases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Protocol

from dockwire.errors import DockwireError
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
    """The local (or -H) Docker host, kept current by LiveModel."""

    live = True

    def __init__(self, client: Any, label: str, poll_interval: float = 1.0) -> None:
        self.client = client
        self.label = label
        self.poll_interval = poll_interval

    async def updates(self) -> AsyncIterator[ModelUpdate]:
        async for update in LiveModel(self.client, self.poll_interval).updates():
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
    from dockwire.docker_client import connect

    client = connect(host)
    return LiveSource(client, f"live · {host or 'local Docker'}")
