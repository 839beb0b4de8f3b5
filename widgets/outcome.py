"""What a probe or a "why" found, in the shape the panes show it (independent of the engines' own types)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from dockwire.model import Rule

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
class Outcome:
    request: ProbeRequest
    mode: Mode
    status: Status
    #: One line: "blocked by filter/DOCKER-USER #1", "allowed, rtt 0.08 ms".
    summary: str
    #: The hops the packet takes (or would take), in order.
    path: tuple[str, ...] = ()
    #: Rules the packet met that decided something, in order.
    rules: tuple[Rule, ...] = ()
    culprit: Rule | None = None
    #: What to run or change to let it through (blocked only).
    fix: str = ""
    rtt_ms: float | None = None
    #: Caveats: demo mode, assumptions the engine made, why a live probe was not possible.
    notes: tuple[str, ...] = field(default_factory=tuple)
    #: Active trace hops, when one was asked for.
    trace: tuple[str, ...] = ()

    @property
    def label(self) -> str:
        return "static verdict" if self.mode == "static" else "probe"
