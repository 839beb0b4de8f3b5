"""The dockwire dashboard: one App fed by one ModelSource.

`make_app` builds it, for the CLI and the tests alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import ClassVar

import msgspec
from textual import events, work
from textual.app import App
from textual.binding import BindingType
from textual.command import CommandPalette
from textual.screen import Screen
from textual.signal import Signal
from textual.worker import Worker, WorkerCancelled, WorkerFailed, WorkerState, get_current_worker

from dockwire.answer import Answer, Mode, Question
from dockwire.fleet import Fleet
from dockwire.model import HostModel
from dockwire.snapshot import SnapshotError, save
from dockwire.sources import FleetSource, FleetUpdate, ModelSource
from dockwire.text import safe
from dockwire.tui import answers
from dockwire.tui.bindings import APP_KEYS, bindings
from dockwire.tui.collector import IdleCollector
from dockwire.tui.command_parse import (
    Ask,
    Command,
    OpenMatrix,
    PickHost,
    Quit,
    SetFilter,
    ShowHelp,
)
from dockwire.tui.commands import DockwireCommands
from dockwire.tui.container_screen import ContainerScreen
from dockwire.tui.help_screen import HelpScreen
from dockwire.tui.main_screen import MainScreen
from dockwire.tui.malloc_policy import return_large_blocks
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.tui.messages import ModelArrived, ModelShown, ProbeFinished, ProbeStarted, SourceFailed
from dockwire.tui.probe_dialog import ProbeDialog
from dockwire.tui.questions import ICMP, ProtoChoice, QuestionError, ask_with, choice_of
from dockwire.tui.verdict_screen import open_verdict
from dockwire.widgets.verdict_panel import VerdictPanel

SOURCE_RETRY_SECONDS = 3.0
SOURCE_GROUP = "source"
NO_LIVE_HOST = "no live host (demo or snapshot): static verdict, no packet was sent"
#: Why the command line's :probe and :trace send nothing on a snapshot (p and t fall back to a why there).
NO_PACKETS = "no live host (demo or snapshot): nothing can send packets; :why explains from the model"
#: Where `S` saves screenshots (the current directory when unset).
SCREENSHOTS_ENV = "DOCKWIRE_SCREENSHOTS"
#: How long an SVG-to-PNG converter may take.
CONVERT_TIMEOUT = 60.0


def png_converter(svg: Path, png: Path) -> list[str] | None:
    """The command that turns `svg` into `png` (rsvg-convert, else ImageMagick's convert), or None."""
    if rsvg := shutil.which("rsvg-convert"):
        return [rsvg, "-o", str(png), str(svg)]
    if convert := shutil.which("convert"):
        return [convert, str(svg), str(png)]
    return None


def unwritable(directory: Path) -> str:
    """Why files cannot be written in `directory`, or "" when they can."""
    if not directory.exists():
        return f"{directory} does not exist"
    if not directory.is_dir():
        return f"{directory} is not a directory"
    if not os.access(directory, os.W_OK | os.X_OK):
        return f"{directory} is not writable"
    return ""


def wall_clock() -> str:
    return time.strftime("%H:%M:%S")


class DockwireApp(App[None]):
    CSS_PATH = "app.tcss"
    TITLE = "dockwire"
    BINDINGS: ClassVar[list[BindingType]] = bindings(APP_KEYS)
    COMMANDS = App.COMMANDS | {DockwireCommands}
    SCREENS: ClassVar = {"matrix": MatrixScreen}
    #: What stays on screen while a pane is maximized (z): the footer (Textual's default names its own).
    ALLOW_IN_MAXIMIZED_VIEW: ClassVar[str] = "KeyFooter"
    #: Under 140 columns the result replaces the detail while it is open; up to 160 too (a fix line needs
    #: the width), with a smaller events log; from 161 the detail and the result stand side by side.
    HORIZONTAL_BREAKPOINTS = [(0, "-narrow"), (140, "-medium"), (161, "-wide")]
    VERTICAL_BREAKPOINTS = [(0, "-short"), (40, "-tall")]

    def __init__(
        self,
        source: ModelSource | FleetSource,
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
        #: Several hosts (a FleetSource): each host's current model, and the one selected (whose firewall,
        #: sysctls and containers the panes show; `model` is its model). Empty and "" for one host.
        self.hosts: dict[str, HostModel] = {}
        self.host = ""
        self.generation = 0
        self.daemon = ""
        self.last_request: Question | None = None
        self.last_active = False
        self.last_outcome: Answer | None = None
        #: The protocol w, p and t ask with (the status line shows it; P and the command line set it).
        self.proto_choice: ProtoChoice = ICMP
        self.model_shown: Signal[ModelShown] = Signal(self, "model-shown")
        self.probe_started: Signal[ProbeStarted] = Signal(self, "probe-started")
        self.probe_finished: Signal[ProbeFinished] = Signal(self, "probe-finished")
        self.main_screen = MainScreen()
        self._source_run: tuple[asyncio.AbstractEventLoop, asyncio.Task[None]] | None = None
        self._collector = IdleCollector()

    # --- lifecycle --------------------------------------------------------------------------------------

    def on_mount(self) -> None:
        self.sub_title = safe(self.source.label)
        self.push_screen(self.main_screen)
        self.follow_source()
        self._collector.start(self)
        return_large_blocks()

    async def on_event(self, event: events.Event) -> None:
        if isinstance(event, (events.Key, events.MouseDown, events.MouseScrollDown, events.MouseScrollUp)):
            self._collector.touched()
        await super().on_event(event)

    def on_unmount(self) -> None:
        """Stop the source's own event loop, which stops its watchers and lets its worker thread end; put
        the garbage collector's settings back."""
        self._collector.stop()
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
                    if isinstance(update, FleetUpdate):
                        self.post_message(ModelArrived(update.update, update.host))
                    else:
                        self.post_message(ModelArrived(update))
                return
            except Exception as exc:
                self.post_message(SourceFailed(exc))
            await asyncio.sleep(SOURCE_RETRY_SECONDS)

    # --- the model ----------------------------------------------------------------------------------------

    @property
    def probes_off(self) -> str:
        refused: str = getattr(self.source, "actions_refused", "")  # a host that is not this machine's
        return refused or answers.probe_disabled_reason(self.source.live, self.root)

    @property
    def several(self) -> bool:
        """Whether the dashboard shows several hosts."""
        return isinstance(self.source, FleetSource)

    def fleet(self) -> Fleet:
        """The hosts known now, in the order given (one host: its model, named as `host_names` says)."""
        if self.several:
            return Fleet(dict(self.hosts))
        return Fleet({self.host_names()[0]: self.model})

    def scope(self) -> HostModel | Fleet:
        """What questions are asked of: the model, or with several hosts the fleet (ends `NAME@HOST`)."""
        return Fleet(dict(self.hosts)) if self.several else self.model

    def select_host(self, name: str) -> bool:
        """Show host `name`'s firewall, sysctls and containers; False when it is no known host."""
        if name not in self.hosts:
            return False
        if name != self.host:
            self.host, self.model = name, self.hosts[name]
            self.main_screen.show_host()
            self.refresh_bindings()
        return True

    def on_model_arrived(self, message: ModelArrived) -> None:
        if message.host:
            self._host_arrived(message)
            return
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

    def _host_arrived(self, message: ModelArrived) -> None:
        """One host of several: kept with the others; the panes of the selected host follow it."""
        self.hosts[message.host] = message.update.model
        if not self.host:
            self.host = message.host
        self.model = self.hosts[self.host]
        self.generation += 1
        self.model_shown.publish(
            ModelShown(self.model, message.update, self.generation, "", False, host=message.host)
        )
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
        if action == "back_or_quit" and parameters:
            # q is two bindings: Quit on the main screen, Back elsewhere (the footer shows the one that acts).
            return self._on_main_screen() == (parameters[0] == "quit")
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

    def _ask_pair(self, *, trace: bool = False) -> Question | None:
        """The marked pair's question with the chosen protocol; None (after saying why) when there is none."""
        pair = self._pair()
        if pair is None:
            return None
        try:
            return ask_with(self.scope(), *pair, self.proto_choice, trace=trace)
        except QuestionError as exc:
            self.notify(safe(str(exc)), title="Probe", severity="warning", markup=False)
            return None

    def action_probe(self) -> None:
        if (request := self._ask_pair()) is not None:
            self.start(request, active=True)

    def action_trace(self) -> None:
        if (request := self._ask_pair(trace=True)) is not None:
            self.start(request, active=True)

    def action_why(self) -> None:
        if (request := self._ask_pair()) is not None:
            self.start(request, active=False)

    def choose_protocol(self, choice: ProtoChoice) -> None:
        """What w, p and t ask with from now on (the status line says it)."""
        self.proto_choice = choice
        self.main_screen.show_status()

    def action_probe_options(self) -> None:
        pair = self._pair()
        if pair is None:
            return
        dst = self.model.container(pair[1])
        ports = sorted(dst.ports, key=lambda p: (p.proto != "tcp", p.container_port)) if dst else []
        port = ports[0] if ports else None
        choice = self.proto_choice
        if choice.port is not None:
            initial = Question(*pair, proto=choice.proto, port=choice.port)
        else:
            initial = Question(
                *pair, proto=port.proto if port else "tcp", port=port.container_port if port else 80
            )

        def chosen(request: Question | None) -> None:
            if request is None:
                return
            if request.proto == "dns":
                self.start(request, active=True)
                return
            self.choose_protocol(ProtoChoice(request.proto, request.port))
            if (asked := self._ask_pair(trace=request.trace)) is not None:
                self.start(asked, active=True)

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
        self._run_request(request, active, self.scope())

    # A fixed description: Textual's default is the arguments' repr, and a model's takes ~17 ms.
    @work(exclusive=True, group="probe", exit_on_error=False, description="probe or why")
    async def _run_request(self, request: Question, active: bool, model: HostModel | Fleet) -> None:
        mode: Mode = "active" if active and self.source.live else "static"
        try:
            if mode == "active" and isinstance(model, HostModel):
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
            host = f"host {outcome.culprit.host}: " if outcome.culprit.host else ""
            line = f"{outcome.request.describe()}: {outcome.status} by {host}{outcome.culprit.title}"
        else:
            line = f"{outcome.request.describe()}: {outcome.status} · {outcome.summary}"
        if outcome.rtt_ms is not None:
            line += f" · rtt {outcome.rtt_ms:.2f} ms"
        self.log_event(outcome.status if outcome.status in ("allowed", "blocked") else "error", line)
        self.probe_finished.publish(ProbeFinished(outcome))

    def on_verdict_panel_open_full(self, message: VerdictPanel.OpenFull) -> None:
        """Enter or z on a result panel: the answer full-width."""
        open_verdict(self, message.answer)

    def on_worker_state_changed(self, event: Worker.StateChanged) -> None:
        """One error policy for every worker: a failure is a line in the log and a notice, never a crash."""
        if event.state == WorkerState.ERROR:
            error = event.worker.error
            self.log_event("error", f"{event.worker.name or 'task'} failed: {type(error).__name__}: {error}")
            self.notify(safe(str(error)), title="Failed", severity="error", markup=False)

    # --- the command line --------------------------------------------------------------------------------

    def host_names(self) -> list[str]:
        """The hosts the dashboard can show: the fleet's, or the one model's."""
        if self.several:
            return list(self.hosts)
        return [self.model.hostname or "localhost"]

    @property
    def packets_refused(self) -> str:
        """Why the command line's :probe and :trace cannot send packets now, or "" when they can."""
        return self.probes_off or ("" if self.source.live else NO_PACKETS)

    def run_command(self, command: Command) -> str:
        """Do what a command-line command says; "" when done, else why not (the line stays open). A command
        that fails is that one line too, never a crash of the dashboard."""
        try:
            return self._run_command(command)
        except Exception as exc:
            self.log_event("error", f"{type(command).__name__} failed: {type(exc).__name__}: {exc}")
            return f"failed: {type(exc).__name__}: {exc}"

    def _run_command(self, command: Command) -> str:
        if isinstance(command, Ask):
            if command.active and self.packets_refused:
                return f"{command.verb}: disabled: {self.packets_refused}"
            request = command.question
            self.main_screen.mark_ends(request.src, request.dst)
            if (choice := choice_of(request, self.scope())) is not None:
                self.choose_protocol(choice)
            self.start(request, active=command.active)
        elif isinstance(command, OpenMatrix):
            self.open_matrix(command.network, command.family)
        elif isinstance(command, SetFilter):
            self.main_screen.filter_from_command(command.text)
        elif isinstance(command, PickHost) and self.several:
            self.select_host(command.name)
            self.main_screen.focus_host(command.name)
        elif isinstance(command, PickHost):
            self.notify(f"showing {command.name} (the only host)", title="Host", markup=False)
        elif isinstance(command, ShowHelp):
            self.action_help()
        elif isinstance(command, Quit):
            self.exit()
        return ""

    def open_matrix(self, network: str | None = None, family: int = 4) -> None:
        """The matrix screen; of one network's containers when `network` is given; over IPv6 for 6."""
        if network is None and family == 4:
            self.push_screen("matrix")
            return
        factory: Callable[..., Screen[None]] = MatrixScreen
        self.push_screen(factory(network=network, family=family))

    # --- everything else ----------------------------------------------------------------------------------

    def _on_main_screen(self) -> bool:
        """Whether the main screen is on top (the command palette, a screen of its own, does not count)."""
        stack = [s for s in self.screen_stack if not isinstance(s, CommandPalette)]
        return not stack or stack[-1] is self.main_screen or len(stack) <= 1

    def action_back_or_quit(self, which: str = "") -> None:
        """q: close the screen or dialog on top; on the main screen, quit. (`which` names the binding.)"""
        if self._on_main_screen():
            self.exit()
        else:
            self.screen.dismiss(None)

    def open_container(self, container_id: str) -> None:
        """Enter on a container: its own screen (networks, veths, ports, DNS, the rules naming it)."""
        if self.model.container(container_id) is not None:
            self.push_screen(ContainerScreen(container_id))

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

    def _file_name(self, suffix: str) -> str:
        stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
        return f"dockwire-{self.model.hostname or 'host'}-{stamp}{suffix}"

    def _cannot_write(self, title: str, name: str, directory: Path) -> bool:
        """Say in one line (and log) why `name` cannot be written in `directory`; False when it can."""
        reason = unwritable(directory)
        if reason:
            line = f"{name} not saved: {reason}"
            self.log_event("error", line)
            self.notify(safe(line), title=title, severity="error", markup=False)
        return bool(reason)

    def action_save_snapshot(self) -> None:
        model = self.model
        name = self._file_name(".json")
        if not self._cannot_write("Snapshot", name, self.snapshot_dir):
            self._save(model, self.snapshot_dir / name)

    def screenshot_dir(self) -> Path:
        configured = os.environ.get(SCREENSHOTS_ENV, "")
        return Path(configured).expanduser() if configured else Path.cwd()

    def action_take_screenshot(self) -> None:
        """S: the screen as SVG (Textual's own export), and a PNG beside it when a converter is installed."""
        directory = self.screenshot_dir()
        name = self._file_name(".svg")
        if self._cannot_write("Screenshot", name, directory):
            return
        try:
            svg = Path(self.save_screenshot(filename=name, path=str(directory)))
        except OSError as exc:
            line = f"{name} not saved: {directory}: {exc.strerror or exc}"
            self.log_event("error", line)
            self.notify(safe(line), title="Screenshot", severity="error", markup=False)
            return
        self.log_event("info", f"screenshot saved to {svg}")
        command = png_converter(svg, svg.with_suffix(".png"))
        if command is None:
            self.notify(safe(f"{svg} (no rsvg-convert or convert: no PNG)"), title="Screenshot", markup=False)
        else:
            self.notify(safe(str(svg)), title="Screenshot saved", markup=False)
            self._convert(command, svg.with_suffix(".png"))

    @work(thread=True, group="save", exit_on_error=False, name="PNG conversion")
    def _convert(self, command: list[str], png: Path) -> None:
        try:
            done = subprocess.run(
                command, capture_output=True, text=True, timeout=CONVERT_TIMEOUT, check=False
            )
        except (OSError, subprocess.TimeoutExpired) as exc:
            error = f"{png.name} not made: {Path(command[0]).name}: {exc}"
        else:
            last = (done.stderr.strip().splitlines() or [""])[-1]
            error = ""
            if done.returncode != 0 or not png.exists():
                error = f"{png.name} not made: {Path(command[0]).name} exited {done.returncode}"
                error += f": {last}" if last else ""
        if error:
            self.call_from_thread(self.log_event, "error", error)
            self.call_from_thread(
                self.notify, safe(error), title="Screenshot", severity="error", markup=False
            )
        else:
            self.call_from_thread(self.log_event, "info", f"screenshot saved to {png}")
            self.call_from_thread(self.notify, safe(str(png)), title="PNG saved", markup=False)

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
    source: ModelSource | FleetSource,
    *,
    clock: Callable[[], str] = wall_clock,
    root: bool | None = None,
    snapshot_dir: Path | None = None,
) -> DockwireApp:
    """The one way to build the dashboard (the CLI and the tests both use it)."""
    return DockwireApp(source, clock=clock, root=root, snapshot_dir=snapshot_dir)


def run_app(source: ModelSource | FleetSource) -> None:
    """Run the dashboard until it quits. A crash (an unhandled exception: Textual prints it and sets the
    return code to 1) exits the process with that code, never 0."""
    app = make_app(source)
    app.run()
    if app.return_code:
        raise SystemExit(app.return_code)
