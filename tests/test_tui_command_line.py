"""The `:` command line and the protocol w, p and t use, on the recorded lab.

The parser first (no Textual): every command, its errors, the completion words, and that a question means
what `dockwire why` means by the same words. Then through the Pilot: `:why` gives the CLI's verdict and sets
the marks and the protocol `w` then uses, a bad endpoint is a one-line error in the open line, tab
completes, `:probe` is refused with the reason where nothing can send packets, `:filter` filters, escape
closes, the probe dialog and a port in the topology set the protocol, and at 160x45 a result gets the width
a fix line needs."""

from __future__ import annotations

import inspect
from collections.abc import Iterator
from pathlib import Path

import pytest
from textual.pilot import Pilot

from dockwire.answer import Answer, Question
from dockwire.model import HostModel
from dockwire.tui.app import DockwireApp
from dockwire.tui.command_line import CommandBar, CommandInput
from dockwire.tui.command_parse import (
    Ask,
    CommandError,
    OpenMatrix,
    PickHost,
    Quit,
    SetFilter,
    ShowHelp,
    complete,
    markdown_commands,
    parse,
    parse_protocol,
)
from dockwire.tui.matrix_screen import MatrixScreen
from dockwire.tui.probe_dialog import ProbeDialog
from dockwire.tui.questions import ICMP, ProtoChoice, QuestionError, ask, ask_with, shown_protocol
from dockwire.verdict import Verdict
from dockwire.verdict.endpoints import resolve_endpoint
from dockwire.verdict.verdict import evaluate
from dockwire.widgets.containers import ContainersTable, Marks
from dockwire.widgets.status_line import StatusLine
from dockwire.widgets.topology import TopologyTree
from tests.tui_harness import (
    LiveFlaggedSnapshot,
    answered,
    app_on,
    caught_up,
    fewer_full_collections,
    lab_model,
    mark,
    plain,
    press,
    ready,
    settle,
    type_text,
    until,
)

README = Path(__file__).resolve().parent.parent / "README.md"
HOSTS = ("vm",)


@pytest.fixture(autouse=True, scope="module")
def _collect_garbage_less_often() -> Iterator[None]:
    with fewer_full_collections():
        yield


@pytest.fixture(scope="module")
def model() -> HostModel:
    return lab_model()


def cli_verdict(
    model: HostModel, src: str, dst: str, proto: str | None = None, port: int | None = None
) -> Verdict:
    """What `dockwire why SRC DST [--proto P] [--port N]` decides (cli/verdicts.py, step by step)."""
    src_end = resolve_endpoint(model, src, "src")
    dst_end = resolve_endpoint(model, dst, "dst")
    if proto is None:
        proto = "tcp" if (port or dst_end.port) else "icmp"
    return evaluate(model, src_end, dst_end, proto, port)


def question(model: HostModel, line: str) -> Question:
    command = parse(line, model, HOSTS)
    assert isinstance(command, Ask), command
    return command.question


# --- the parser -------------------------------------------------------------------------------------------


class TestParsing:
    @pytest.mark.parametrize(
        ("words", "expected"),
        [
            ([], (None, None)),
            (["tcp/80"], ("tcp", 80)),
            (["80/tcp"], ("tcp", 80)),
            (["udp/53"], ("udp", 53)),
            (["icmp"], ("icmp", None)),
            (["TCP"], ("tcp", None)),
            (["8080"], (None, 8080)),
            (["--proto", "udp", "--port", "53"], ("udp", 53)),
            (["--proto=tcp", "--port=443"], ("tcp", 443)),
        ],
    )
    def test_the_protocol_words(self, words: list[str], expected: tuple[str | None, int | None]) -> None:
        assert parse_protocol(words) == expected

    @pytest.mark.parametrize(
        "words", [["sctp/9"], ["tcp/0"], ["tcp/70000"], ["tcp/x"], ["--port"], ["--proto", "gre"]]
    )
    def test_bad_protocol_words(self, words: list[str]) -> None:
        with pytest.raises(CommandError):
            parse_protocol(words)

    def test_why_takes_the_cli_words_and_its_protocol_default(self, model: HostModel) -> None:
        assert question(model, "why dwlab-iso-a dwlab-iso-b tcp/80") == Question(
            "dwlab-iso-a", "dwlab-iso-b", "tcp", 80
        )
        assert question(model, ":why dwlab-iso-a dwlab-iso-b") == Question(
            "dwlab-iso-a", "dwlab-iso-b", "icmp"
        )
        # A port alone means tcp; a DST that carries its port keeps it (the engine reads it from DST).
        assert question(model, "why dwlab-iso-a dwlab-iso-b 80").proto == "tcp"
        assert question(model, "why outside 172.17.0.1:18080") == Question(
            "outside", "172.17.0.1:18080", "tcp"
        )
        assert question(model, "why dwlab-default-a dwlab-web --proto udp --port 5353") == Question(
            "dwlab-default-a", "dwlab-web", "udp", 5353
        )
        command = parse("wh host dwlab-web", model)
        assert isinstance(command, Ask) and command.verb == "why" and not command.active

    def test_probe_and_trace_are_active_and_dns_asks_the_name(self, model: HostModel) -> None:
        probe = parse("probe dwlab-default-a dwlab-web tcp/80", model)
        trace = parse("trace dwlab-default-a dwlab-web", model)
        dns = parse("dns dwlab-custom-a dwlab-web", model)
        assert isinstance(probe, Ask) and probe.active and not probe.question.trace
        assert isinstance(trace, Ask) and trace.active and trace.question.trace
        assert dns == Ask("dns", Question("dwlab-custom-a", "name:dwlab-web", "dns"), active=False)
        assert parse("dns dwlab-custom-a name:dwlab-web", model) == dns
        assert question(model, "why dwlab-custom-a name:dwlab-web").proto == "dns"

    def test_the_other_commands(self, model: HostModel) -> None:
        assert parse("matrix", model) == OpenMatrix(None)
        assert parse("matrix dwlab-net-a", model) == OpenMatrix("dwlab-net-a")
        assert parse("filter web  db", model) == SetFilter("web  db")
        assert parse("filter", model) == SetFilter("")
        assert parse("host vm", model, HOSTS) == PickHost("vm")
        assert parse("help", model) == parse("?", model) == ShowHelp()
        assert parse("q", model) == parse("quit", model) == Quit()

    @pytest.mark.parametrize(
        ("line", "says"),
        [
            ("", "type a command"),
            ("frobnicate", "unknown command 'frobnicate'"),
            ("wyh a b", "did you mean why"),
            ("h", "ambiguous: host, help"),
            ("why dwlab-iso-a", "usage: why SRC DST"),
            ("why nope dwlab-web", "why: SRC 'nope' is not a container"),
            ("why dwlab-web nope", "why: DST 'nope' is not a container"),
            ("why dwlab-web dwlab-iso-a:99999", "out of range"),
            ("why name:x dwlab-web", "can only be a destination"),
            ("why dwlab-iso-a dwlab-iso-b icmp --port 80", "a port only makes sense with tcp or udp"),
            ("why dwlab-iso-a dwlab-iso-b tcp", "tcp needs a destination port"),
            ("why outside outside:198.51.100.7", "both ends are outside"),
            ("trace dwlab-custom-a name:dwlab-web", "a DNS query is not traced"),
            ("dns dwlab-custom-a", "usage: dns SRC NAME"),
            ("matrix dwlab-net", "'dwlab-net' is not a network; did you mean"),
            ("matrix a b", "usage: matrix"),
            ("host elsewhere", "'elsewhere' is not a known host (known: vm)"),
            ("host", "known: vm"),
            ("help me", "help takes no arguments"),
        ],
    )
    def test_errors_are_one_line(self, model: HostModel, line: str, says: str) -> None:
        with pytest.raises(CommandError) as caught:
            parse(line, model, HOSTS)
        message = str(caught.value)
        assert says in message and "\n" not in message, message

    def test_every_why_means_what_the_cli_means(self, model: HostModel) -> None:
        """Each question the parser makes gets the verdict `dockwire why` gives for the same words."""
        cases = [
            ("dwlab-iso-a", "dwlab-iso-b", "tcp/80", "tcp", 80),
            ("dwlab-default-a", "dwlab-default-b", "", None, None),
            ("outside", "172.17.0.1:18080", "", None, None),
            ("outside", "host:18080", "", None, None),
            ("dwlab-internal-a", "outside", "", None, None),
            ("dwlab-custom-a", "name:dwlab-web", "", None, None),
            ("dwlab-default-a", "dwlab-web:80", "", None, None),
        ]
        for src, dst, spec, proto, port in cases:
            asked = question(model, f"why {src} {dst} {spec}")
            ours = evaluate(model, asked.src, asked.dst, asked.proto, asked.port)
            theirs = cli_verdict(model, src, dst, proto, port)
            assert (ours.verdict, ours.culprit, ours.fix, ours.missing) == (
                theirs.verdict,
                theirs.culprit,
                theirs.fix,
                theirs.missing,
            ), (src, dst)


class TestCompletion:
    def test_command_names_first(self, model: HostModel) -> None:
        assert complete("", model).words[:3] == ("why", "probe", "trace")
        assert complete(":p", model).words == ("probe",)

    def test_container_names_then_endpoint_words(self, model: HostModel) -> None:
        done = complete("why dwlab-de", model)
        assert done.words == ("dwlab-default-a", "dwlab-default-b")
        assert done.line_with("why dwlab-de", done.words[0]) == "why dwlab-default-a"
        src = complete("why ", model).words
        assert src[0] == "dwlab-custom-a" and {"host", "outside", "outside:"} <= set(src)
        dst = complete("why dwlab-default-a ", model).words
        assert "dwlab-default-a" not in dst  # not the source again
        assert {"host:18080", "172.17.0.1:18080", "127.0.0.1:15353", "name:dwlab-web"} <= set(dst)
        assert all(not w.startswith("::") for w in dst)

    def test_the_protocol_slot_offers_the_destinations_ports_first(self, model: HostModel) -> None:
        words = complete("why dwlab-default-a dwlab-web ", model).words
        assert words[:2] == ("udp/5353", "tcp/80") and words[-3:] == ("tcp/80", "udp/53", "icmp")[-3:]
        assert complete("why dwlab-default-a dwlab-iso-a ", model).words == ("tcp/80", "udp/53", "icmp")

    def test_networks_names_and_hosts(self, model: HostModel) -> None:
        assert "dwlab-net-a" in complete("matrix dwlab-n", model).words
        assert complete("dns dwlab-custom-a dwlab-w", model).words == ("dwlab-web",)
        assert complete("host ", model, HOSTS).words == HOSTS
        assert complete("filter ", model).words == ()
        assert complete("nonsense ", model).words == ()


class TestTheProtocolChoice:
    def test_a_dst_with_its_port_keeps_it(self, model: HostModel) -> None:
        assert ask_with(model, "outside", "host:18080", ICMP) == Question("outside", "host:18080", "tcp")
        assert ask_with(model, "dwlab-default-a", "dwlab-web", ProtoChoice("tcp", 80)).port == 80
        udp = ask_with(model, "dwlab-default-a", "127.0.0.1:15353", ProtoChoice("udp", 5353))
        assert (udp.proto, udp.port) == ("udp", None)

    def test_what_the_status_line_shows(self, model: HostModel) -> None:
        assert shown_protocol(Question("outside", "host:18080", "tcp"), model) == "tcp/18080"
        assert shown_protocol(Question("a", "b", "tcp", 80), model) == "tcp/80"
        assert shown_protocol(Question("a", "name:b", "dns"), model) == "dns"

    def test_bad_words_are_a_question_error(self, model: HostModel) -> None:
        with pytest.raises(QuestionError):
            ask(model, "dwlab-web", "nope")


def test_the_readme_lists_the_commands() -> None:
    assert markdown_commands() in README.read_text()


# --- through the Pilot ------------------------------------------------------------------------------------


def bar_of(app: DockwireApp) -> CommandBar:
    return app.main_screen.query_one(CommandBar)


def hint(app: DockwireApp) -> str:
    return plain(app.main_screen.query_one("#command-hint"), width=400).strip()


def status(app: DockwireApp) -> str:
    return plain(app.main_screen.query_one(StatusLine), width=400)


def notices(app: DockwireApp) -> list[str]:
    return [str(n.message) for n in app._notifications]


async def command(pilot: Pilot[None], line: str) -> None:
    """Open the command line with `:`, type `line` and press enter."""
    await press(pilot, "colon")
    await type_text(pilot, line)
    await press(pilot, "enter")


async def test_why_gives_the_cli_verdict_and_w_then_asks_the_same() -> None:
    """`:why A B tcp/80`: the CLI's status, culprit and fix; A and B marked, `proto tcp/80` in the status
    line, and w asks exactly that again."""
    app = app_on()
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        await command(pilot, "why dwlab-iso-a dwlab-iso-b tcp/80")
        await answered(pilot)
        outcome = app.last_outcome
        theirs = cli_verdict(app.model, "dwlab-iso-a", "dwlab-iso-b", "tcp", 80)
        assert outcome is not None and outcome.mode == "static"
        assert outcome.status == theirs.verdict == "blocked"
        assert outcome.culprit == theirs.culprit and outcome.fix == tuple(theirs.fix)
        assert not bar_of(app).is_open and isinstance(app.focused, ContainersTable)
        ids = {c.name: c.id for c in app.model.containers}
        assert app.main_screen.marks == Marks(ids["dwlab-iso-a"], ids["dwlab-iso-b"])
        assert "proto tcp/80" in status(app)
        assert "dwlab-iso-a → dwlab-iso-b tcp/80" in plain(app.main_screen.query_one("#verdict-body"))
        first = outcome
        await press(pilot, "w")
        await answered(pilot, after=first)
        assert app.last_outcome is not None and app.last_outcome.request == first.request


async def test_ends_that_are_not_containers_become_the_marks() -> None:
    """`:why outside 172.17.0.1:18080` asks the CLI's question, marks its two ends by their text, and w asks
    it again; `:dns` asks the CLI's `name:` question."""
    app = app_on()
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        await command(pilot, "why outside 172.17.0.1:18080")
        await answered(pilot)
        first = app.last_outcome
        theirs = cli_verdict(app.model, "outside", "172.17.0.1:18080")
        assert first is not None and first.status == theirs.verdict and first.summary == theirs.reason
        line = status(app)
        assert "outside →" in line and "172.17.0.1:18080" in line and "proto tcp/18080" in line, line
        await press(pilot, "w")
        await answered(pilot, after=first)
        assert app.last_outcome is not None and app.last_outcome.request == first.request
        dns_before = app.last_outcome
        await command(pilot, "dns dwlab-custom-a dwlab-web")
        await answered(pilot, after=dns_before)
        dns = app.last_outcome
        theirs = cli_verdict(app.model, "dwlab-custom-a", "name:dwlab-web")
        assert dns is not None and dns.status == theirs.verdict == "blocked" and dns.fix == tuple(theirs.fix)
        assert "proto dns" in status(app)


async def test_a_bad_line_is_a_one_line_error_and_the_line_stays_open() -> None:
    app = app_on()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "why nope dwlab-web")
        await settle(pilot)
        assert app.last_outcome is None and app.return_code is None
        bar = bar_of(app)
        assert bar.is_open and bar.input.value == "why nope dwlab-web" and app.focused is bar.input
        assert hint(app).startswith("✘ why: SRC 'nope' is not a container")
        # Typing again puts the usage and the completions back.
        await press(pilot, "backspace")
        assert "why SRC DST" in hint(app)
        # Host text is never markup.
        bar.input.value = ""
        await caught_up(pilot)
        await type_text(pilot, "why [bold]x[/bold] dwlab-web")
        await press(pilot, "enter")
        assert "[bold]x[/bold]" in hint(app)


async def test_tab_completes_container_names_and_up_recalls() -> None:
    app = app_on()
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        await press(pilot, "colon")
        box = await type_text(pilot, "why dwlab-def")
        assert isinstance(box, CommandInput)
        assert "dwlab-default-a" in hint(app) and "dwlab-default-b" in hint(app)
        await until(pilot, lambda: box._suggestion == "why dwlab-default-a", "the suggestion")
        await press(pilot, "tab")
        assert box.value == "why dwlab-default-a "
        for key in "dwlab-default-b":
            await press(pilot, key)
        await press(pilot, "enter")
        await answered(pilot)
        await press(pilot, "colon", "up")
        assert box.value == "why dwlab-default-a dwlab-default-b"
        await press(pilot, "escape")
        assert not bar_of(app).is_open and isinstance(app.focused, ContainersTable)


async def test_probe_is_refused_with_the_reason_where_nothing_can_send() -> None:
    """On a snapshot, and on a live host without root, `:probe` and `:trace` send nothing and say why."""
    for app, reason in (
        (app_on(), "no live host"),
        (app_on(source=LiveFlaggedSnapshot(lab_model(), "live · test"), root=False), "not root"),
    ):
        async with app.run_test(size=(120, 40)) as pilot:
            await ready(pilot)
            await press(pilot, "colon")
            await type_text(pilot, "probe dwlab-iso-a dwlab-iso-b tcp/80")
            assert "sends real packets" in hint(app)
            await press(pilot, "enter")
            await settle(pilot)
            assert app.last_outcome is None and bar_of(app).is_open
            assert f"probe: disabled: {reason}" in hint(app), hint(app)


async def test_filter_filters_the_pane_it_was_opened_from_and_esc_closes() -> None:
    app = app_on()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        table = app.main_screen.query_one(ContainersTable)
        everything = table.row_count
        await command(pilot, "filter iso")
        assert table.row_count == 2 and table.filter_text == "iso"
        assert app.focused is table
        await command(pilot, "filter")
        assert table.row_count == everything
        await press(pilot, "colon")
        assert bar_of(app).is_open
        await press(pilot, "escape")
        assert not bar_of(app).is_open and app.focused is table and app.last_outcome is None
        # The palette lists the commands; choosing one opens the line with it typed.
        from dockwire.tui.commands import DockwireCommands

        entries = {title: run for title, _, run in DockwireCommands(app.screen)._entries()}
        chosen = entries[":why SRC DST [tcp/80|udp/53|icmp] [-6]"]()
        if inspect.isawaitable(chosen):  # the palette awaits what it gets back
            await chosen
        await caught_up(pilot)
        assert bar_of(app).is_open and bar_of(app).input.value == "why "


async def test_matrix_host_help_and_quit() -> None:
    app = app_on()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "matrix nowhere")
        assert "'nowhere' is not a network" in hint(app)
        await press(pilot, "escape")
        await command(pilot, "host elsewhere")
        assert "known: vm" in hint(app)
        await press(pilot, "escape")
        await command(pilot, "host vm")
        assert any("showing vm" in n for n in notices(app))
        await command(pilot, "matrix")
        await settle(pilot)
        assert isinstance(app.screen, MatrixScreen)
        await press(pilot, "escape")
        await settle(pilot)
        await command(pilot, "help")
        assert type(app.screen).__name__ == "HelpScreen"
        await press(pilot, "escape")
        await command(pilot, "q")
        await until(pilot, lambda: app.return_code is not None, "quit")


async def test_the_probe_dialog_and_a_port_in_the_topology_set_the_protocol() -> None:
    """P's choice is shown and is what w asks next; b on a published port in the topology marks it as B."""
    app = app_on()
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        await mark(pilot, "dwlab-default-a")
        await mark(pilot, "dwlab-web")
        assert "proto icmp" in status(app)
        await press(pilot, "P")
        assert isinstance(app.screen, ProbeDialog)
        await press(pilot, "enter")  # tcp/80, the first port of dwlab-web
        await answered(pilot)
        assert app.proto_choice == ProtoChoice("tcp", 80) and "proto tcp/80" in status(app)
        before = app.last_outcome
        await press(pilot, "w")
        await answered(pilot, after=before)
        assert app.last_outcome is not None and app.last_outcome.request == Question(
            "dwlab-default-a", "dwlab-web", "tcp", 80
        )
        tree = app.main_screen.query_one(TopologyTree)
        node = next(
            n
            for n in tree._by_key.values()
            if n.data and n.data.kind == "port" and "5353/udp" in n.data.ident
        )
        parent = node.parent
        while parent is not None:
            parent.expand()
            parent = parent.parent
        tree.focus()
        await caught_up(pilot)
        tree.move_cursor(node)
        await until(pilot, lambda: tree.highlighted_ref == node.data, "the cursor on the port")
        await press(pilot, "b")
        assert "127.0.0.1:15353" in status(app) and "proto udp/15353" in status(app), status(app)
        before = app.last_outcome
        await press(pilot, "w")
        await answered(pilot, after=before)
        asked = app.last_outcome
        assert asked is not None and asked.request == Question("dwlab-default-a", "127.0.0.1:15353", "udp")
        theirs = cli_verdict(app.model, "dwlab-default-a", "127.0.0.1:15353", "udp")
        assert asked.status == theirs.verdict


async def test_at_160x45_an_open_result_gets_the_width_a_fix_needs() -> None:
    """The result takes the detail's place up to 160 columns: the 124-character fix wraps at most once or
    twice; the events log gives up rows to it."""
    app = app_on()
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        events_before = app.main_screen.query_one("#events").size.height
        await command(pilot, "why dwlab-default-a dwlab-default-b tcp/80")
        await answered(pilot)
        outcome: Answer | None = app.last_outcome
        assert outcome is not None and outcome.status == "blocked"
        fix = outcome.fix[0]
        assert len(fix) > 120
        assert (
            not app.main_screen.query_one("#detail").display
            or not app.main_screen.query_one("#detail").region.width
        )
        lines = [strip.text for strip in app.screen._compositor.render_strips()]
        first = next(i for i, line in enumerate(lines) if "$ iptables -D DOCKER-USER" in line)
        last = next(i for i, line in enumerate(lines) if "dockwire-lab -j DROP" in line and i >= first)
        assert last - first + 1 <= 3
        assert app.main_screen.query_one("#events").size.height < events_before


async def test_matrix_of_one_network() -> None:
    app = app_on()
    async with app.run_test(size=(120, 40)) as pilot:
        await ready(pilot)
        await command(pilot, "matrix dwlab-net-a")
        await settle(pilot)
        assert isinstance(app.screen, MatrixScreen) and app.screen is not app.get_screen("matrix")


# --- IPv6 ---------------------------------------------------------------------------------------------------

IPV6_SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft-ipv6.json"


def test_why_takes_the_family_as_the_cli_does() -> None:
    from dockwire.snapshot import load

    m = load(IPV6_SNAPSHOT)
    q = question(m, "why dwlab-v6-a dwlab-v6-b tcp/80 -6")
    assert (q.proto, q.port, q.family) == ("tcp", 80, 6)
    assert question(m, "why dwlab-v6-a dwlab-v6-b --family=4 icmp").family == 4
    assert question(m, "why dwlab-v6-a dwlab-v6-b").family is None
    with pytest.raises(CommandError, match="--family takes 4 or 6"):
        parse("why dwlab-v6-a dwlab-v6-b --family 5", m, HOSTS)
    probe = parse("probe dwlab-v6-a dwlab-v6-b tcp/80 -6", m, HOSTS)
    assert isinstance(probe, Ask) and probe.active and probe.question.family == 6
    assert parse("matrix -6", m, HOSTS) == OpenMatrix(None, 6)
    assert parse("matrix dwlab-v6 -6", m, HOSTS) == OpenMatrix("dwlab-v6", 6)
    assert parse("matrix", m, HOSTS) == OpenMatrix(None, 4)


async def test_why_minus_6_shows_the_cli_ipv6_verdict() -> None:
    from dockwire.snapshot import load

    m = load(IPV6_SNAPSHOT)
    app = app_on(m)
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        await command(pilot, "why dwlab-v6-a dwlab-v6-b tcp/80 -6")
        await answered(pilot)
        outcome = app.last_outcome
        theirs = evaluate(m, "dwlab-v6-a", "dwlab-v6-b", "tcp", 80, family=6)
        assert outcome is not None and outcome.status == theirs.verdict == "blocked"
        assert outcome.culprit == theirs.culprit and outcome.fix == tuple(theirs.fix)
        assert theirs.culprit is not None and theirs.culprit.family == "ip6"
        assert "tcp/80 IPv6" in plain(app.main_screen.query_one("#verdict-body"))
