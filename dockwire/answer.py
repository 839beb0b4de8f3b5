"""The dashboard's questions and answers as plain data: a `Question` (can SRC reach DST, and how), and the
`Answer` a static verdict or a probe gave, in the shape the panes show it. Widgets read these; nothing here
knows Textual or the engines."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dockwire.model import RuleRef

Status = Literal["allowed", "blocked", "uncertain", "error"]
Mode = Literal["static", "active"]


@dataclass(frozen=True, slots=True)
class Question:
    """A question: can `src` reach `dst` (container names or ids) with this protocol and port?"""

    src: str
    dst: str
    proto: str = "icmp"
    port: int | None = None
    trace: bool = False
    # 4 or 6: which address of a dual-stack container (None: that of an address given, else IPv4).
    family: int | None = None

    def describe(self) -> str:
        what = self.proto if self.port is None else f"{self.proto}/{self.port}"
        family = " IPv6" if self.family == 6 else ""
        return f"{self.src} → {self.dst} {what}{family}" + (" (trace)" if self.trace else "")


@dataclass(frozen=True, slots=True)
class Bypass:
    """A rule that looks like it protects an allowed flow but is not on its path, said beside the answer."""

    rule: RuleRef
    #: Why the rule never sees the flow.
    why: str
    #: Commands that do stop the flow (run together), and a sentence on them and on other ways.
    fix: tuple[str, ...] = ()
    fix_note: str = ""


@dataclass(frozen=True, slots=True)
class Answer:
    request: Question
    mode: Mode
    status: Status
    #: One line: "blocked by filter/DOCKER-USER #1", "allowed, rtt 0.08 ms".
    summary: str
    #: The hops the packet takes (or would take), in order.
    path: tuple[str, ...] = ()
    #: Rules the packet met that decided something, in order.
    rules: tuple[RuleRef, ...] = ()
    #: The rule (or policy) that dropped it.
    culprit: RuleRef | None = None
    #: What is missing when no rule is to blame ("ip_forward", "route", "not-published", ...).
    missing: str = ""
    #: Commands that would let it through (blocked only), and a sentence on why they work.
    fix: tuple[str, ...] = ()
    fix_note: str = ""
    #: Rules the engine could not evaluate that decide the outcome (uncertain only).
    unknown: tuple[RuleRef, ...] = ()
    rtt_ms: float | None = None
    #: Caveats the engine made.
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Said first, in a colour that cannot be missed: why this is a static verdict although a probe was asked.
    banner: str = ""
    #: Active trace hops, when one was asked for.
    trace: tuple[str, ...] = ()
    #: Allowed only: rules that look like they protect the flow but are not on its path.
    bypassed: tuple[Bypass, ...] = ()
    #: Where the fix is run, when the flow crosses several hosts ("" for one host).
    fix_host: str = ""

    @property
    def label(self) -> str:
        return "static verdict" if self.mode == "static" else "probe"
