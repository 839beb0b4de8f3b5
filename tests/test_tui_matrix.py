"""The matrix screen, through the Pilot on the recorded lab model: the computation runs in a worker that
shows its progress, computes the rows on screen first and stops when the screen is left; one network's
matrix; and the why under the cursor is always the highlighted cell's (issue #15).

The engine is the real one; a test that must catch the worker in the middle holds it at a gate (a
`threading.Event`) inside `answers.matrix_cells` or `answers.why`, never with a sleep."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from textual.worker import WorkerState

from dockwire.answer import Answer, Question
from dockwire.model import Container, HostModel
from dockwire.tui import answers
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.widgets.matrix import MatrixCell, MatrixGrid
from dockwire.widgets.verdict_panel import VerdictPanel
from tests.tui_harness import ScriptedSource, app_on, lab_model, press, ready, settle, until

GATE_TIMEOUT = 30.0


class GatedRows:
    """`answers.matrix_cells` that records the rows asked for and holds the worker before row `hold_at`
    until `release()`; `closed` is set when the worker lets go of it (its thread returned)."""

    def __init__(self, hold_at: int | None) -> None:
        self.real = answers.matrix_cells
        self.hold_at = hold_at
        self.asked: list[str] = []
        self.held = threading.Event()
        self.gate = threading.Event()
        self.closed = threading.Event()

    def __call__(
        self, model: HostModel, members: list[Container], family: int = 4
    ) -> Iterator[dict[tuple[str, str], Any]]:
        rows = self.real(model, members, family)
        try:
            for index, src in enumerate(members):
                if index == self.hold_at:
                    self.held.set()
                    assert self.gate.wait(GATE_TIMEOUT), "the test never released the gate"
                self.asked.append(src.id)
                yield next(rows)
        finally:
            self.closed.set()

    def release(self) -> None:
        self.gate.set()


def matrix_workers(app: Any) -> list[Any]:
    return [w for w in app.workers if w.group == "matrix"]


class TestProgressAndCancel:
    async def test_progress_then_every_cell(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """The grid's title counts the cells done while the worker computes, and says when all are."""
        rows = GatedRows(hold_at=12)
        monkeypatch.setattr(answers, "matrix_cells", rows)
        app = app_on()
        async with app.run_test(size=(120, 24)) as pilot:
            await ready(pilot)
            await press(pilot, "m")
            await until(pilot, rows.held.is_set, "the worker held at row 13")
            grid = app.screen.query_one(MatrixGrid)
            await until(pilot, lambda: grid.visible_done, "the rows on screen")
            done, total = grid.progress
            assert 0 < done < total
            assert str(grid.border_subtitle).startswith(f"{done}/{total} cells")
            rows.release()
            await settle(pilot)
            assert grid.done and str(grid.border_subtitle) == f"{total} cells"
            assert len(grid.cells) == total

    async def test_leaving_the_screen_stops_the_worker(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Escape while the matrix is computed: the worker is cancelled, it asks the engine for no other
        row, the grid and its results are dropped; coming back computes the matrix again."""
        rows = GatedRows(hold_at=3)
        monkeypatch.setattr(answers, "matrix_cells", rows)
        app = app_on()
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await press(pilot, "m")
            await until(pilot, rows.held.is_set, "the worker held at row 4")
            screen = app.screen
            assert isinstance(screen, MatrixScreen)
            (worker,) = matrix_workers(app)
            await press(pilot, "escape")
            assert app.screen is app.main_screen
            assert worker.is_cancelled
            rows.release()
            await until(pilot, rows.closed.is_set, "the worker's thread to return")
            await settle(pilot)
            assert worker.state == WorkerState.CANCELLED
            # The row in progress when the screen was left was the last one computed: not the other 13.
            assert len(rows.asked) == 4 < len(answers.matrix_members(app.model))
            grid = screen.query_one(MatrixGrid)
            assert grid.order == [] and grid.cells == {} and not grid.rows_done

            rows.hold_at = None
            await press(pilot, "m")
            await settle(pilot)
            assert grid.done and len(grid.order) == len(answers.matrix_members(app.model))

    async def test_the_rows_on_screen_are_computed_first(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """With the cursor on the last row, a new model computes the rows on screen (the last ones) first."""
        source = ScriptedSource()
        model = lab_model()
        app = app_on(source=source)
        async with app.run_test(size=(120, 24)) as pilot:
            source.push(model)
            await ready(pilot)
            await press(pilot, "m")
            await settle(pilot)
            grid = app.screen.query_one(MatrixGrid)
            await press(pilot, "G")
            on_screen = grid.rows_in_view()
            assert on_screen[-1] == grid.order[-1] and on_screen[0] != grid.order[0]
            rows = GatedRows(hold_at=None)
            monkeypatch.setattr(answers, "matrix_cells", rows)
            source.push(model)
            await ready(pilot, generation=2)
            await settle(pilot)
            assert rows.asked[: len(on_screen)] == on_screen
            assert sorted(rows.asked) == sorted(grid.order)


class TestOneNetwork:
    async def test_a_network_s_matrix_has_only_its_containers(self) -> None:
        app = app_on()
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            app.open_matrix("dwlab-noicc")
            await until(pilot, lambda: isinstance(app.screen, MatrixScreen), "the matrix screen")
            await settle(pilot)
            screen = app.screen
            assert isinstance(screen, MatrixScreen) and screen.network == "dwlab-noicc"
            grid = screen.query_one(MatrixGrid)
            names = [name_of(app.model, ident) for ident in grid.order]
            assert names == ["dwlab-noicc-a", "dwlab-noicc-b"]
            assert "network dwlab-noicc" in str(grid.border_title)
            assert grid.done and grid.cells[(grid.order[0], grid.order[1])].icmp == "blocked"
            await press(pilot, "escape")
            assert app.screen is app.main_screen


class TestWhyOfTheHighlightedCell:
    async def test_an_older_answer_never_replaces_the_newer_one(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Issue #15: the cursor moves from cell A to cell B while A's why is still being computed; B's
        answer is shown, and A's, arriving after it, is not (it is not the highlighted cell's)."""
        app = app_on()
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await press(pilot, "m")
            await settle(pilot)
            grid = app.screen.query_one(MatrixGrid)
            panel = app.screen.query_one(VerdictPanel)
            model = app.model
            a = (cid(model, "dwlab-iso-a"), cid(model, "dwlab-iso-b"))
            b = (cid(model, "dwlab-default-a"), cid(model, "dwlab-default-b"))
            slow = threading.Event()
            held = threading.Event()
            real_why = answers.why
            a_thread: list[int] = []

            def why(model: HostModel, request: Question, banner: str = "") -> Answer:
                if (request.src, request.dst) == ("dwlab-iso-a", "dwlab-iso-b"):
                    a_thread.append(threading.get_ident())
                    held.set()
                    assert slow.wait(GATE_TIMEOUT), "the test never released A's why"
                return real_why(model, request, banner)

            monkeypatch.setattr(answers, "why", why)
            grid.move_cursor(row=grid.order.index(a[0]), column=grid.order.index(a[1]) + 1)
            await until(pilot, held.is_set, "A's why under way")
            grid.move_cursor(row=grid.order.index(b[0]), column=grid.order.index(b[1]) + 1)
            await until(pilot, lambda: shown_pair(panel) == ("dwlab-default-a", "dwlab-default-b"), "B's why")
            slow.set()
            # A's worker was cancelled (it counts as finished) but its thread goes on: wait until it has
            # left the worker function, having handed its answer over to the screen or not.
            await until(pilot, lambda: not running_in(a_thread[0], "_why"), "A's thread to finish")
            await settle(pilot)
            assert grid.highlighted_pair == b
            assert shown_pair(panel) == ("dwlab-default-a", "dwlab-default-b")


def running_in(thread_id: int, function: str) -> bool:
    """Whether the thread is inside `function` (of the matrix screen) now."""
    frame = sys._current_frames().get(thread_id)
    while frame is not None:
        if frame.f_code.co_name == function and frame.f_code.co_filename.endswith("matrix_screen.py"):
            return True
        frame = frame.f_back
    return False


def cid(model: HostModel, name: str) -> str:
    container = model.container(name)
    assert container is not None
    return container.id


def name_of(model: HostModel, ident: str) -> str:
    container = model.container(ident)
    assert container is not None
    return container.name


def shown_pair(panel: VerdictPanel) -> tuple[str, str] | None:
    outcome = panel.outcome
    return (outcome.request.src, outcome.request.dst) if outcome is not None else None


def test_cells_share_their_text() -> None:
    """Two cells with the same marks are drawn from one `Text` (40,000 cells, a dozen kinds)."""
    from dockwire.widgets.matrix import cell_text

    one, two = MatrixCell(icmp="allowed"), MatrixCell(icmp="allowed")
    assert cell_text(one) is cell_text(two)
    assert cell_text(one) is not cell_text(MatrixCell(icmp="blocked"))


IPV6_SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft-ipv6.json"


async def test_f_switches_the_cells_to_ipv6_between_the_dual_stack_containers() -> None:
    """IPv6 cells are those of the containers with an IPv6 address, asked over IPv6 (the recorded lab's
    ip6tables DOCKER-USER drop is tcp/80 only, so ICMPv6 passes), and the why under the cursor is IPv6's."""
    from dockwire.snapshot import load

    model = load(IPV6_SNAPSHOT)
    app = app_on(model)
    async with app.run_test(size=(160, 40)) as pilot:
        await ready(pilot)
        await press(pilot, "m")
        screen = app.screen
        assert isinstance(screen, MatrixScreen)
        grid = screen.query_one(MatrixGrid)
        await until(pilot, lambda: grid.done, "the IPv4 grid")
        assert "IPv4" in str(grid.border_title) and grid.progress[1] > 2
        await press(pilot, "f")
        await until(pilot, lambda: grid.done and screen.family == 6, "the IPv6 grid")
        assert "IPv6" in str(grid.border_title)
        names = {c.name for c in model.containers if c.id in {src for src, _ in grid.cells}}
        assert names == {"dwlab-v6-a", "dwlab-v6-b", "dwlab-v6r-web"}
        a, b = (model.container(n) for n in ("dwlab-v6-a", "dwlab-v6-b"))
        assert a is not None and b is not None
        assert grid.cells[(a.id, b.id)].icmp == "allowed"
        request = answers.cell_request(model, a.id, b.id, grid.cells[(a.id, b.id)], 6)
        assert request is not None and request.family == 6
        await press(pilot, "f")
        await until(pilot, lambda: grid.done and screen.family == 4, "back to IPv4")
        assert grid.progress[1] > 2


async def test_a_large_grid_s_cells_are_explained_by_a_process_of_their_own(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A grid computed in worker processes (here: any, MIN_PAIRS 0) has its highlighted cell explained by a
    process of its own: the answer is the one given here, and the dashboard's process compiles no engine
    context for it; leaving the screen ends that process."""
    from dockwire.verdict import matrix_pool
    from dockwire.verdict.context import cached_context, forget_context

    monkeypatch.setattr(matrix_pool, "MIN_PAIRS", 0)
    started: list[matrix_pool.VerdictWorker] = []
    real_init = matrix_pool.VerdictWorker.__init__

    def recorded(self: matrix_pool.VerdictWorker, model: HostModel) -> None:
        real_init(self, model)
        started.append(self)

    monkeypatch.setattr(matrix_pool.VerdictWorker, "__init__", recorded)
    app = app_on()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        model = app.model
        forget_context(model)
        await press(pilot, "m")
        await settle(pilot)
        grid = app.screen.query_one(MatrixGrid)
        panel = app.screen.query_one(VerdictPanel)
        pair = (cid(model, "dwlab-iso-a"), cid(model, "dwlab-iso-b"))
        grid.move_cursor(row=grid.order.index(pair[0]), column=grid.order.index(pair[1]) + 1)
        await until(pilot, lambda: shown_pair(panel) == ("dwlab-iso-a", "dwlab-iso-b"), "the cell's why")
        shown = panel.outcome
        assert started and cached_context(model) is None  # compiled in the explainer, not here
        assert shown == answers.why(model, Question("dwlab-iso-a", "dwlab-iso-b"))
        assert shown is not None and shown.status == "blocked" and shown.culprit is not None
        forget_context(model)
        await press(pilot, "escape")
        await settle(pilot)
        assert all(w._worker.process.poll() is not None for w in started)
