"""Words to a `Question`, the way `dockwire why` reads them, and the protocol `w`, `p` and `t` use.

SRC and DST are resolved by the engine's own `resolve_endpoint`, so the TUI accepts exactly the CLI's forms;
the protocol defaults as the CLI's does: tcp when a port is given or DST carries one, else icmp; a `name:X`
destination is a DNS question. Pure: no Textual, no I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

from dockwire.answer import Question
from dockwire.errors import DockwireError
from dockwire.fleet import Fleet
from dockwire.model import HostModel
from dockwire.tui.answers import FlowEnd, resolve_end, resolve_ends  # the one bridge to the engine

#: What a question is asked of: one host's model, or a fleet of several (ends written `NAME@HOST`).
Scope = HostModel | Fleet

#: The protocols a why or a probe can be asked with (DNS is asked by naming `name:X` as DST).
PROTOCOLS = ("icmp", "tcp", "udp")


class QuestionError(ValueError):
    """The words do not make a question; the message is one line for the user."""


@dataclass(frozen=True, slots=True)
class ProtoChoice:
    """The protocol (and port) the next `w`, `p` and `t` use; shown in the status line."""

    proto: str = "icmp"
    port: int | None = None

    @property
    def text(self) -> str:
        return self.proto if self.port is None else f"{self.proto}/{self.port}"


ICMP = ProtoChoice()


def resolve(model: Scope, text: str, role: str) -> FlowEnd:
    """One end, resolved as the CLI resolves it; QuestionError (one line) when it names nothing."""
    try:
        return resolve_end(model, text, role)
    except DockwireError as exc:
        raise QuestionError(f"{role.upper()} {exc}") from None


def check_protocol(proto: str, port: int | None, dst: FlowEnd) -> None:
    """The protocol/port combination the engine accepts (its own words, so the CLI and the TUI agree)."""
    if proto not in PROTOCOLS:
        raise QuestionError(f"protocol {proto!r} is not supported (use icmp, tcp or udp)")
    if proto == "icmp" and port is not None:
        raise QuestionError("a port only makes sense with tcp or udp (tcp/80, udp/53)")
    if proto != "icmp" and port is None and dst.port is None and dst.kind != "dns":
        raise QuestionError(f"{proto} needs a destination port ({proto}/N or DST:PORT)")


def ask(
    model: Scope,
    src: str,
    dst: str,
    proto: str | None = None,
    port: int | None = None,
    *,
    trace: bool = False,
    family: int | None = None,
) -> Question:
    """The question `dockwire why SRC DST [--proto P] [--port N] [-4|-6]` asks. QuestionError when it is
    not one."""
    if isinstance(model, Fleet):
        src_end, dst_end = _fleet_ends(model, src, dst)
    else:
        src_end = resolve(model, src, "src")
        dst_end = resolve(model, dst, "dst")
    if src_end.kind == "outside" and dst_end.kind == "outside":
        raise QuestionError("both ends are outside the host: nothing on this host is involved")
    if dst_end.kind == "dns":
        if trace:
            raise QuestionError("a DNS query is not traced: use :dns or :probe for a name")
        return Question(src, dst, "dns")
    if proto is None:
        proto = "tcp" if (port or dst_end.port) else "icmp"
    check_protocol(proto, port, dst_end)
    return Question(src, dst, proto, port, trace, family)


def _fleet_ends(fleet: Fleet, src: str, dst: str) -> tuple[FlowEnd, FlowEnd]:
    try:
        return resolve_ends(fleet, src, dst)
    except DockwireError as exc:
        raise QuestionError(str(exc)) from None


def ask_with(model: Scope, src: str, dst: str, choice: ProtoChoice, *, trace: bool = False) -> Question:
    """The question `w`, `p` or `t` asks of a pair with the chosen protocol. A DST that carries its port
    (a published HOSTIP:PORT, NAME:PORT) keeps it: the choice then gives only the protocol (tcp for icmp)."""
    dst_end = resolve(model, dst, "dst")
    if dst_end.port is not None:
        return ask(model, src, dst, choice.proto if choice.proto != "icmp" else "tcp", trace=trace)
    return ask(model, src, dst, choice.proto, choice.port, trace=trace)


def choice_of(question: Question, model: Scope) -> ProtoChoice | None:
    """The protocol choice a question stands for (None for a DNS question, which has none)."""
    if question.proto not in PROTOCOLS:
        return None
    if question.port is not None or question.proto == "icmp":
        return ProtoChoice(question.proto, question.port)
    try:
        carried = resolve_end(model, question.dst, "dst").port
    except DockwireError:
        carried = None
    return ProtoChoice(question.proto, carried)


def shown_protocol(question: Question, model: Scope) -> str:
    """What the status line says a question uses: `tcp/80`, `icmp`, `dns`, or `tcp/18080` for a DST that
    carries the port."""
    choice = choice_of(question, model)
    return choice.text if choice is not None else question.proto
