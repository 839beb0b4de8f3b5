"""Benchmark the dashboard's input latency and its matrix screen (a measurement, not a test):
`python -m benchmarks.tui_bench`.

The targets (the TUI performance issue), on the synthetic 200-container / 10,000-rule host
(`benchmarks.synthetic_host`, as `benchmarks.matrix_bench` builds it):

- at most 16 ms of app work per key: cursor moves in the containers table, pane switches with tab,
  scrolling in the firewall pane, pgup/pgdn, g/G;
- the matrix screen (200x200, ICMP + published ports) done in at most 10 s, the cells on screen first;
- at most 200 MB RSS with the TUI open and one matrix done; about the pre-matrix level after leaving it.

The app runs headless (`App.run_test`) on a `SnapshotSource`. A key's *app work* is the CPU time of the
app's thread (the event loop) from posting the key, as the terminal driver posts one, until every message
queue of the app and its screen is empty, any animation has ended and the screen has been brought up to
date (layout and every dirty line rendered: `tests.tui_harness.caught_up`). CPU time, not wall time: the
wait for a screen update's 60 Hz tick or for an animation is not work, and other threads (workers) do not
count. The one step a headless app skips is writing the rendered lines to a terminal.

Each key kind is pressed N times; the median and the 95th percentile are printed, with MISS where the p95
is over the target (exit status 1). `--profile KIND` runs that key kind under pyinstrument (a dev tool,
`pip install pyinstrument`) and prints where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.pilot import Pilot

from benchmarks.synthetic_host import rule_count, synthetic_host
from dockwire.model import HostModel
from dockwire.tui.app import DockwireApp
from tests.tui_harness import app_on, key_event, ready, settle, until

KEY_TARGET_MS = 16.0
MATRIX_TARGET_S = 10.0
RSS_TARGET_MB = 200.0


@dataclass(frozen=True, slots=True)
class KeyKind:
    """One kind of key press: the pane it goes to (a focus key, or "" for wherever), then its keys in
    turn (down, up, down, up...: the cursor stays in the same part of the pane)."""

    name: str
    focus: str
    keys: tuple[str, ...]


KINDS: tuple[KeyKind, ...] = (
    KeyKind("containers down/up", "2", ("down",) * 20 + ("up",) * 20),
    KeyKind("containers pgdn/pgup", "2", ("pagedown", "pageup")),
    KeyKind("containers g/G", "2", ("G", "g")),
    KeyKind("tab / shift+tab", "2", ("tab",) * 6 + ("shift+tab",) * 6),
    KeyKind("firewall j/k", "3", ("j",) * 20 + ("k",) * 20),
    KeyKind("firewall pgdn/pgup", "3", ("pagedown",) * 5 + ("pageup",) * 5),
    KeyKind("firewall g/G", "3", ("G", "g")),
    KeyKind("topology down/up", "1", ("down",) * 20 + ("up",) * 20),
)


def rss_mb() -> float:
    """The process's resident set now (not its peak), in MB."""
    with open("/proc/self/statm") as statm:
        pages = int(statm.read().split()[1])
    return pages * 4096 / 2**20


def host(containers: int, rules: int) -> HostModel:
    return synthetic_host(containers, networks=10, user_rules=rules, rule_mix="mixed", extra_ports=True)


def _node_busy(node: Any) -> bool:
    """Whether a node has a message queued or a callback due, or is handling one: its message loop is not
    waiting for the next message (Textual's own queue: `ready_event` has no waiter while it works)."""
    queue = node._message_queue
    if queue.values or node._next_callbacks:
        return True
    task = node._task
    return task is not None and not task.done() and not queue.ready_event._waiters


def _busy(app: DockwireApp) -> bool:
    return any(_node_busy(node) for node in (app, *app.screen.walk_children(with_self=True)))


def _screen_due(app: DockwireApp) -> bool:
    screen = app.screen
    return bool(
        screen._layout_required
        or screen._scroll_required
        or screen._repaint_required
        or screen._dirty_widgets
    )


async def quiet(app: DockwireApp, timeout: float = 30.0) -> None:
    """Let the app run until every message has been handled (and what that posted in turn), the screen is
    up to date and no animation runs. Unlike `Pilot.pause` (and `tests.tui_harness.caught_up`, built on
    it), it posts nothing to the app's nodes, so the wait adds no work of its own to what is measured
    (Pilot's wait posts a callback to each of the some 40 nodes, up to three times a key: 4-5 ms here).
    The screen is brought up to date as its 60 Hz timer would, without waiting for the tick."""
    deadline = time.monotonic() + timeout
    rounds = 0
    while True:
        # Yield to whatever is ready; after a few rounds (a handler waiting on a thread), sleep for real,
        # so that the wait does not spin on the event loop's thread.
        await asyncio.sleep(0 if rounds < 50 else 0.001)
        rounds += 1
        if app.animator._animations:
            await app.animator.wait_until_complete()
        elif _busy(app):
            pass
        elif _screen_due(app):
            app.screen._on_timer_update()
        else:
            return
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting for the app to go quiet")


async def timed_key(pilot: Pilot[Any], key: str) -> float:
    """The app's work for one key, in ms of the event loop thread's CPU time (see the module's doc)."""
    app = pilot.app
    assert isinstance(app, DockwireApp)
    start = time.thread_time()
    app.post_message(key_event(app, key))
    await quiet(app)
    return (time.thread_time() - start) * 1000


async def run_kind(pilot: Pilot[Any], kind: KeyKind, presses: int) -> list[float]:
    if kind.focus:
        app = pilot.app
        app.post_message(key_event(app, kind.focus))
        await settle(pilot)
    times: list[float] = []
    while len(times) < presses:
        for key in kind.keys:
            times.append(await timed_key(pilot, key))
            if len(times) == presses:
                break
    await settle(pilot)
    return times


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def report(name: str, times: list[float], target: float) -> bool:
    median, high = statistics.median(times), p95(times)
    met = high <= target
    print(
        f"  {name:<22} median {median:7.1f} ms  p95 {high:7.1f} ms  max {max(times):7.1f} ms"
        f"  {'OK' if met else 'MISS'}"
    )
    return met


async def keys_bench(app: DockwireApp, args: argparse.Namespace, profile: Callable[..., Any] | None) -> bool:
    met = True
    kinds = [k for k in KINDS if not args.only or args.only in k.name]
    async with app.run_test(size=(args.width, args.height)) as pilot:
        start = time.perf_counter()
        await ready(pilot)
        await settle(pilot)
        print(f"first model on screen: {time.perf_counter() - start:.2f} s; RSS {rss_mb():.0f} MB")
        print(f"app work per key (CPU ms of the event loop, {args.presses} presses each, target p95 <= "
              f"{KEY_TARGET_MS:g} ms):")  # fmt: skip
        for kind in kinds:
            if profile is not None and args.profile in kind.name:
                times = await profile(run_kind(pilot, kind, args.presses))
            else:
                times = await run_kind(pilot, kind, args.presses)
            met &= report(kind.name, times, KEY_TARGET_MS)
    return met


async def matrix_bench(app: DockwireApp, args: argparse.Namespace) -> bool:
    """Open the matrix, time the cells on screen and the whole grid, leave it; RSS at each step."""
    from dockwire.tui.matrix_screen import MatrixScreen
    from dockwire.widgets.matrix import MatrixGrid

    met = True
    async with app.run_test(size=(args.width, args.height)) as pilot:
        await ready(pilot)
        await settle(pilot)
        gc.collect()
        before = rss_mb()
        start = time.perf_counter()
        app.post_message(key_event(app, "m"))
        await until(pilot, lambda: isinstance(app.screen, MatrixScreen), "the matrix screen", timeout=60)
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        grid = screen.query_one(MatrixGrid)
        await until(pilot, lambda: bool(grid.order), "the grid laid out", timeout=60)
        await until(pilot, lambda: grid.visible_done, "the cells on screen", timeout=120)
        visible = time.perf_counter() - start
        await until(pilot, lambda: grid.done, "every cell", timeout=600)
        total = time.perf_counter() - start
        await settle(pilot)
        done_rss = rss_mb()
        cells = grid.progress[1]
        n = len(grid.order)
        print(
            f"matrix {n}x{n} ({cells} cells): the cells on screen at {visible:.2f} s, all at {total:.2f} s  "
            f"{'OK' if total <= MATRIX_TARGET_S else 'MISS'} (target <= {MATRIX_TARGET_S:g} s)"
        )
        met &= total <= MATRIX_TARGET_S
        times = [await timed_key(pilot, key) for key in ("right", "down") * (args.presses // 2)]
        await settle(pilot)
        met &= report("matrix cursor", times, KEY_TARGET_MS)
        app.post_message(key_event(app, "escape"))
        await until(pilot, lambda: not isinstance(app.screen, MatrixScreen), "the main screen")
        await settle(pilot)
        gc.collect()
        after = rss_mb()
    print(
        f"RSS: {before:.0f} MB before the matrix, {done_rss:.0f} MB with it done "
        f"({'OK' if done_rss <= RSS_TARGET_MB else 'MISS'}, target <= {RSS_TARGET_MB:g} MB), "
        f"{after:.0f} MB after leaving it and a gc"
    )
    return met and done_rss <= RSS_TARGET_MB


def pyinstrument_runner(flat: bool) -> Callable[..., Any]:
    from pyinstrument import Profiler

    async def profiled(coroutine: Any) -> Any:
        profiler = Profiler(async_mode="enabled", interval=0.0005)
        profiler.start()
        try:
            return await coroutine
        finally:
            profiler.stop()
            print(
                profiler.output_text(
                    unicode=True,
                    color=False,
                    show_all=True,
                    flat=flat,
                    processor_options={"filter_threshold": 0.02},
                )
            )

    return profiled


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.tui_bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--containers", type=int, default=200, help="containers (default 200)")
    parser.add_argument("--rules", type=int, default=10_000, help="extra DOCKER-USER rules (default 10,000)")
    parser.add_argument("--presses", type=int, default=40, help="presses of each key kind (default 40)")
    parser.add_argument("--width", type=int, default=160, help="terminal columns (default 160)")
    parser.add_argument("--height", type=int, default=48, help="terminal rows (default 48)")
    parser.add_argument("--only", default="", help="only the key kinds whose name holds this")
    parser.add_argument("--profile", default="", help="profile the key kinds whose name holds this")
    parser.add_argument("--flat", action="store_true", help="with --profile: the self time of each function")
    parser.add_argument("--matrix", action="store_true", help="the matrix screen instead of the keys")
    args = parser.parse_args(argv)

    start = time.perf_counter()
    model = host(args.containers, args.rules)
    print(
        f"host: {args.containers} containers, {rule_count(model)} rules; built in "
        f"{time.perf_counter() - start:.2f} s; RSS {rss_mb():.0f} MB; terminal {args.width}x{args.height}"
    )
    app = app_on(model)
    if args.matrix:
        met = asyncio.run(matrix_bench(app, args))
    else:
        profile = pyinstrument_runner(args.flat) if args.profile else None
        met = asyncio.run(keys_bench(app, args, profile))
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
