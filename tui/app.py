"""The dockwire dashboard: one App fed by one ModelSource.

`make_app` builds it, for the CLI and the tests alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import msgspec
from textual import work
from textual.app import App
from textual.binding import BindingType
from textual.signal import Signal
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState, get_current_worker

from dockwire.answer import Answer, Mode, Question
from dockwire.model import HostModel
from dockwire.snapshot import SnapshotError, save
from dockwire.sources import ModelSource
from dockwire.text import safe
from dockwire.tui import answers
from dockwire.tui.bindings import APP_KEYS, bindings
from dockwire.tui.commands import DockwireCommands
from dockwire.tui.help_screen import HelpScreen
from dockwire.tui.main_screen import MainScreen
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.tui.messages import ModelArrived, ModelShown, ProbeFinished, ProbeStarted, SourceFailed
from dockwire.tui.probe_dialog import ProbeDialog

SOURCE_RETRY_SECONDS = 3.0
SOURCE_GROUP = "source"
NO_LIVE_HOST = "no live host (demo or snapshot): static verdict, no packet was sent"


def wall_clock() -> str:
    return time.strftime("%H:%M:%S")


class DockwireApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "dockwire"
    BINDINGS: ClassVar[list[BindingType]] = bindings(APP_KEYS)
    COMMANDS = App.COMMANDS | {DockwireCommands}
    SCREENS: ClassVar = {"matrix": MatrixScreen}
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]

    def __init__(
        self,
        source: ModelSource,
        *,
        clock: Callable[[], str] = wall_clock,
        root: bool | None = None,
        snapshot_dir: Path | None = None,
    ) -> None:
        super().__init__()
        self.source = source
        self.clock = clock
        self.root = answers.is_root() if root is None else root
        self.snapshot_dir = snapshot_dir or Path.cwd()
        self.model = HostModel()
        self.generation = 0
        self.daemon = ""
        self.last_request: Question | None = None
        self.last_active = False
        self.last_outcome: Answer | None = None
        self.model_shown: Signal[ModelShown] = Signal(self, "model-shown")
        self.probe_started: Signal[ProbeStarted] = Signal(self, "probe-started")
        self.probe_finished: Signal[ProbeFinished] = Signal(self, "probe-finished")
        self.main_screen = MainScreen()
        self._source_run: tuple[asyncio.AbstractEventLoop, asyncio.Task[None]] | None = None

    # --- lifecycle --------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = safe(self.source.label)
        self.push_screen(self.main_screen)
        self.follow_source()

    def on_unmount(self) -> None:
        """Stop the source's own event loop, which stops its watchers and lets its worker thread end."""
        if self._source_run is not None:
            loop, task = self._source_run
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)

    async def wait_for_tasks(self) -> None:
        """Wait until every worker but the model source's (probes, whys, the matrix, saves) has ended,
        whether it finished, failed or was cancelled (a newer exclusive one replaces an older one)."""
        while tasks := [w for w in self.workers if w.group != SOURCE_GROUP and not w.is_finished]:
            for worker in tasks:
                with contextlib.suppress(WorkerCancelled, WorkerFailed):
                    await worker.wait()

    @work(thread=True, exclusive=True, group=SOURCE_GROUP, exit_on_error=False, name="model source")
    async def follow_source(self) -> None:
        """Follow the model source in a worker thread with an event loop of its own, so nothing the source
        does can stall the UI. Each model arrives as a ModelArrived message (coalesced when the UI lags);
        a source that fails is reported as SourceFailed and followed again after a pause."""
        task = asyncio.current_task()
        assert task is not None
        self._source_run = (asyncio.get_running_loop(), task)
        while not get_current_worker().is_cancelled:
            try:
                async for update in self.source.updates():
                    self.post_message(ModelArrived(update))
                return
            except Exception as exc:
                self.post_message(SourceFailed(exc))
            await asyncio.sleep(SOURCE_RETRY_SECONDS)

    # --- the model ----------------------------------------------------------------------------------------

    @property
    def probes_off(self) -> str:
        return answers.probe_disabled_reason(self.source.live, self.root)

    def on_model_arrived(self, message: ModelArrived) -> None:
        update = message.update
        model = update.model
        daemon = ""
        last_known = False
        if self.source.live:
            daemon = "lost" if "docker" in model.stale else "up"
            if daemon == "lost" and not model.containers and self.model.containers:
                # Keep showing what Docker looked like until it answers again (the status line says so).
                model = msgspec.structs.replace(
                    model,
                    engine=self.model.engine,
                    networks=self.model.networks,
                    containers=self.model.containers,
                )
                last_known = True
            if daemon != self.daemon and self.daemon == "up":
                self.log_event("error", "docker daemon unreachable; reconnecting")
            elif daemon != self.daemon and self.daemon == "lost":
                self.log_event("docker", "docker daemon back")
        self.daemon = daemon
        self.model = model
        self.generation += 1
        self.model_shown.publish(ModelShown(model, update, self.generation, daemon, last_known))
        self.refresh_bindings()

    def on_source_failed(self, message: SourceFailed) -> None:
        self.daemon = "lost" if self.source.live else self.daemon
        self.log_event(
            "error", f"model source failed: {type(message.error).__name__}: {message.error}; retrying"
        )

    def log_event(self, kind: str, text: str) -> None:
        self.main_screen.log_event(kind, text)

    # --- probing ------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action in ("probe", "probe_options", "trace") and self.probes_off:
            return None
        if action == "rerun" and (self.last_request is None or (self.last_active and self.probes_off)):
            return None
        return True

    def _pair(self) -> tuple[str, str] | None:
        """(source, destination) names from the screen's marks or cursor; None (after saying why) if none."""
        pick = getattr(self.screen, "probe_pair", None)
        pair: tuple[str, str] | str = pick() if callable(pick) else "nothing to probe on this screen"
        if isinstance(pair, str):
            self.notify(pair, title="Probe", severity="warning", markup=False)
            return None
        return pair

    def action_probe(self) -> None:
        pair = self._pair()
        if pair is not None:
            self.start(Question(*pair), active=True)

    def action_trace(self) -> None:
        pair = self._pair()
        if pair is not None:
            last = self.last_request
            proto, port = (last.proto, last.port) if last and (last.src, last.dst) == pair else ("icmp", None)
            self.start(Question(*pair, proto=proto, port=port, trace=True), active=True)

    def action_why(self) -> None:
        pair = self._pair()
        if pair is not None:
            last = self.last_request
            proto, port = (last.proto, last.port) if last and (last.src, last.dst) == pair else ("icmp", None)
            self.start(Question(*pair, proto=proto, port=port), active=False)

    def action_probe_options(self) -> None:
        pair = self._pair()
        if pair is None:
            return
        dst = self.model.container(pair[1])
        ports = sorted(dst.ports, key=lambda p: (p.proto != "tcp", p.container_port)) if dst else []
        port = ports[0] if ports else None
        initial = Question(
            *pair, proto=port.proto if port else "tcp", port=port.container_port if port else 80
        )

        def chosen(request: Question | None) -> None:
            if request is not None:
                self.start(request, active=True)

        known = list(dict.fromkeys(f"{p.container_port}/{p.proto}" for p in ports))
        self.push_screen(ProbeDialog(initial, known), chosen)

    def action_rerun(self) -> None:
        if self.last_request is not None:
            self.start(self.last_request, active=self.last_active)

    def start(self, request: Question, active: bool) -> None:
        """Run a probe (active) or a why (static) in a worker; the result arrives as ProbeFinished."""
        self.last_request, self.last_active = request, active
        self.refresh_bindings()
        what = ("tracing" if request.trace else "probing") if active and self.source.live else "explaining"
        self.log_event("probe" if active else "why", f"{what} {request.describe()}")
        self.probe_started.publish(ProbeStarted(request, what))
        self._run_request(request, active, self.model)

    @work(exclusive=True, group="probe", exit_on_error=False)
    async def _run_request(self, request: Question, active: bool, model: HostModel) -> None:
        mode: Mode = "active" if active and self.source.live else "static"
        try:
            if mode == "active":
                outcome = await answers.probe(model, self.source.client, request)
            else:
                banner = NO_LIVE_HOST if active else ""
                outcome = await asyncio.to_thread(answers.why, model, request, banner)
        except Exception as exc:  # an engine bug is a result to show, never a crash of the dashboard
            outcome = Answer(request, mode, "error", f"{type(exc).__name__}: {exc}")
        self.finish(outcome)

    def finish(self, outcome: Answer) -> None:
        self.last_outcome = outcome
        if outcome.culprit is not None:
            line = f"{outcome.request.describe()}: {outcome.status} by {outcome.culprit.title}"
        else:
            line = f"{outcome.request.describe()}: {outcome.status} · {outcome.summary}"
        if outcome.rtt_ms is not None:
            line += f" · rtt {outcome.rtt_ms:.2f} ms"
        self.log_event(outcome.status if outcome.status in ("allowed", "blocked") else "error", line)
        self.probe_finished.publish(ProbeFinished(outcome))

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One error policy for every worker: a failure is a line in the log and a notice, never a crash."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.log_event("error", f"{event.worker.name or 'task'} failed: {type(error).__name__}: {error}")
            self.notify(safe(str(error)), title="Failed", severity="error", markup=False)

    # --- everything else ----------------------------------------------------------------------------------

    def action_toggle_matrix(self) -> None:
        if isinstance(self.screen, MatrixScreen):
            self.pop_screen()
        else:
            self.push_screen("matrix")

    def action_help(self) -> None:
        if not isinstance(self.screen, HelpScreen):
            self.push_screen(HelpScreen())

    def action_toggle_theme(self) -> None:
        self.theme = "textual-light" if self.current_theme.dark else "textual-dark"

    def action_save_snapshot(self) -> None:
        model = self.model
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        path = self.snapshot_dir / f"dockwire-{model.hostname or 'host'}-{stamp}.json"
        self._save(model, path)

    @work(thread=True, group="save", exit_on_error=False)
    def _save(self, model: HostModel, path: Path) -> None:
        try:
            save(model, path)
        except SnapshotError as exc:
            self.call_from_thread(
                self.notify, safe(str(exc)), title="Snapshot", severity="error", markup=False
            )
            return
        self.call_from_thread(self.log_event, "info", f"snapshot saved to {path}")
        self.call_from_thread(self.notify, safe(str(path)), title="Snapshot saved", markup=False)


def make_app(
    source: ModelSource,
    *,
    clock: Callable[[], str] = wall_clock,
    root: bool | None = None,
    snapshot_dir: Path | None = None,
) -> DockwireApp:
    """The one way to build the dashboard (the CLI and the tests both use it)."""
    return DockwireApp(source, clock=clock, root=root, snapshot_dir=snapshot_dir)


def run_app(source: ModelSource) -> None:
    """Run the dashboard until it quits. A crash (an unhandled exception: Textual prints it and sets the
    return code to 1) exits the process with that code, never 0."""
    app = make_app(source)
    app.run()
    if app.return_code:
        raise SystemExit(app.return_code)
