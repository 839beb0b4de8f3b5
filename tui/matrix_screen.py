"""The matrix screen: every container pair's reachability (or one network's), computed in a worker.

The worker computes the rows on screen first, then the rest, and hands the grid its results in batches (the
rows on screen at once, then a few times a second); the grid's title counts the cells done. Leaving the
screen cancels the computation (the thread stops before its next row) and, for a big grid or an unfinished
one, drops the grid and the engine context the matrix compiled (unless it was there before), so their memory
goes with them; coming back computes it again.

Moving the cursor explains the cell under it in the panel below (in a worker; an answer that arrives after
the cursor moved on is dropped, never shown for another cell). Enter on a cell asks the app for that cell's
why (logged, and kept as the last answer like any other) and opens it in the verdict view."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import Worker, get_current_worker

from dockwire.answer import Answer, Question
from dockwire.model import Container, HostModel
from dockwire.text import safe
from dockwire.tui import answers
from dockwire.tui.bindings import MATRIX_KEYS, bindings
from dockwire.tui.key_footer import KeyFooter
from dockwire.tui.messages import ModelShown, ProbeFinished, ProbeStarted
from dockwire.tui.verdict_screen import open_verdict
from dockwire.verdict.context import cached_context, forget_context
from dockwire.widgets.matrix import MARKS, MatrixCell, MatrixGrid
from dockwire.widgets.status_line import Status, StatusLine
from dockwire.widgets.verdict_panel import VerdictPanel

if TYPE_CHECKING:
    from dockwire.tui.app import DockwireApp

#: How often the worker hands finished rows to the grid once the rows on screen are done (seconds).
BATCH_SECONDS = 0.3
#: A finished grid of at most this many cells is kept when the screen is left (reopening is instant);
#: a bigger or unfinished one is dropped (200 containers: 40,000 cells).
KEEP_CELLS = 2_500

Cells = dict[tuple[str, str], MatrixCell]


def legend() -> Text:
    text = Text(" each cell: ", style="dim")
    text.append("ICMP", style="bold")
    text.append(" then ", style="dim")
    text.append("published ports", style="bold")
    text.append("   ")
    for status in ("allowed", "blocked", "uncertain"):
        mark, style = MARKS[status]
        text.append(mark, style=style)
        text.append(f" {status}  ", style="dim")
    text.append("- no published ports", style="dim")
    text.append("   enter", style="bold")
    text.append(" the why in full", style="dim")
    return text


def network_members(model: HostModel, network: str | None, family: int = 4) -> list[Container]:
    """The matrix's containers: every running one, or those on `network` (by name or id), with the
    containers sharing their namespace (`--network container:X`: their packets leave by the same way);
    for IPv6, only those with an IPv6 address."""
    members = answers.matrix_members(model, family)
    if network is None:
        return members
    on = {
        c.id
        for c in members
        if any(network in (ep.network, ep.network_id) and ep.network for ep in c.endpoints)
    }
    return [c for c in members if c.id in on or (c.netns_owner and c.netns_owner in on)]


class MatrixScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings(MATRIX_KEYS)

    def __init__(self, network: str | None = None, family: int = 4) -> None:
        super().__init__(id="matrix-screen")
        #: Only the containers on this network (None: every running container).
        self.network = network
        #: 4 or 6: the cells' address family (the `f` key switches it).
        self.family = family
        self._computed_generation = -1
        self._started = 0.0
        #: The question Enter asked: its answer opens in the verdict view when it arrives.
        self._open_when_answered: Question | None = None
        #: The question the panel explains (the highlighted cell's); answers to any other are dropped.
        self._explaining: Question | None = None
        #: The model whose engine context this screen's computation compiled (None: it used one it found).
        self._own_context: HostModel | None = None
        #: Gives the highlighted cell's full why (for a large grid, from a process of its own).
        self._explainer: answers.CellExplainer | None = None

    @property
    def dw_app(self) -> DockwireApp:
        return self.app

    @property
    def title_text(self) -> str:
        family = " · IPv6" if self.family == 6 else " · IPv4"
        if self.network is None:
            return f"reachability matrix{family}"
        return f"reachability matrix{family} · network {safe(self.network)}"

    def action_toggle_family(self) -> None:
        """IPv4 cells to IPv6 ones and back: the grid is laid out and computed again."""
        self._stop_computing()
        self.family = 6 if self.family == 4 else 4
        self.query_one("#matrix").border_title = self.title_text
        self.query_one(VerdictPanel).show_idle("")
        self.recompute(self.dw_app.model, self.dw_app.generation)

    def compose(self) -> ComposeResult:
        yield StatusLine(id="matrix-status")
        yield Static(legend(), id="matrix-legend")
        with Vertical(id="matrix-body"):
            yield MatrixGrid(id="matrix")
            yield VerdictPanel(id="matrix-result")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#matrix").border_title = self.title_text
        self.query_one("#matrix-result").border_title = "why"
        app = self.dw_app
        app.model_shown.subscribe(self, self.on_model)
        app.probe_started.subscribe(self, self.on_probe_started)
        app.probe_finished.subscribe(self, self.on_probe_finished)
        self.query_one(MatrixGrid).focus()

    def on_screen_resume(self) -> None:
        self._update_status()
        if self._computed_generation != self.dw_app.generation:
            self.recompute(self.dw_app.model, self.dw_app.generation)

    def on_screen_suspend(self) -> None:
        """Leaving the screen: stop computing; drop an unfinished or a big grid (and its memory)."""
        computing = self.computing
        self._stop_computing()
        self._end_explainer()
        grid = self.query_one(MatrixGrid)
        if computing or not grid.done or grid.progress[1] > KEEP_CELLS:
            grid.forget()
            self.query_one(VerdictPanel).show_idle("")
            self._computed_generation = -1
            self._release_context()

    def _stop_computing(self) -> None:
        """Cancel the cells' computation and the cell why; no answer is awaited any more."""
        self.workers.cancel_group(self, "matrix")
        self.workers.cancel_group(self, "matrix-why")
        self._explaining = None

    def on_unmount(self) -> None:
        self._end_explainer()

    def _end_explainer(self) -> None:
        explainer, self._explainer = self._explainer, None
        if explainer is not None:
            explainer.close()

    def _release_context(self) -> None:
        """Drop the engine context this screen compiled (rules and the lookups a matrix remembered)."""
        if self._own_context is not None:
            forget_context(self._own_context)
            self._own_context = None

    @property
    def computing(self) -> bool:
        return any(w.node is self and w.group == "matrix" and not w.is_finished for w in self.workers)

    def on_model(self, view: ModelShown) -> None:
        # Hidden screens do no work; the resume handler catches up.
        if self.is_current and view.update.parts - {"counters"}:
            self.recompute(view.model, view.generation)
        self._update_status()

    def _update_status(self) -> None:
        app = self.dw_app
        self.query_one(StatusLine).show(
            Status(
                label=app.source.label,
                live=app.source.live,
                daemon=app.daemon,
                probes_off=app.probes_off,
                containers=len(app.model.containers),
                rules=sum(len(c.rules) for t in app.model.firewall.tables for c in t.chains),
                show_marks=False,
            )
        )

    def recompute(self, model: HostModel, generation: int) -> None:
        """Lay the grid out for the model's containers and compute every cell again, once it is drawn
        (so that the rows on screen are known and computed first)."""
        grid = self.query_one(MatrixGrid)
        members = network_members(model, self.network, self.family)
        grid.set_containers(members)
        grid.rows_done = set()
        self._computed_generation = generation
        self._started = time.monotonic()
        self._show_progress()
        self.call_after_refresh(self._start, model, generation)

    def _start(self, model: HostModel, generation: int) -> None:
        if generation != self._computed_generation or not self.is_current:
            return
        grid = self.query_one(MatrixGrid)
        by_id = {c.id: c for c in network_members(model, self.network, self.family)}
        ordered = [by_id[i] for i in grid.rows_in_view_first() if i in by_id]
        if self._own_context is not model:
            self._release_context()  # a previous model's: no one shows it any more
            self._own_context = model if cached_context(model) is None else None
        self._compute(model, ordered, set(grid.rows_in_view()), self._own_context is model)

    # A description of its own: Textual's default is the repr of the arguments (a 10,000-rule model's repr
    # takes some 17 ms, on the event loop, at every start).
    @work(
        thread=True, exclusive=True, group="matrix", exit_on_error=False, name="matrix", description="matrix"
    )
    def _compute(self, model: HostModel, members: list[Container], on_screen: set[str], owned: bool) -> None:
        """Compute the rows in the members' order (the rows on screen first: `matrix_cells` yields one row,
        a source to every member, at a time), checking before each row whether the screen was left. The
        rows on screen go to the grid as soon as they are all done, then the finished ones a few times a
        second. Cancelled, it drops the context it `owned` again (it may have compiled it after the screen
        let go of it)."""
        worker = get_current_worker()
        try:
            self._compute_rows(worker, model, members, on_screen)
        finally:
            if owned and worker.is_cancelled:
                forget_context(model)

    def _compute_rows(
        self, worker: Worker[None], model: HostModel, members: list[Container], on_screen: set[str]
    ) -> None:
        rows = iter(answers.matrix_cells(model, members, self.family))
        waiting_for = set(on_screen)
        pending: Cells = {}
        finished: set[str] = set()
        last = time.monotonic()
        for src in members:
            if worker.is_cancelled:
                return
            row = next(rows, None)
            if row is None or worker.is_cancelled:
                return
            pending.update(row)
            finished.add(src.id)
            waiting_for.discard(src.id)
            now = time.monotonic()
            if (on_screen and not waiting_for) or now - last >= BATCH_SECONDS:
                on_screen = set()
                self._hand_over(worker, pending, finished)
                pending, finished, last = {}, set(), now
        if not worker.is_cancelled:
            self._hand_over(worker, pending, finished)
            self.app.call_from_thread(self._computed, worker)

    def _hand_over(self, worker: Worker[None], cells: Cells, rows: set[str]) -> None:
        if not worker.is_cancelled and (cells or rows):
            self.app.call_from_thread(self._show_cells, worker, cells, rows)

    def _show_cells(self, worker: Worker[None], cells: Cells, rows: set[str]) -> None:
        if worker.is_cancelled or not self.is_current:
            return
        self.query_one(MatrixGrid).update_cells(cells, rows)
        self._show_progress()

    def _show_progress(self) -> None:
        grid = self.query_one(MatrixGrid)
        done, total = grid.progress
        seconds = time.monotonic() - self._started
        if grid.done:
            grid.border_subtitle = f"{total} cells"
        else:
            grid.border_subtitle = f"{done}/{total} cells · {seconds:.1f} s"

    def _computed(self, worker: Worker[None]) -> None:
        if worker.is_cancelled or not self.is_current:
            return
        self._show_progress()
        self._show_highlighted_why()

    def _show_highlighted_why(self) -> None:
        pair = self.query_one(MatrixGrid).highlighted_pair
        if pair is not None:
            self._explain(*pair)

    def on_matrix_grid_pair_highlighted(self, event: MatrixGrid.PairHighlighted) -> None:
        self._explain(event.src, event.dst)

    def _request_for(self, src: str, dst: str) -> Question | None:
        grid = self.query_one(MatrixGrid)
        return answers.cell_request(self.dw_app.model, src, dst, grid.cells.get((src, dst)), self.family)

    def _explain(self, src: str, dst: str) -> None:
        request = self._request_for(src, dst)
        self._explaining = request
        if request is not None:
            if self._explainer is None:
                self._explainer = answers.CellExplainer(len(self.query_one(MatrixGrid).order))
            self._why(self._explainer, self.dw_app.model, request)

    @work(thread=True, exclusive=True, group="matrix-why", exit_on_error=False, description="matrix cell why")
    def _why(self, explainer: answers.CellExplainer, model: HostModel, request: Question) -> None:
        outcome = explainer.why(model, request)
        if not get_current_worker().is_cancelled:
            self.app.call_from_thread(self._show_why, outcome)

    def _show_why(self, outcome: Answer) -> None:
        """An answer for the panel, shown only if it is the highlighted cell's: the cursor may have moved
        while it was computed (an older answer arriving after a newer one was shown for the wrong cell)."""
        if outcome.request != self._explaining or not self.is_current:
            return
        pair = self.query_one(MatrixGrid).highlighted_pair
        if pair is None or self._request_for(*pair) != outcome.request:
            return
        self.query_one(VerdictPanel).show_outcome(outcome)

    def probe_pair(self) -> tuple[str, str] | str:
        pair = self.query_one(MatrixGrid).highlighted_pair
        if pair is None:
            return "Put the cursor on a cell"
        model = self.dw_app.model
        src, dst = model.container(pair[0]), model.container(pair[1])
        if src is None or dst is None or src.id == dst.id:
            return "Pick a cell off the diagonal"
        return src.name, dst.name

    def on_matrix_grid_cell_selected(self, event: MatrixGrid.CellSelected) -> None:
        """Enter (or a click on the highlighted cell): the cell's why, shown full-width when it arrives."""
        event.stop()
        grid = self.query_one(MatrixGrid)
        problem, pair = self.probe_pair(), grid.highlighted_pair
        if isinstance(problem, str) or pair is None:
            self.notify(str(problem), title="Why", severity="warning", markup=False)
            return
        request = self._request_for(*pair)
        if request is None:
            return
        self._open_when_answered = request
        self.dw_app.start(request, active=False)

    def on_probe_started(self, started: ProbeStarted) -> None:
        if self.is_current:
            self._explaining = started.request
            self.query_one(VerdictPanel).show_pending(started.request, started.what)

    def on_probe_finished(self, finished: ProbeFinished) -> None:
        if self.is_current:
            self.query_one(VerdictPanel).show_outcome(finished.outcome)
            if self._open_when_answered == finished.outcome.request:
                self._open_when_answered = None
                open_verdict(self.app, finished.outcome)
