"""The engine's notebook while it follows a flow: hops, matched rules, notes, and how the walk stopped."""

from __future__ import annotations

from dataclasses import dataclass, field

from dockwire.verdict.netfilter_eval import Hit
from dockwire.verdict.packet import Packet
from dockwire.verdict.where import Where


@dataclass(frozen=True, slots=True)
class HopRecord:
    direction: str  # "request" or "reply" (or "request 2" for the proxy's own connection)
    kind: str  # "netns", "route", "link", "bridge", "hook", "nat", "proxy", "deliver", "stop"
    text: str
    host: str = ""


@dataclass(frozen=True, slots=True)
class HitRecord:
    direction: str
    hit: Hit
    host: str = ""


@dataclass(frozen=True, slots=True)
class Detour:
    """A packet for the host itself that DNAT sent elsewhere: the host's input hook never saw it.

    `before` is the packet as it came in (for a host address and port), `after` as DNAT in PREROUTING left
    it (forwarded), `skipped` where the input hook would have seen it had it stayed the host's."""

    direction: str
    before: Packet
    after: Packet
    skipped: Where


class Stop(Exception):
    """The flow cannot go on: blocked (with a culprit rule or a missing piece) or uncertain."""

    def __init__(
        self,
        verdict: str,
        reason: str,
        *,
        culprit: Hit | None = None,
        missing: str = "",
        unknown: list[Hit] | None = None,
        facts: dict[str, str] | None = None,
    ) -> None:
        super().__init__(reason)
        self.verdict = verdict  # "blocked" or "uncertain"
        self.reason = reason
        self.culprit = culprit
        self.missing = missing
        self.unknown = unknown or []
        # Details a fix needs (network names, ports, interfaces ...).
        self.facts = facts or {}
        self.direction = ""
        # The host the flow stopped on, when it crosses several (set by the walk that caught it).
        self.host = ""


@dataclass
class Trace:
    direction: str = "request"
    # The host the walk is on, when a flow crosses several hosts; "" for one host.
    host: str = ""
    hops: list[HopRecord] = field(default_factory=list)
    hits: list[HitRecord] = field(default_factory=list)
    # Rules whose conditions could not be evaluated but did not change the outcome.
    harmless_unknowns: list[HitRecord] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    # Packets DNAT took away from the host's input hook (see `dockwire.verdict.bypassed`).
    detours: list[Detour] = field(default_factory=list)
    # The addresses of the first packet, once decided.
    src_address: str = ""
    dst_address: str = ""

    def hop(self, kind: str, text: str) -> None:
        self.hops.append(HopRecord(self.direction, kind, text, self.host))

    def note(self, text: str) -> None:
        if text not in self.notes:
            self.notes.append(text)

    def detour(self, before: Packet, after: Packet, skipped: Where) -> None:
        """Note a forwarded packet that DNAT turned away from the host, when it is a connection's first."""
        if after.ct_dir == "ORIGINAL" and (after.dst, after.dport) != (before.dst, before.dport):
            self.detours.append(Detour(self.direction, before, after, skipped))

    def add_hits(self, hits: list[Hit]) -> None:
        self.hits.extend(
            HitRecord(self.direction, h, self.host)
            for h in hits
            if h.rule is not None or h.effect.endswith("DROP")
        )
