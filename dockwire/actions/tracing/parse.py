"""Parse what the kernel reports about traced packets: `nft monitor trace` lines and legacy TRACE log lines.

Both become TraceEvents in arrival order; evidence.py groups them per packet and maps them onto the model.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass, field
from typing import Any

_NFT_LINE = re.compile(
    r"^trace id (?P<id>[0-9a-f]+) (?P<family>\S+) (?P<table>\S+) (?P<chain>\S+) (?P<rest>.*)$"
)
_NFT_RULE = re.compile(
    r"^(?:rule (?P<text>.*?)|unknown rule)(?: # handle| handle) (?P<handle>\d+)"
    r" \(verdict (?P<verdict>[^)]*)\)"
)
_NFT_RULE_NOHANDLE = re.compile(r"^rule (?P<text>.*?) \(verdict (?P<verdict>[^)]*)\)")
_NFT_FIELDS = {
    "iif": re.compile(r'\biif "([^"]*)"'),
    "oif": re.compile(r'\boif "([^"]*)"'),
    "saddr": re.compile(r"\bip6? saddr (\S+)"),
    "daddr": re.compile(r"\bip6? daddr (\S+)"),
    "ttl": re.compile(r"\b(?:ip ttl|ip6 hoplimit) (\d+)"),
    "sport": re.compile(r"\b(?:tcp|udp) sport (\d+)"),
    "dport": re.compile(r"\b(?:tcp|udp) dport (\d+)"),
    "l4": re.compile(r"\b(tcp|udp|icmpv6|icmp) (?:sport|type)\b"),
    "icmp_type": re.compile(r"\bicmp(?:v6)? type (\S+)"),
    "icmp_id": re.compile(r"\bicmp(?:v6)? id (\d+)"),
    "tcp_flags": re.compile(r"\btcp flags == (\S+)"),
}
# nft 1.0.6 prints an ICMPv6 echo's id and sequence as one 32-bit "parameter-problem" word (id << 16 | seq).
_NFT_ICMPV6_WORD = re.compile(r"\bicmpv6 parameter-problem (\d+)")

_LOG_LINE = re.compile(
    r"TRACE: (?P<table>[^:\s]+):(?P<chain>[^:\s]+):(?P<kind>rule|return|policy):(?P<num>\d+) (?P<rest>.*)$"
)
_LOG_KV = re.compile(r"\b([A-Z]+)=(\S*)")
_LOG_ICMP_TYPES = {
    "0": "echo-reply",
    "3": "destination-unreachable",
    "8": "echo-request",
    "11": "time-exceeded",
}
_LOG_ICMPV6_TYPES = {
    "1": "destination-unreachable",
    "3": "time-exceeded",
    "128": "echo-request",
    "129": "echo-reply",
}


@dataclass
class TraceEvent:
    """One kernel trace report."""

    trace_id: str
    table: str
    chain: str
    # "packet" (a hook's packet dump), "rule", "policy", "return".
    kind: str
    family: str = "ip"
    verdict: str = ""
    # Rule text as the kernel tool printed it; for "packet": the raw packet description.
    text: str = ""
    handle: int | None = None
    # Legacy log: the 1-based rule number the kernel reported.
    rulenum: int | None = None
    # Packet fields: iif, oif, saddr, daddr, sport, dport, l4, icmp_type, icmp_id, ttl.
    fields: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class _Base:
    trace_id: str
    table: str
    chain: str
    family: str = "ip"

    def kw(self) -> dict[str, Any]:
        return {"trace_id": self.trace_id, "table": self.table, "chain": self.chain, "family": self.family}


def packet_fields(text: str) -> dict[str, str]:
    found = {}
    for key, pattern in _NFT_FIELDS.items():
        m = pattern.search(text)
        if m:
            found[key] = m.group(1)
    if "icmp_id" not in found and found.get("icmp_type", "").startswith("echo-"):
        word = _NFT_ICMPV6_WORD.search(text)
        if word:
            found["icmp_id"] = str(int(word.group(1)) >> 16)
    return found


def parse_nft_line(line: str) -> list[TraceEvent]:
    """TraceEvents of one `nft monitor trace` line: 0 (not a trace line) or 1."""
    m = _NFT_LINE.match(line.rstrip("\n"))
    if not m:
        return []
    base = _Base(m["id"], m["table"], m["chain"], m["family"])
    rest = m["rest"].strip()
    if rest.startswith("packet:"):
        body = rest.removeprefix("packet:").strip()
        return [TraceEvent(kind="packet", text=body, fields=packet_fields(body), **base.kw())]
    if rest.startswith(("rule ", "unknown rule")):
        r = _NFT_RULE.match(rest)
        if r:
            text = (r["text"] or "").strip()
            return [
                TraceEvent(
                    kind="rule", text=text, handle=int(r["handle"]), verdict=r["verdict"].strip(), **base.kw()
                )
            ]
        r = _NFT_RULE_NOHANDLE.match(rest)
        if r:
            return [
                TraceEvent(kind="rule", text=r["text"].strip(), verdict=r["verdict"].strip(), **base.kw())
            ]
        return [TraceEvent(kind="rule", text=rest.removeprefix("rule ").strip(), **base.kw())]
    if rest.startswith("policy "):
        return [TraceEvent(kind="policy", verdict=rest.split()[1], **base.kw())]
    if rest.startswith("verdict "):
        words = rest.split()
        verdict = " ".join(words[1:3]) if words[1:2] in (["jump"], ["goto"]) else words[1]
        return [TraceEvent(kind="return", verdict=verdict, **base.kw())]
    return []


def parse_nft_output(text: str) -> list[TraceEvent]:
    events: list[TraceEvent] = []
    for line in text.splitlines():
        events.extend(parse_nft_line(line))
    return events


def _compressed(address: str) -> str:
    """An address as dockwire writes it everywhere: the kernel log spells IPv6 ones out in full."""
    try:
        return str(ipaddress.ip_address(address))
    except ValueError:
        return address


def _log_fields(rest: str) -> dict[str, str]:
    """Packet fields of a legacy log line ("IN=docker0 ... SRC=... PROTO=ICMP TYPE=8 CODE=0 ID=7 SEQ=1")."""
    pairs = _LOG_KV.findall(rest)
    found: dict[str, str] = {}
    seen_proto = False
    for key, value in pairs:
        if key == "PROTO":
            seen_proto = True
            found["l4"] = value.lower()
        elif key == "IN" and value:
            found["iif"] = value
        elif key == "OUT" and value:
            found["oif"] = value
        elif key == "SRC":
            found["saddr"] = _compressed(value)
        elif key == "DST":
            found["daddr"] = _compressed(value)
        elif key in ("TTL", "HOPLIMIT"):
            found["ttl"] = value
        elif key == "SPT":
            found["sport"] = value
        elif key == "DPT":
            found["dport"] = value
        elif key == "TYPE" and seen_proto:
            names = _LOG_ICMPV6_TYPES if found.get("l4") == "icmpv6" else _LOG_ICMP_TYPES
            found["icmp_type"] = names.get(value, value)
        elif key == "ID" and seen_proto and found.get("l4") in ("icmp", "icmpv6"):
            found["icmp_id"] = value
    return found


def parse_log_line(line: str) -> list[TraceEvent]:
    """A legacy TRACE kernel log line ("TRACE: raw:PREROUTING:rule:2 IN=...") as one event, else none.

    Each line is both the packet dump and the step, so it yields a packet event followed by the step.
    """
    m = _LOG_LINE.search(line)
    if not m:
        return []
    fields = _log_fields(m["rest"])
    # ip6tables' lines carry IPv6 fields (HOPLIMIT, FLOWLBL) where iptables' carry TTL.
    family = "ip6" if "HOPLIMIT=" in m["rest"] else "ip"
    base = _Base("", m["table"], m["chain"], family)
    return [
        TraceEvent(kind="packet", text=m["rest"].strip(), fields=fields, **base.kw()),
        TraceEvent(kind=m["kind"], rulenum=int(m["num"]), **base.kw()),
    ]


def parse_kmsg_record(record: str) -> str:
    """The message of a /dev/kmsg record ("6,1234,567890,-;TRACE: ..."), or the record unchanged."""
    head, sep, msg = record.partition(";")
    return msg if sep and "," in head else record
