"""The main screen: topology, containers, firewall, detail, result and events, with the probe marks and the
`:` command line.

A mark is a container id, or `END_MARK` + an endpoint text for an end that is not a container (`host`,
`outside:ADDR`, a published `HOSTIP:PORT`, `name:OTHER`): set from the command line, or with space/b on a
port in the topology."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from rich.console import RenderableType
from textual.app import ComposeResult
from textual.binding import Binding, BindingType
from textual.containers import Horizontal, Vertical
from textual.reactive import Reactive
from textual.screen import Screen
from textual.widget import Widget
from textual.widgets import Input

from dockwire.text import safe
from dockwire.tui.bindings import MAIN_KEYS, bindings
from dockwire.tui.command_line import CommandBar
from dockwire.tui.debounce import Debounce
from dockwire.tui.key_footer import KeyFooter
from dockwire.tui.messages import ModelShown, ProbeFinished, ProbeStarted
from dockwire.tui.questions import ProtoChoice, QuestionError, ask_with, resolve, shown_protocol
from dockwire.tui.shown_compositor import ShownCompositor
from dockwire.widgets.containers import ContainersTable, Marks
from dockwire.widgets.detail import DetailPane, describe_ref, rule_detail
from dockwire.widgets.events import EventLog, kind_of
from dockwire.widgets.firewall import FirewallRow, FirewallView
from dockwire.widgets.formatting import clip, port_text
from dockwire.widgets.quick_focus import restyle
from dockwire.widgets.status_line import Status, StatusLine
from dockwire.widgets.sysctl_bar import SysctlBar
from dockwire.widgets.topology import NodeRef, TopologyTree
from dockwire.widgets.verdict_panel import VerdictPanel

if TYPE_CHECKING:
    from dockwire.model import PortBinding
    from dockwire.tui.app import DockwireApp

PANES = ("topology", "containers", "firewall", "detail", "result", "events")
#: How long a cursor in the topology or the containers waits before the detail follows it, while it moves
#: faster than that (a held key): each move then costs only the cursor, the detail shows the row it stops on.
DETAIL_DELAY = 0.06
#: The parts of a model update (`ModelUpdate.parts`) each pane is drawn from: an update of other parts leaves
#: it as it is (a firewall read does not rebuild the tree of 200 containers). "stale": only the reasons why
#: parts were not read changed (the firewall pane shows its own).
CONTAINER_PARTS = frozenset({"all", "docker", "namespaces"})
TOPOLOGY_PARTS = CONTAINER_PARTS | {"netlink"}
FIREWALL_PARTS = frozenset({"all", "firewall", "counters", "stale"})
#: How a mark names an end that is not a container: this prefix and the endpoint's text.
END_MARK = "end:"


def published_end(container_name: str, port: PortBinding) -> str:
    """The destination text of a container's port: `HOSTIP:PORT` or `host:PORT` when published, else
    `NAME:PORT`."""
    if port.host_port is None:
        return f"{container_name}:{port.container_port}"
    if port.host_ip and port.host_ip not in ("0.0.0.0", "::"):
        return f"{port.host_ip}:{port.host_port}"
    return f"host:{port.host_port}"


def pane_of(widget: Widget | None) -> Widget | None:
    """The pane (a widget of class `pane`: a bordered box of the main screen) that holds `widget`."""
    for node in widget.ancestors_with_self if widget is not None else ():
        if isinstance(node, Widget) and node.has_class("pane"):
            return node
    return None


class FilterInput(Input):
    """A one-line filter shown above a table by `/`; escape clears and hides it."""

    BINDINGS: ClassVar[list[BindingType]] = [Binding("escape", "close", "Close filter", show=False)]

    def __init__(self, target: str, *, id: str | None = None) -> None:
        super().__init__(placeholder=f"filter {target}…  (enter: keep, escape: clear)", id=id, compact=True)
        self.target = target

    def action_close(self) -> None:
        self.value = ""
        self.display = False
        screen = self.screen
        if isinstance(screen, MainScreen):
            screen.apply_filter(self.target, "")
        screen.query_one(f"#{self.target}").focus()


class MainScreen(Screen[None]):
    BINDINGS: ClassVar[list[BindingType]] = bindings(MAIN_KEYS)
    #: Screen's, without the repaint of the whole screen on each focus change (a pane switch): the panes
    #: whose look changes (the blurred and the focused one) repaint themselves.
    focused: Reactive[Widget | None] = Reactive(None, repaint=False)

    def __init__(self) -> None:
        super().__init__(id="main")
        #: A pane switch draws the two panes it changes, not every pane between them.
        self._compositor = ShownCompositor()
        self.marks = Marks()
        self.model_view: ModelShown | None = None
        #: What the detail pane shows: a tree node or container, a firewall row, or (None) the host.
        self._detail_subject: NodeRef | FirewallRow | None = None
        self._cursor_container: str | None = None
        #: The last highlight of the topology or the containers, waiting for `_detail_due`: (subject, the
        #: container it names or None, whether it names one).
        self._highlight: tuple[NodeRef | None, str | None, bool] | None = None
        self._detail_due = Debounce(self, DETAIL_DELAY, self._show_highlight)
        self._pending_events: list[tuple[str, str]] = []
        #: Whether the last firewall refresh moved any counter (what the firewall pane's `show` returned).
        self._counters_moved = False
        #: The pane the command line was opened from (`:filter` filters it; closing focuses it again).
        self._before_command: Widget | None = None
        #: With several hosts: the host whose firewall the firewall pane shows, and the hosts seen so far.
        self._firewall_host = ""
        self._hosts_seen: set[str] = set()

    @property
    def dw_app(self) -> DockwireApp:
        return self.app

    def compose(self) -> ComposeResult:
        yield StatusLine(id="status")
        yield SysctlBar(id="sysctls")
        with Horizontal(id="body"):
            with Vertical(id="left"):
                yield FilterInput("topology", id="topology-filter")
                yield TopologyTree(id="topology", classes="pane")
                with Vertical(id="containers-box", classes="pane"):
                    yield FilterInput("containers", id="containers-filter")
                    yield ContainersTable(id="containers")
            with Vertical(id="right"):
                with Vertical(id="firewall-box", classes="pane"):
                    yield FilterInput("firewall", id="firewall-filter")
                    yield FirewallView(id="firewall")
                with Horizontal(id="lower"):
                    yield DetailPane(id="detail", classes="pane")
                    yield VerdictPanel(id="result", classes="pane")
        yield EventLog(self.dw_app.clock, id="events", classes="pane")
        app = self.dw_app
        yield CommandBar(
            app.scope,
            app.host_names,
            app.run_command,
            probes_off=lambda: app.packets_refused,
            id="command-bar",
        )
        yield KeyFooter()

    def watch_focused(self, old: Widget | None, new: Widget | None) -> None:
        """Mark the pane that holds the focus (`-focused`: its border and title) and restyle that pane node
        alone, not what it holds, with the styles kept from the last time it had that look (`restyle`). A pane
        that is the focus itself needs no restyle here: its own focus change restyles it (`QuickFocus`), with
        the class already set."""
        before, after = pane_of(old), pane_of(new)
        if before is after:
            return
        for pane, focus in ((before, old), (after, new)):
            if pane is not None:
                pane.set_class(pane is after, "-focused", update=False)
                if pane is not focus:
                    restyle(pane, lambda pane=pane: self.app.stylesheet.update_nodes([pane], animate=True))

    def on_mount(self) -> None:
        titles = {
            "topology": "1 topology",
            "containers-box": "2 containers",
            "firewall-box": "3 firewall",
            "detail": "4 detail",
            "result": "5 result",
            "events": "6 events",
        }
        for ident, title in titles.items():
            self.query_one(f"#{ident}").border_title = title
        for ident in ("topology-filter", "containers-filter", "firewall-filter"):
            self.query_one(f"#{ident}").display = False
        app = self.dw_app
        app.model_shown.subscribe(self, self.show_model)
        app.probe_started.subscribe(self, self.show_probe_started)
        app.probe_finished.subscribe(self, self.show_probe_finished)
        self.query_one(VerdictPanel).show_idle(self._idle_reason())
        for kind, text in self._pending_events:
            self.query_one(EventLog).add(kind, text)
        self._pending_events.clear()
        self.show_status()
        self.query_one(ContainersTable).focus()

    # --- model ----------------------------------------------------------------------------------------------

    def show_model(self, view: ModelShown) -> None:
        if view.host:
            self._show_host_update(view)
            return
        self.model_view = view
        model = view.model
        first = view.generation == 1
        parts = view.update.parts
        with self.app.batch_update():
            self.query_one(SysctlBar).show(model)
            if first or parts & TOPOLOGY_PARTS:
                self.query_one(TopologyTree).show(model, self.marks)
            if first or parts & CONTAINER_PARTS:
                self.query_one(ContainersTable).show(model, self.marks)
            firewall = self.query_one(FirewallView)
            if first or parts & FIREWALL_PARTS:
                firewall.empty_reason = model.stale.get("firewall", "")
                self._counters_moved = bool(firewall.show(model.firewall))
            self.set_class(view.last_known, "-last-known")
            self._refresh_detail()
            self.show_status()
        log = self.query_one(EventLog)
        if first:
            counts = f"{len(model.containers)} containers, {len(model.networks)} networks"
            log.add("info", f"{self.dw_app.source.label}: {counts}, {firewall.rule_count} firewall rules")
            for part, reason in model.stale.items():
                log.add("error", f"{part} not read: {reason}")
        for line in view.update.events:
            log.add(kind_of(line), line)

    # --- several hosts ----------------------------------------------------------------------------------

    def _show_host_update(self, view: ModelShown) -> None:
        """One host of several changed: the tree shows every host; the other panes follow the selected one."""
        self.model_view = view
        app = self.dw_app
        with self.app.batch_update():
            self.query_one(TopologyTree).show_fleet(list(app.hosts.items()), self.marks)
            if view.host == app.host:
                self._show_selected(view.update.parts)
            self._refresh_detail()
            self.show_status()
        log = self.query_one(EventLog)
        if view.host not in self._hosts_seen:
            self._hosts_seen.add(view.host)
            model = app.hosts[view.host]
            counts = f"{len(model.containers)} containers, {len(model.networks)} networks"
            rules = sum(len(c.rules) for t in model.firewall.tables for c in t.chains)
            log.add("info", f"host {view.host}: {counts}, {rules} firewall rules")
            for part, reason in model.stale.items():
                log.add("error", f"host {view.host}: {part} not read: {reason}")
        for line in view.update.events:
            log.add(kind_of(line), f"host {view.host}: {line}")

    def _show_selected(self, parts: frozenset[str] = frozenset({"all"})) -> None:
        """The selected host's sysctls, containers and firewall (its name in the pane's title)."""
        app = self.dw_app
        model = app.model
        self.query_one(SysctlBar).show(model, app.host)
        self.query_one(ContainersTable).show(model, self.marks)
        firewall = self.query_one(FirewallView)
        firewall.empty_reason = model.stale.get("firewall", "")
        if self._firewall_host != app.host:
            self._firewall_host = app.host
            firewall.show_other(model.firewall)
            self._counters_moved = False
            self.query_one("#firewall-box").border_title = f"3 firewall · host {safe(app.host)}"
        elif parts & FIREWALL_PARTS:
            self._counters_moved = bool(firewall.show(model.firewall))

    def show_host(self) -> None:
        """The selected host changed (the topology's cursor went to another host, or `:host NAME`)."""
        with self.app.batch_update():
            self._show_selected()
            self._refresh_detail()
            self.show_status()

    def focus_host(self, name: str) -> None:
        """Put the topology's cursor on host `name`'s node."""
        from dockwire.widgets.topology_fleet import host_key

        self.query_one(TopologyTree).move_to_key(host_key(name))

    def show_status(self) -> None:
        app = self.dw_app
        model = app.model

        def name(mark: str | None) -> str:
            return clip(self.mark_name(mark) or "")

        cursor = self._cursor_target()
        cursor_dst = "" if self.marks.destination or cursor == self.marks.source else name(cursor)
        label = f"host {app.host} · {app.source.label}" if app.several else app.source.label
        self.query_one(StatusLine).show(
            Status(
                label=label,
                live=app.source.live,
                daemon=app.daemon,
                probes_off=app.probes_off,
                source_name=name(self.marks.source),
                destination_name=name(self.marks.destination) or cursor_dst,
                destination_is_cursor=not self.marks.destination and bool(cursor_dst),
                protocol=self.protocol_shown(app.proto_choice),
                containers=len(model.containers),
                rules=self.query_one(FirewallView).rule_count,
            )
        )

    def _idle_reason(self) -> str:
        app = self.dw_app
        if app.probes_off:
            return f"Probes are disabled: {app.probes_off}. w (why) still explains from the model."
        if not app.source.live:
            return "No live host: p, P and t show the static verdict, labelled as such."
        return ""

    # --- selection and detail -------------------------------------------------------------------------------

    def on_topology_tree_ref_highlighted(self, event: TopologyTree.RefHighlighted) -> None:
        ref = event.ref
        if ref is not None and ref.host:
            self.dw_app.select_host(ref.host)
        names = ref is not None and ref.kind in ("container", "address", "port")
        self._highlight = (ref, self._container_of(ref) if ref is not None and names else None, names)
        self._detail_due.request()
        self.show_status()

    def on_containers_table_container_highlighted(self, event: ContainersTable.ContainerHighlighted) -> None:
        if self.dw_app.several and not self.query_one(ContainersTable).has_focus:
            return  # the table was refilled for another host: the detail stays on what the tree shows
        if event.container_id is not None:
            ref = NodeRef("container", event.container_id, f"ctr:{event.container_id}")
            self._highlight = (ref, event.container_id, True)
            self._detail_due.request()
            self.show_status()

    def _show_highlight(self) -> None:
        """The detail (and the last container highlighted) follow the last highlight."""
        if self._highlight is None:
            return
        subject, container, names = self._highlight
        self._highlight = None
        self._detail_subject = subject
        if names:
            self._cursor_container = container
        self._refresh_detail()

    def on_containers_table_container_opened(self, event: ContainersTable.ContainerOpened) -> None:
        self.dw_app.open_container(event.container_id)

    def on_firewall_view_rule_highlighted(self, event: FirewallView.RuleHighlighted) -> None:
        if self.query_one(FirewallView).has_focus:
            self._detail_due.flush()
            self._detail_subject = event.row
            self._refresh_detail()

    def _refresh_detail(self) -> None:
        if self._detail_due.pending:
            self._detail_due.flush()  # shows the waiting highlight, which comes back here
            return
        app = self.dw_app
        subject = self._detail_subject
        model = app.hosts.get(subject.host, app.model) if isinstance(subject, NodeRef) else app.model
        body: RenderableType
        if isinstance(subject, FirewallRow):
            body, key = rule_detail(subject), ("rule", "/".join(subject.key))
        else:
            body, key = describe_ref(model, subject), ("ref", subject.key if subject else "host")
        self.query_one(DetailPane).show(key, body, edition=self.dw_app.generation)

    @staticmethod
    def _container_of(ref: NodeRef) -> str | None:
        if ref.kind == "container":
            return ref.ident
        if "/ctr:" in ref.key:
            return ref.key.rsplit("/ctr:", 1)[1].split("/", 1)[0]
        return None

    def _cursor_target(self) -> str | None:
        """The container under the cursor of the focused pane (or the last one highlighted anywhere)."""
        focused = self.focused
        if isinstance(focused, ContainersTable):
            return focused.highlighted_id
        if isinstance(focused, TopologyTree):
            ref = focused.highlighted_ref
            return self._container_of(ref) if ref else None
        self._detail_due.flush()
        return self._cursor_container

    # --- marks --------------------------------------------------------------------------------------------

    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        if action == "mark":
            # Only where the cursor is on containers; elsewhere space goes to the focused widget.
            return isinstance(self.focused, (ContainersTable, TopologyTree))
        if action == "no_moved":
            # n in the firewall pane when nothing moved: say so (else the pane's own n jumps to a moved rule).
            return self.query_one(FirewallView).has_focus and not self._counters_moved
        if action == "back":
            filtered = any(
                box.value and self.focused is self.query_one(f"#{box.target}")
                for box in self.query(FilterInput)
            )
            return filtered or self.query_one("#lower").has_class("-result")
        return True

    def action_no_moved(self) -> None:
        self.notify("No counter moved since the last refresh", title="Next hit", severity="warning")

    def _port_under_cursor(self) -> tuple[str, PortBinding] | None:
        """(container name, port) when the topology's cursor is on a port of a container."""
        focused = self.focused
        ref = focused.highlighted_ref if isinstance(focused, TopologyTree) else None
        if ref is None or ref.kind != "port":
            return None
        app = self.dw_app
        container = app.hosts.get(ref.host, app.model).container(self._container_of(ref) or "")
        if container is None:
            return None
        port = next((p for p in container.ports if port_text(p) == ref.ident), None)
        return (container.name, port) if port is not None else None

    def _mark_port(self, which: str | None, name: str, port: PortBinding) -> None:
        """A port in the topology is a destination: its published `HOSTIP:PORT` (or the container at that
        port), and its protocol becomes the choice of w, p and t."""
        if which == "source":
            self.notify("A port can only be a destination (b or space)", title="Mark", severity="warning")
            return
        end = published_end(name, port)
        app = self.dw_app
        if app.several and end.startswith("host:"):
            end = f"host@{app.host}:{end.removeprefix('host:')}"
        container = app.model.container(name)
        dst = container.id if port.host_port is None and container is not None else END_MARK + end
        src = None if self.marks.source == dst else self.marks.source
        self.set_marks(Marks(src, dst))
        if port.proto in ("tcp", "udp"):
            self.dw_app.choose_protocol(ProtoChoice(port.proto, port.container_port))

    def action_mark(self, which: str | None = None) -> None:
        port = self._port_under_cursor()
        if port is not None:
            self._mark_port(which, *port)
            return
        target = self._cursor_target()
        if target is None:
            self.notify("Put the cursor on a container first", title="Mark", severity="warning")
            return
        src, dst = self.marks.source, self.marks.destination
        if which == "source":
            src, dst = target, (None if dst == target else dst)
        elif which == "destination":
            src, dst = (None if src == target else src), target
        elif target == src:
            src = None
        elif target == dst:
            dst = None
        elif src is None:
            src = target
        elif dst is None:
            dst = target
        else:
            src, dst = target, None
        self.set_marks(Marks(src, dst))

    def action_clear_marks(self) -> None:
        self.set_marks(Marks())
        self.query_one(FirewallView).mark_culprit(None)

    def set_marks(self, marks: Marks) -> None:
        self.marks = marks
        app = self.dw_app
        model = app.model
        if app.several:
            self.query_one(TopologyTree).show_fleet(list(app.hosts.items()), marks)
        else:
            self.query_one(TopologyTree).show(model, marks)
        self.query_one(ContainersTable).show(model, marks)
        self.show_status()

    def mark_name(self, mark: str | None) -> str | None:
        """What a mark names in a question: a container's name, or the endpoint text; None if it is gone."""
        if mark is None:
            return None
        if mark.startswith(END_MARK):
            return mark.removeprefix(END_MARK)
        app = self.dw_app
        if app.several:
            for host, model in app.hosts.items():
                if (found := model.container(mark)) is not None:
                    return f"{found.name}@{host}"
            return None
        container = app.model.container(mark)
        return container.name if container else None

    def mark_ends(self, src: str, dst: str) -> None:
        """Mark the ends a command asked about: a container by its id (its rows show A and B), anything else
        (an address, a port, a name) by its text."""
        model = self.dw_app.scope()

        def mark(text: str, role: str) -> str:
            try:
                end = resolve(model, text, role)
            except QuestionError:
                return END_MARK + text
            if end.kind == "container" and end.container and not end.address and end.port is None:
                return end.container.id
            return END_MARK + text

        self.set_marks(Marks(mark(src, "src"), mark(dst, "dst")))

    def probe_pair(self) -> tuple[str, str] | str:
        """(source, destination) names for a probe: the marks, with the cursor standing in for B."""
        src_id = self.marks.source
        dst_id = self.marks.destination or self._cursor_target()
        if src_id is None:
            return "Mark a source first: space (or a) on a container, then space (or b) on the destination"
        if dst_id is None or dst_id == src_id:
            return "Mark a destination: space (or b) on another container"
        src, dst = self.mark_name(src_id), self.mark_name(dst_id)
        if src is None or dst is None:
            return "A marked container is gone; mark again"
        return src, dst

    def protocol_shown(self, choice: ProtoChoice) -> str:
        """What w, p and t ask with for the pair now marked (the choice when no pair is)."""
        pair = self.probe_pair()
        if isinstance(pair, str):
            return choice.text
        model = self.dw_app.scope()
        try:
            return shown_protocol(ask_with(model, *pair, choice), model)
        except QuestionError:
            return choice.text

    # --- probe results --------------------------------------------------------------------------------------

    def _show_result(self, shown: bool = True) -> None:
        """Open (or close) the result panel; the screen's class lets the layout make room for it."""
        self.query_one("#lower").set_class(shown, "-result")
        self.set_class(shown, "-result-open")

    def show_probe_started(self, started: ProbeStarted) -> None:
        self._show_result()
        self.query_one(VerdictPanel).show_pending(started.request, started.what)
        self.refresh_bindings()

    def show_probe_finished(self, finished: ProbeFinished) -> None:
        outcome = finished.outcome
        self._show_result()
        self.query_one(VerdictPanel).show_outcome(outcome)
        firewall = self.query_one(FirewallView)
        if outcome.culprit is not None:
            if outcome.culprit.host:
                self.dw_app.select_host(outcome.culprit.host)  # the firewall pane shows its host first
            if not firewall.mark_culprit(outcome.culprit):
                self.log_event("info", "the culprit rule is not in the firewall pane (was it just removed?)")
        else:
            firewall.mark_culprit(None)
        self.refresh_bindings()

    def action_back(self) -> None:
        """Escape: clear the focused pane's filter if it has one, else close the result panel."""
        for box in self.query(FilterInput):
            if box.value and self.focused is self.query_one(f"#{box.target}"):
                box.action_close()
                return
        self._show_result(False)
        self.refresh_bindings()

    # --- panes --------------------------------------------------------------------------------------------

    def action_focus_pane(self, pane: str) -> None:
        if pane == "result":
            self._show_result()
        widget = self.query_one(f"#{pane}")
        widget.focus()

    def action_zoom(self) -> None:
        focused = self.focused
        if focused is not None:
            self.maximize(focused, container=False)

    def _filter_of(self, pane: Widget | None) -> FilterInput:
        """The filter box of `pane` (the containers' when `pane` is no filterable pane)."""
        target = (
            "firewall"
            if isinstance(pane, FirewallView)
            else "topology"
            if isinstance(pane, TopologyTree)
            else "containers"
        )
        return self.query_one(f"#{target}-filter", FilterInput)

    def action_filter(self) -> None:
        box = self._filter_of(self.focused)
        box.display = True
        box.focus()
        box.action_select_all()

    # --- the command line -----------------------------------------------------------------------------

    def action_command_line(self, text: str = "") -> None:
        """`:` opens the command line (with `text` typed, from the palette)."""
        bar = self.query_one(CommandBar)
        if not bar.is_open:
            self._before_command = self.focused
        bar.open(text)

    def on_command_bar_closed(self, event: CommandBar.Closed) -> None:
        before = self._before_command
        self._before_command = None
        if before is not None and before.is_attached and before.display:
            before.focus()
        else:
            self.query_one(ContainersTable).focus()

    def filter_from_command(self, text: str) -> None:
        """`:filter TEXT`: the filter of the pane the command line was opened from, shown as `/` shows it."""
        box = self._filter_of(self._before_command)
        target = str(box.id).removesuffix("-filter")
        with box.prevent(Input.Changed):
            box.value = text
        box.display = bool(text)
        self.apply_filter(target, text)
        self._before_command = self.query_one(f"#{target}")

    def on_input_changed(self, event: Input.Changed) -> None:
        if isinstance(event.input, FilterInput):
            self.apply_filter(event.input.target, event.value)

    def apply_filter(self, target: str, text: str) -> None:
        if target == "firewall":
            self.query_one(FirewallView).filter_text = text
        elif target == "topology":
            if self.query_one(TopologyTree).filter_text != text:
                self.query_one(TopologyTree).set_filter(text)
        elif self.query_one(ContainersTable).filter_text != text:
            self.query_one(ContainersTable).set_filter(text)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        if isinstance(event.input, FilterInput):
            if not event.value:
                event.input.display = False
            self.query_one(f"#{event.input.target}").focus()

    def log_event(self, kind: str, text: str) -> None:
        if not self.is_mounted:
            self._pending_events.append((kind, text))
            return
        self.query_one(EventLog).add(kind, text)
