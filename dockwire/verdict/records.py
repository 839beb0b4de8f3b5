"""The verdict as data: a stable, JSON-ready record of the answer, the path, the rules and the fix.

`VERDICT_SCHEMA` is bumped whenever a field changes meaning or goes away (adding fields does not bump it).
"""

from __future__ import annotations

from msgspec import Struct, field

from dockwire.model import Rule, RuleRef

VERDICT_SCHEMA = 1
ALLOWED, BLOCKED, UNCERTAIN = "allowed", "blocked", "uncertain"


class VRecord(Struct, frozen=True, kw_only=True, omit_defaults=False):
    """Base of the verdict records."""


class EndpointRef(VRecord, frozen=True, kw_only=True):
    kind: str  # "container", "host", "outside", "published", "dns"
    text: str
    label: str
    container: str = ""
    container_id: str = ""
    address: str = ""
    port: int | None = None
    # The host the end is on, when the question spans several hosts; "" for one host.
    host: str = ""


class Hop(VRecord, frozen=True, kw_only=True):
    direction: str  # "request", "reply", "proxy request", "proxy reply"
    kind: str  # "netns", "link", "bridge", "route", "hook", "nat", "proxy", "deliver", "dns"
    text: str
    # The host the hop happens on, when the flow crosses several hosts; "" for one host.
    host: str = ""


class Bypassed(VRecord, frozen=True, kw_only=True):
    """A rule that looks like it protects an allowed flow but is not on its path: it would have dropped the
    flow had the flow gone past it. Said beside the answer, with what does stop the flow."""

    # The situation: "input-skipped-by-dnat" (an INPUT deny for a published port, which is forwarded).
    kind: str
    rule: RuleRef
    # Why the rule never sees the flow.
    why: str
    # Commands that do what the rule was meant to (run together), and a sentence on them and other ways.
    fix: list[str] = field(default_factory=list)
    fix_note: str = ""


class Verdict(VRecord, frozen=True, kw_only=True):
    schema_version: int = VERDICT_SCHEMA
    verdict: str  # "allowed", "blocked", "uncertain"
    src: EndpointRef
    dst: EndpointRef
    proto: str
    port: int | None = None
    reason: str = ""
    path: list[Hop] = field(default_factory=list)
    matched: list[RuleRef] = field(default_factory=list)
    culprit: RuleRef | None = None
    # The exact model rule that blocked the flow (None for a policy or a missing piece).
    rule: Rule | None = None
    # What is missing when no rule is to blame: "ip_forward", "route", "container-route", "network-none",
    # "not-published", "not-running", "dns", "macvlan-host", "neighbour", "rp_filter", "reply-route", ...
    missing: str = ""
    # Rules that could not be evaluated and decide the outcome (uncertain verdicts).
    unknown: list[RuleRef] = field(default_factory=list)
    # Rules that could not be evaluated but did not change the outcome.
    unevaluated: list[RuleRef] = field(default_factory=list)
    fix: list[str] = field(default_factory=list)
    fix_note: str = ""
    # Where the fix is run, when the flow crosses several hosts: the host the flow stopped on.
    fix_host: str = ""
    notes: list[str] = field(default_factory=list)
    # For DNS verdicts: the address the name resolves to.
    resolved: str = ""
    # Allowed flows: rules that look like they protect the flow but are not on its path.
    bypassed: list[Bypassed] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        return {ALLOWED: 0, BLOCKED: 1}.get(self.verdict, 3)
