"""What an active probe found: the answers, the kernel's trace of the rules, and the static verdict beside it.

Plain msgspec Structs like the model, so a result prints as JSON (`dockwire probe --json`) and the TUI can
show it field by field.
"""

from __future__ import annotations

from msgspec import Struct, field

from dockwire.model import RuleRef


class Record(Struct, frozen=True, kw_only=True, omit_defaults=False, forbid_unknown_fields=True):
    """Base of every probe result record."""


class Reply(Record, frozen=True):
    """One packet sent and what came back for it."""

    seq: int
    # "echo-reply", "syn-ack", "rst", "udp", "dns", "icmp-unreachable", "time-exceeded", "none", "error".
    kind: str
    src: str = ""
    rtt_ms: float | None = None
    detail: str = ""


class Hop(Record, frozen=True):
    """One TTL step of `trace`."""

    ttl: int
    address: str = ""
    # "gateway", "host", "destination", "" (some other router), "*" (no answer).
    role: str = ""
    rtt_ms: float | None = None
    detail: str = ""


class TraceStep(Record, frozen=True):
    """One line of the kernel's trace: a rule that matched, a policy, or a return."""

    table: str
    chain: str
    # "rule", "policy", "return".
    kind: str
    # "accept", "drop", "continue", "jump X", "goto X", "return", ... (lower case, nft spelling).
    verdict: str
    # What the kernel printed for the rule (nft syntax on nft hosts, iptables syntax with the legacy log).
    kernel_text: str = ""
    family: str = "ip"
    handle: int | None = None
    # The model's rule at that place, when found.
    rule: RuleRef | None = None


class PacketTrace(Record, frozen=True):
    """Everything the kernel reported about one packet, in order, from the first hook to the last."""

    trace_id: str
    # "request" (SRC -> DST) or "reply" (DST -> SRC).
    direction: str
    # One summary line per hook the packet passed, e.g. "ip raw PREROUTING 172.18.0.2 -> 172.19.0.2 icmp".
    packets: list[str] = field(default_factory=list)
    steps: list[TraceStep] = field(default_factory=list)
    # Final fate: "drop", "accept" (left the last traced hook), or "" when unknown.
    fate: str = ""
    # The step that dropped the packet, if it was dropped.
    dropped_by: RuleRef | None = None
    # Address/port rewrites seen between hooks, e.g. "daddr 198.51.100.1:18080 -> 172.17.0.5:80 (DNAT)".
    nat: list[str] = field(default_factory=list)


class Evidence(Record, frozen=True):
    """How dockwire asked the kernel, and what it answered."""

    # "nftrace" (nft monitor trace), "kernel-log" (legacy TRACE), "counters" (before/after diff), "none".
    mode: str = "none"
    note: str = ""
    packets: list[PacketTrace] = field(default_factory=list)
    # Counter mode: rules whose packet counters grew while the probe ran (other traffic may be included).
    counted: list[RuleRef] = field(default_factory=list)
    dropped_by: RuleRef | None = None
    request_traced: bool = False
    reply_traced: bool = False
    nat: list[str] = field(default_factory=list)


class StaticComparison(Record, frozen=True):
    """The static verdict (`dockwire why`) next to what the probe saw."""

    available: bool = False
    # The static verdict: True allowed, False blocked, None uncertain.
    allowed: bool | None = None
    summary: str = ""
    rule: RuleRef | None = None
    # None when either side is uncertain; False is a disagreement, shown loudly.
    agrees: bool | None = None
    note: str = ""


class ProbeResult(Record, frozen=True):
    src: str
    dst: str
    proto: str
    port: int | None = None
    count: int = 1
    # 4 or 6: the IP version probed (for dns: of the address asked for).
    family: int = 4
    src_ip: str = ""
    dst_ip: str = ""
    # The per-probe marker: ICMP id, or the source port of TCP/UDP/DNS probes.
    marker: int = 0
    run_id: str = ""
    # icmp: "reached", tcp: "open"/"closed", udp: "open"/"closed"/"open|filtered", dns: "answered"/"nxdomain",
    # all: "blocked", "filtered", "unreachable", "no-route", "no-answer", "not-sent".
    outcome: str = ""
    # True: the destination answered; False: the packet was dropped or could not be routed; None: unknown.
    delivered: bool | None = None
    summary: str = ""
    sent: int = 0
    received: int = 0
    replies: list[Reply] = field(default_factory=list)
    rtt_ms_avg: float | None = None
    hops: list[Hop] = field(default_factory=list)
    # dns: the addresses (or the /etc/hosts entry) the name resolved to.
    answers: list[str] = field(default_factory=list)
    # no-route: SRC's routing table, one `ip route` line each; else the route the packet took.
    routes: list[str] = field(default_factory=list)
    route: str = ""
    neighbour: str = ""
    evidence: Evidence = field(default_factory=Evidence)
    static: StaticComparison = field(default_factory=StaticComparison)
    warnings: list[str] = field(default_factory=list)
    elapsed_s: float = 0.0
