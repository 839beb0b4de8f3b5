"""What the TUI tests share: the recorded lab model, a scripted source, the app factory and key helpers."""

from __future__ import annotations

import asyncio
import io
import queue
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Any

from rich.console import Console
from textual.pilot import Pilot

from dockwire.live import ModelUpdate
from dockwire.model import HostModel
from dockwire.snapshot import load
from dockwire.sources import SnapshotSource
from dockwire.tui.app import DockwireApp, make_app

#: `dockwire snapshot` of the lab (with some test containers of the time), recorded on the dev machine.
LAB_FIXTURE = Path(__file__).parent / "fixtures" / "tui" / "lab.json"


def lab_model() -> HostModel:
    return load(LAB_FIXTURE)


def fixed_clock() -> str:
    return "12:00:00"


class ScriptedSource:
    """A model source that yields exactly the updates a test pushes (from any thread)."""

    client = None

    def __init__(self, label: str = "scripted", live: bool = False) -> None:
        self.label = label
        self.live = live
        self._queue: queue.Queue[ModelUpdate] = queue.Queue()

    def push(self, model: HostModel, parts: Iterable[str] = ("all",), events: tuple[str, ...] = ()) -> None:
        self._queue.put(ModelUpdate(model, frozenset(parts), events=events))

    async def updates(self) -> AsyncIterator[ModelUpdate]:
        while True:
            try:
                # A short timeout, so no helper thread is left blocked when the app stops.
                update = await asyncio.to_thread(self._queue.get, timeout=0.05)
            except queue.Empty:
                continue
            yield update


class LiveFlaggedSnapshot(SnapshotSource):
    """A recorded model presented as a live host, to test what the app allows on one."""

    live = True


def app_on(
    model: HostModel | None = None, source: Any = None, root: bool = True, **kwargs: Any
) -> DockwireApp:
    if source is None:
        source = SnapshotSource(model or lab_model(), "DEMO · recorded snapshot (no live host)")
    return make_app(source, clock=fixed_clock, root=root, **kwargs)


def plain(widget: Any, width: int = 200) -> str:
    """The text a Static (or anything with a Rich renderable as `content`) shows, without styles."""
    console = Console(width=width, file=io.StringIO(), record=True, color_system=None)
    console.print(widget.content)
    return console.export_text()


async def until(pilot: Pilot[Any], condition: Any, what: str, tries: int = 200) -> None:
    """Let the app run until `condition()` holds (no fixed sleeps: it stops as soon as it is true)."""
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.01)
    raise AssertionError(f"timed out waiting for {what}")


def app_of(pilot: Pilot[Any]) -> DockwireApp:
    app = pilot.app
    assert isinstance(app, DockwireApp)
    return app


async def ready(pilot: Pilot[Any], generation: int = 1) -> DockwireApp:
    app = app_of(pilot)
    await until(pilot, lambda: app.generation >= generation, f"model generation {generation}")
    await pilot.pause()
    return app


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for every worker (probe, why, matrix) to finish and the screen to catch up."""
    await app_of(pilot).wait_for_tasks()
    await pilot.pause()


async def mark_by_filter(pilot: Pilot[Any], name: str, key: str = "space") -> None:
    """Find a container with `/` in the containers table, then mark it (space, a or b).
    Only the part after `dwlab-` is typed: the filter matches substrings."""
    await pilot.press("2", "slash", *name.removeprefix("dwlab-"), "enter", key, "escape")
    await pilot.pause()
