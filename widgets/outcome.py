"""What a probe or a "why" found, in the shape the panes show it (independent of the engines' own types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

Status = Literal["allowed", "blocked", "uncertain", "error"]
Mode = Literal["static", "active"]


@dataclass(frozen=True, slots=True)
class ProbeRequest:
    """A question: can `src` reach `dst` (container names or ids) with this protocol and port?"""

    src: str
    dst: str
    proto: str = "icmp"
    port: int | None = None
    trace: bool = False

    def describe(self) -> str:
        what = self.proto if self.port is None else f"{self.proto}/{self.port}"
        return f"{self.src} → {self.dst} {what}" + (" (trace)" if self.trace else "")


@dataclass(frozen=True, slots=True)
class RuleSpot:
    """A rule (or a chain's policy, when `position` is None) a packet met, and what it did to it."""

    source: str
    family: str
    table: str
    chain: str
    position: int | None
    text: str = ""
    effect: str = ""
    owner: str = "other"
    direction: str = ""
    #: True when the rule has a condition the engine could not evaluate.
    unknown: bool = False

    @property
    def title(self) -> str:
        """`filter/DOCKER-USER #1`, or `filter/FORWARD policy`."""
        where = f"#{self.position}" if self.position is not None else "policy"
        return f"{self.table}/{self.chain} {where}"

    @property
    def body(self) -> str:
        prefix = f"-A {self.chain} "
        return self.text[len(prefix) :] if self.text.startswith(prefix) else self.text


@dataclass(frozen=True, slots=True)
class Outcome:
    request: ProbeRequest
    mode: Mode
    status: Status
    #: One line: "blocked by filter/DOCKER-USER #1", "allowed, rtt 0.08 ms".
    summary: str
    #: The hops the packet takes (or would take), in order.
    path: tuple[str, ...] = ()
    #: Rules the packet met that decided something, in order.
    rules: tuple[RuleSpot, ...] = ()
    #: The rule (or policy) that dropped it.
    culprit: RuleSpot | None = None
    #: What is missing when no rule is to blame ("ip_forward", "route", "not-published", ...).
    missing: str = ""
    #: Commands that would let it through (blocked only), and a sentence on why they work.
    fix: tuple[str, ...] = ()
    fix_note: str = ""
    #: Rules the engine could not evaluate that decide the outcome (uncertain only).
    unknown: tuple[RuleSpot, ...] = ()
    rtt_ms: float | None = None
    #: Caveats the engine made.
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Said first, in a colour that cannot be missed: why this is a static verdict although a probe was asked.
    banner: str = ""
    #: Active trace hops, when one was asked for.
    trace: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "static verdict" if self.mode == "static" else "probe"
