"""The matrix screen: every container pair's reachability, recomputed in a worker when the model changes.

Moving the cursor explains the cell under it in the panel below; Enter on a cell asks the app for that
cell's why (logged, and kept as the last answer like any other) and opens it in the verdict view."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.binding import BindingType
from textual.containers import Vertical
from textual.screen import Screen
from textual.widgets import Static
from textual.worker import get_current_worker

from dockwire.answer import Question
from dockwire.model import HostModel
from dockwire.tui import answers
from dockwire.tui.bindings import MATRIX_KEYS, KeyFooter, bindings
from dockwire.tui.messages import ModelShown, ProbeFinished, ProbeStarted
from dockwire.tui.verdict_screen import open_verdict
from dockwire.widgets.matrix import MARKS, MatrixGrid
from dockwire.widgets.status_line import Status, StatusLine
from dockwire.widgets.verdict_panel import VerdictPanel

if TYPE_CHECKING:
    from dockwire.tui.app import DockwireApp


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


class MatrixScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings(MATRIX_KEYS)

    def __init__(self) -> None:
        super().__init__(id="matrix-screen")
        self._computed_generation = -1
        #: The question Enter asked: its answer opens in the verdict view when it arrives.
        self._open_when_answered: Question | None = None

    @property
    def dw_app(self) -> DockwireApp:
        return self.app

    def compose(self) -> ComposeResult:
        yield StatusLine(id="matrix-status")
        yield Static(legend(), id="matrix-legend")
        with Vertical(id="matrix-body"):
            yield MatrixGrid(id="matrix")
            yield VerdictPanel(id="matrix-result")
        yield KeyFooter()

    def on_mount(self) -> None:
        self.query_one("#matrix").border_title = "reachability matrix"
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
        grid = self.query_one(MatrixGrid)
        members = answers.matrix_members(model)
        grid.set_containers(members)
        self._computed_generation = generation
        self._compute(model, members)

    @work(thread=True, exclusive=True, group="matrix", exit_on_error=False)
    def _compute(self, model: HostModel, members: list) -> None:
        worker = get_current_worker()
        grid = self.query_one(MatrixGrid)
        for batch in answers.matrix_cells(model, members):
            if worker.is_cancelled:
                return
            self.app.call_from_thread(grid.update_cells, batch)
        self.app.call_from_thread(self._show_highlighted_why)

    def _show_highlighted_why(self) -> None:
        pair = self.query_one(MatrixGrid).highlighted_pair
        if pair is not None:
            self._explain(*pair)

    def on_matrix_grid_pair_highlighted(self, event: MatrixGrid.PairHighlighted) -> None:
        self._explain(event.src, event.dst)

    def _explain(self, src: str, dst: str) -> None:
        grid = self.query_one(MatrixGrid)
        request = answers.cell_request(self.dw_app.model, src, dst, grid.cells.get((src, dst)))
        if request is not None:
            self._why(self.dw_app.model, request)

    @work(thread=True, exclusive=True, group="matrix-why", exit_on_error=False)
    def _why(self, model: HostModel, request: answers.Question) -> None:
        outcome = answers.why(model, request)
        self.app.call_from_thread(self.query_one(VerdictPanel).show_outcome, outcome)

    def probe_pair(self) -> tuple[str, str] | str:
        pair = self.query_one(MatrixGrid).highlighted_pair
        if pair is None:
            return "Put the cursor on a cell"
        model = self.dw_app.model
        src, dst = model.container(pair[0]), model.container(pair[1])
        if src is None or dst is None or src.id == dst.id:
            return "Pick a cell off the diagonal"
        return src.name, dst.name

    def on_data_table_cell_selected(self, event: MatrixGrid.CellSelected) -> None:
        """Enter (or a click on the highlighted cell): the cell's why, shown full-width when it arrives."""
        event.stop()
        grid = self.query_one(MatrixGrid)
        problem, pair = self.probe_pair(), grid.highlighted_pair
        if isinstance(problem, str) or pair is None:
            self.notify(str(problem), title="Why", severity="warning", markup=False)
            return
        request = answers.cell_request(self.dw_app.model, *pair, grid.cells.get(pair))
        if request is None:
            return
        self._open_when_answered = request
        self.dw_app.start(request, active=False)

    def on_probe_started(self, started: ProbeStarted) -> None:
        if self.is_current:
            self.query_one(VerdictPanel).show_pending(started.request, started.what)

    def on_probe_finished(self, finished: ProbeFinished) -> None:
        if self.is_current:
            self.query_one(VerdictPanel).show_outcome(finished.outcome)
            if self._open_when_answered == finished.outcome.request:
                self._open_when_answered = None
                open_verdict(self.app, finished.outcome)
