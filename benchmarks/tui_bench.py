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
is over the target (exit status 1). RSS is measured after a `gc.collect()`; `--traced` traces the Python
heap too (tracemalloc), and the RSS after glibc's `malloc_trim` shows what freed memory the allocator kept.
`run()` returns the figures (keys and matrix) for `benchmarks.report`. `--profile KIND` runs that key kind
under pyinstrument (a dev tool, `pip install pyinstrument`) and prints where the time went.
"""

from __future__ import annotations

import argparse
import asyncio
import ctypes
import gc
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from textual.pilot import Pilot

from benchmarks.result import Log, Result
from benchmarks.synthetic_host import rule_count, synthetic_host
from dockwire.model import HostModel
from dockwire.tui.app import DockwireApp
from tests.tui_harness import app_on, key_event, ready, settle, until

KEY_TARGET_MS = 16.0
MATRIX_TARGET_S = 10.0
RSS_TARGET_MB = 200.0
#: "About the pre-matrix level" after leaving the matrix: at most this much above it.
BACK_MARGIN = 0.1
COMMAND = "python -m benchmarks.tui_bench"


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


def screen_due(app: DockwireApp) -> bool:
    """Whether the screen has a layout, scroll or repaint still to do (a frame not yet drawn)."""
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
        elif screen_due(app):
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


def report(name: str, times: list[float], target: float, size: str, log: Log = print) -> Result:
    median, high = statistics.median(times), p95(times)
    met = high <= target
    log(
        f"  {name:<22} median {median:7.1f} ms  p95 {high:7.1f} ms  max {max(times):7.1f} ms"
        f"  {'OK' if met else 'MISS'}"
    )
    return Result(
        what=f"TUI app work per key, {name}, {size} (p95)",
        command=COMMAND,
        value=high,
        unit="ms",
        target=target,
        note=f"median {median:.1f} ms of {len(times)} presses",
    )


async def keys_bench(
    app: DockwireApp, args: argparse.Namespace, profile: Callable[..., Any] | None, log: Log = print
) -> list[Result]:
    results = []
    kinds = [k for k in KINDS if not args.only or args.only in k.name]
    async with app.run_test(size=(args.width, args.height)) as pilot:
        start = time.perf_counter()
        await ready(pilot)
        await settle(pilot)
        log(f"first model on screen: {time.perf_counter() - start:.2f} s; RSS {rss_mb():.0f} MB")
        log(f"app work per key (CPU ms of the event loop, {args.presses} presses each, target p95 <= "
              f"{KEY_TARGET_MS:g} ms):")  # fmt: skip
        for kind in kinds:
            if profile is not None and args.profile in kind.name:
                times = await profile(run_kind(pilot, kind, args.presses))
            else:
                times = await run_kind(pilot, kind, args.presses)
            results.append(report(kind.name, times, KEY_TARGET_MS, _size(args), log))
    missed = [k.name for k, r in zip(kinds, results, strict=True) if r.met is False]
    summary = f"MISS (p95 over {KEY_TARGET_MS:g} ms): {', '.join(missed)}" if missed else "all met the target"
    log(summary)
    return results


def _size(args: argparse.Namespace) -> str:
    return f"{args.containers} containers / {args.rule_total:,} rules"


def traced_mb() -> float:
    """The Python heap tracemalloc traces now (0 when it is off), in MB."""
    return tracemalloc.get_traced_memory()[0] / 2**20


def malloc_trim() -> bool:
    """Ask glibc to give its free pages back to the system (a measurement aid: what RSS the heap would
    have if freed memory were returned); False where there is no glibc."""
    try:
        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0))
    except (OSError, AttributeError):
        return False


async def matrix_bench(app: DockwireApp, args: argparse.Namespace, log: Log = print) -> list[Result]:
    """Open the matrix, time the cells on screen and the whole grid, leave it; RSS at each step (and the
    traced heap, with --traced)."""
    from dockwire.tui.matrix_screen import MatrixScreen
    from dockwire.widgets.matrix import MatrixGrid

    results = []
    async with app.run_test(size=(args.width, args.height)) as pilot:
        await ready(pilot)
        await settle(pilot)
        gc.collect()
        before, traced_before = rss_mb(), traced_mb()
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
        done_rss, traced_done = rss_mb(), traced_mb()
        cells = grid.progress[1]
        n = len(grid.order)
        log(
            f"matrix {n}x{n} ({cells} cells): the cells on screen at {visible:.2f} s, all at {total:.2f} s  "
            f"{'OK' if total <= MATRIX_TARGET_S else 'MISS'} (target <= {MATRIX_TARGET_S:g} s)"
        )
        results.append(
            Result(
                what=f"TUI matrix {n}x{n}, {_size(args)}: every cell",
                command=COMMAND + " --matrix",
                value=total,
                unit="s",
                target=MATRIX_TARGET_S,
                note=f"the cells on screen at {visible:.2f} s",
            )
        )
        times = [await timed_key(pilot, key) for key in ("right", "down") * (args.presses // 2)]
        await settle(pilot)
        results.append(report("matrix cursor", times, KEY_TARGET_MS, _size(args), log))
        app.post_message(key_event(app, "escape"))
        await until(pilot, lambda: not isinstance(app.screen, MatrixScreen), "the main screen")
        await settle(pilot)
        gc.collect()
        after, traced_after = rss_mb(), traced_mb()
        trimmed = rss_mb() if malloc_trim() else after
    log(
        f"RSS: {before:.0f} MB before the matrix, {done_rss:.0f} MB with it done "
        f"({'OK' if done_rss <= RSS_TARGET_MB else 'MISS'}, target <= {RSS_TARGET_MB:g} MB), "
        f"{after:.0f} MB after leaving it and a gc ({trimmed:.0f} MB after malloc_trim)"
    )
    if tracemalloc.is_tracing():
        log(
            f"traced Python heap: {traced_before:.1f} MB before, {traced_done:.1f} MB done, "
            f"{traced_after:.1f} MB after leaving it"
        )
    back = before * (1 + BACK_MARGIN)
    results += [
        Result(
            what=f"TUI RSS with the matrix done, {_size(args)}",
            command=COMMAND + " --matrix",
            value=done_rss,
            unit="MB",
            target=RSS_TARGET_MB,
            note=f"{before:.0f} MB before the matrix",
        ),
        Result(
            # The pre-matrix figure goes in the note: the row's description stays the same from run to run.
            what=f"TUI RSS after leaving the matrix (target: the pre-matrix RSS + {BACK_MARGIN:.0%})",
            command=COMMAND + " --matrix",
            value=after,
            unit="MB",
            target=round(back, 1),
            note=f"{before:.0f} MB before it; {trimmed:.0f} MB after malloc_trim",
        ),
    ]
    return results


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


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog=COMMAND, description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--containers", type=int, default=200, help="containers (default 200)")
    parser.add_argument("--rules", type=int, default=10_000, help="extra DOCKER-USER rules (default 10,000)")
    parser.add_argument("--presses", type=int, default=40, help="presses of each key kind (default 40)")
    parser.add_argument("--width", type=int, default=160, help="terminal columns (default 160)")
    parser.add_argument("--height", type=int, default=48, help="terminal rows (default 48)")
    parser.add_argument("--only", default="", help="only the key kinds whose name holds this")
    parser.add_argument("--profile", default="", help="profile the key kinds whose name holds this")
    parser.add_argument("--flat", action="store_true", help="with --profile: the self time of each function")
    parser.add_argument("--matrix", action="store_true", help="the matrix screen instead of the keys")
    parser.add_argument(
        "--traced", action="store_true", help="with --matrix: trace the Python heap too (slow: several times)"
    )
    return parser


def _model(args: argparse.Namespace, log: Log) -> HostModel:
    start = time.perf_counter()
    model = host(args.containers, args.rules)
    args.rule_total = rule_count(model)
    log(
        f"host: {args.containers} containers, {args.rule_total} rules; built in "
        f"{time.perf_counter() - start:.2f} s; RSS {rss_mb():.0f} MB; terminal {args.width}x{args.height}"
    )
    return model


def run(argv: list[str] | None = None, log: Log = print) -> list[Result]:
    """The keys, then the matrix screen (each in an app of its own); the figures for `benchmarks.report`."""
    args = _parser().parse_args(argv)
    model = _model(args, log)
    results = asyncio.run(keys_bench(app_on(model), args, None, log))
    return results + asyncio.run(matrix_bench(app_on(model), args, log))


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.traced:
        tracemalloc.start()
    model = _model(args, print)
    app = app_on(model)
    if args.matrix:
        results = asyncio.run(matrix_bench(app, args))
    else:
        profile = pyinstrument_runner(args.flat) if args.profile else None
        results = asyncio.run(keys_bench(app, args, profile))
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
