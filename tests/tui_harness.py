"""What the TUI tests share: the recorded lab model, a scripted source, the app factory and key helpers.

No helper sleeps for a fixed time or guesses from CPU use that the app is done, as `Pilot.press` and
`Pilot.pause()` do (they wait for a 20 ms window without CPU use, twice per key: after typing, that was most
of the time these tests took, and on a loaded machine a window can look idle while the app is not done).
Every wait is for something the app can be asked about: its message queues are empty (`caught_up`), its
workers are done (`settle`), or what the test is about holds (`until`). A slow machine only makes the tests
slower, never wrong; a fast one does not wait for nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import io
import queue
import time
import unicodedata
from collections.abc import AsyncIterator, Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

from rich.console import Console
from textual import events
from textual.keys import REPLACED_KEYS, _character_to_key, _get_unicode_name_from_key
from textual.pilot import Pilot
from textual.widgets import Input

from dockwire.live import ModelUpdate
from dockwire.model import HostModel
from dockwire.snapshot import load
from dockwire.sources import SnapshotSource
from dockwire.tui.app import SOURCE_GROUP, DockwireApp, make_app
from dockwire.widgets.containers import ContainersTable

#: `dockwire snapshot` of the lab (with some test containers of the time), recorded on the dev machine.
LAB_FIXTURE = Path(__file__).parent / "fixtures" / "tui" / "lab.json"

#: How long a wait may take before the test fails (seconds). Only a failing test ever waits this long.
TIMEOUT = 30.0


@contextlib.contextmanager
def fewer_full_collections(threshold: int = 100) -> Iterator[None]:
    """Let the garbage collector make a full pass at most every `threshold` second-generation passes
    (Python's default is 10) while the block runs; then collect once and put the setting back.

    Why: each finished app leaves some 45,000 objects in reference cycles; with the default setting the
    full passes came about twice per app at 0.1-0.15 s each, some 30% of the CPU these tests use. Nothing
    a test checks depends on when garbage is freed."""
    old = gc.get_threshold()
    gc.set_threshold(old[0], old[1], max(old[2], threshold))
    try:
        yield
    finally:
        gc.set_threshold(*old)
        gc.collect()


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


def app_of(pilot: Pilot[Any]) -> DockwireApp:
    app = pilot.app
    assert isinstance(app, DockwireApp)
    return app


# --- waiting ----------------------------------------------------------------------------------------------


async def until(
    pilot: Pilot[Any], condition: Callable[[], object], what: str, timeout: float = TIMEOUT
) -> None:
    """Let the app run until `condition()` holds. It returns as soon as it does; `timeout` (wall clock)
    only bounds how long a failing test hangs, so a loaded machine cannot make a passing test fail."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:.0f}s waiting for {what}")
        await pilot.pause(0.005)


async def caught_up(pilot: Pilot[Any]) -> None:
    """Let the app handle everything queued, and what that queues in turn. Each round is `pilot.pause(0)`:
    every node of the screen handles what it had queued, then the screen is brought up to date (layout,
    drawing); then any animation runs to its end, as `Pilot.press` lets it. Rounds go on until no node of
    the app or its screen has a message waiting (a handler that posts one, a focus change, a new screen)."""
    app = app_of(pilot)
    deadline = time.monotonic() + TIMEOUT
    while True:
        await pilot.pause(0)
        await app.animator.wait_until_complete()
        if not any(node.message_queue_size for node in (app, *app.screen.walk_children(with_self=True))):
            return
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app to handle its messages")


def key_event(app: DockwireApp, key: str) -> events.Key:
    """The Key event for `key` ("a", "A", "slash", "ctrl+s", "-"...), built as `Pilot.press` builds it."""
    if len(key) == 1 and not key.isalnum():
        key = _character_to_key(key)
    char: str | None
    try:
        char = unicodedata.lookup(_get_unicode_name_from_key(REPLACED_KEYS.get(key, key)))
    except KeyError:
        char = key if len(key) == 1 else None
    event = events.Key(key, char)
    event.set_sender(app)
    return event


async def press(pilot: Pilot[Any], *keys: str) -> None:
    """Press `keys` one after the other. Each is posted to the app as the terminal driver posts a key (the
    app's bindings, then the focused widget's, then the widget, as for any key), and the app has handled
    it, and all that follows from it (`caught_up`), before the next one is pressed."""
    app = app_of(pilot)
    for key in keys:
        app.post_message(key_event(app, key))
        await caught_up(pilot)


async def type_text(pilot: Pilot[Any], text: str) -> Input:
    """Type `text` into the input that has the focus (empty, as `/` opens it), and return that input.
    Each character is a key press (see `press`); they come in one burst, as a terminal delivers fast
    typing, and the input gets them in order. It returns once the app has handled them all."""
    app = app_of(pilot)
    box = app.focused
    assert isinstance(box, Input) and box.value == "", f"typing needs an empty input focused, not {box!r}"
    for char in text:
        app.post_message(key_event(app, char))
    await caught_up(pilot)
    assert box.value == text, (box.value, text)
    return box


async def ready(pilot: Pilot[Any], generation: int = 1) -> DockwireApp:
    """Wait until the app has shown its `generation`th model, and the screen has caught up."""
    app = app_of(pilot)
    await until(pilot, lambda: app.generation >= generation, f"model generation {generation}")
    await caught_up(pilot)
    return app


def _busy_workers(app: DockwireApp) -> list[Any]:
    return [w for w in app.workers if w.group != SOURCE_GROUP and not w.is_finished]


async def settle(pilot: Pilot[Any]) -> None:
    """Wait for every worker (probe, why, matrix, save) to finish and the screen to catch up. A worker may
    start another as it ends (the matrix starts the highlighted cell's why): this waits until none is left."""
    app = app_of(pilot)
    deadline = time.monotonic() + TIMEOUT
    while True:
        await app.wait_for_tasks()
        await caught_up(pilot)
        if not _busy_workers(app):
            return
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for workers: {_busy_workers(app)}")


async def answered(pilot: Pilot[Any], after: Any = None) -> None:
    """After the key that starts a probe or a why: wait until its outcome has arrived (a new one, not
    `after`), then until every worker is done and the screen has caught up."""
    app = app_of(pilot)
    await until(pilot, lambda: app.last_outcome is not None and app.last_outcome is not after, "an outcome")
    await settle(pilot)


# --- marking ----------------------------------------------------------------------------------------------


def containers_table(pilot: Pilot[Any]) -> ContainersTable:
    return app_of(pilot).main_screen.query_one(ContainersTable)


async def cursor_to(pilot: Pilot[Any], name: str) -> ContainersTable:
    """Focus the containers table and put its cursor on container `name`, through the table's own API
    (what the arrow keys end up doing), instead of typing the name through the `/` filter."""
    app = app_of(pilot)
    screen = app.main_screen
    table = containers_table(pilot)
    container = app.model.container(name)
    assert container is not None, f"no container {name!r} in the model"
    if screen.focused is not table:
        table.focus()
        await until(pilot, lambda: screen.focused is table, "the containers table to have the focus")
    if table.highlighted_id != container.id:
        table.move_cursor(row=table.get_row_index(container.id))
        # The table's message about its cursor names the container to the screen (detail, status line).
        await until(pilot, lambda: screen._cursor_container == container.id, f"the cursor on {name}")
    await caught_up(pilot)
    return table


async def mark(pilot: Pilot[Any], name: str, key: str = "space") -> None:
    """Mark container `name` by pressing `key` (space, a or b) with the cursor on its row: the containers
    table is left focused, its cursor on `name`. (Finding the row with `/` and typing, the way a user
    does, is tested once, in test_tui.TestMarkingByKeys; typed here it cost over a second a mark.)"""
    await cursor_to(pilot, name)
    screen = app_of(pilot).main_screen
    before = screen.marks
    await press(pilot, key)
    assert screen.marks != before, f"{key} did not change the marks on {name}"


async def mark_by_filter(pilot: Pilot[Any], name: str, key: str = "space") -> None:
    """Find a container with `/` in the containers table, then mark it (space, a or b), with Pilot's own
    key presses. Only the part after `dwlab-` is typed: the filter matches substrings. Slow (Pilot waits
    for the app to go idle after every key); test_tui_live uses it, the offline tests use `mark`."""
    await pilot.press("2", "slash", *name.removeprefix("dwlab-"), "enter", key, "escape")
    await pilot.pause()
