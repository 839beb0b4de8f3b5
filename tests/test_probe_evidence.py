"""Kernel evidence of probes: trace parsing, per-packet grouping and mapping to the model's rules.

The nft traces, rule-handle listings, firewall models and iptables-save counters are real recordings of probes
against the lab (scripts/record-probe-fixtures; Docker 28.5.2, iptables-nft). Addresses and bridge names
change when re-recorded, so the tests read them from each scenario's meta file and the recorded model.
The legacy TRACE log lines further down are not recorded (this host runs the nft backend): they are written
from the kernel's log format (`TRACE: table:chain:type:rulenum` followed by the usual nf_log packet fields).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import msgspec
import pytest

from dockwire.actions.evidence import (
    ProbeKey,
    RuleMapper,
    build_evidence,
    counter_evidence,
    group_log,
    group_nft,
    handle_orders_from_nft_json,
    rewrites,
)
from dockwire.actions.result import Evidence
from dockwire.actions.tracing.base import Marker
from dockwire.actions.tracing.parse import parse_kmsg_record, parse_log_line, parse_nft_line, parse_nft_output
from dockwire.model import Firewall, HostModel, Rule
from dockwire.probes.iptables_save import parse_iptables_save

FIXTURES = Path(__file__).parent / "fixtures" / "probe"


def meta(name: str) -> dict[str, Any]:
    data: dict[str, Any] = json.loads((FIXTURES / f"{name}.meta.json").read_text())
    return data


def model_of(name: str) -> HostModel:
    firewall = msgspec.json.decode((FIXTURES / f"{name}.firewall.json").read_bytes(), type=Firewall)
    return HostModel(firewall=firewall)


def evidence_of(name: str) -> Evidence:
    m = meta(name)
    events = parse_nft_output((FIXTURES / f"{name}.nft.txt").read_text())
    orders: dict[tuple[str, str, str], list[int]] = {}
    for doc in json.loads((FIXTURES / f"{name}.handles.json").read_text()).values():
        orders.update(handle_orders_from_nft_json(doc))
    key = ProbeKey(m["transport"], m["marker"])
    mapper = RuleMapper(model_of(name), handle_orders=orders)
    return build_evidence("nftrace", "", group_nft(events, m["table"], key), key, mapper)


def chain_rules(name: str, table: str, chain: str) -> list[Rule]:
    model = model_of(name)
    return next(
        c.rules for t in model.firewall.tables if t.name == table for c in t.chains if c.name == chain
    )


# --- parsing ----------------------------------------------------------------------------------------------


def test_nft_trace_lines_parse_into_packets_rules_and_policies() -> None:
    events = parse_nft_output((FIXTURES / "isolation-icmp.nft.txt").read_text())
    kinds = [(e.table.startswith("dockwire-trace-"), e.kind) for e in events]
    assert kinds == [(True, "packet"), (True, "rule"), (True, "policy"), (False, "packet"), (False, "rule")]
    packet, drop = events[3], events[4]
    m = meta("isolation-icmp")
    assert packet.fields["daddr"] == m["dst_ip"]
    assert packet.fields["icmp_type"] == "echo-request"
    assert packet.fields["icmp_id"] == str(m["marker"])
    assert (drop.table, drop.chain, drop.verdict) == ("raw", "PREROUTING", "drop")
    assert drop.handle is not None
    assert drop.text.endswith("drop")


def test_nft_rule_line_forms() -> None:
    (jump,) = parse_nft_line(
        "trace id 97adeb6a ip nat PREROUTING rule fib daddr type local counter packets 25 bytes 1437 "
        "jump DOCKER # handle 3 (verdict jump DOCKER)"
    )
    assert (jump.kind, jump.handle, jump.verdict) == ("rule", 3, "jump DOCKER")
    (unknown,) = parse_nft_line(
        "trace id 97adeb6a ip dockwire-trace-1-ab pre unknown rule handle 3 (verdict continue)"
    )
    assert (unknown.kind, unknown.handle, unknown.text) == ("rule", 3, "")
    (policy,) = parse_nft_line("trace id 97adeb6a ip raw PREROUTING policy accept ")
    assert (policy.kind, policy.verdict) == ("policy", "accept")
    assert parse_nft_line("add table ip dockwire-trace-1-ab # handle 27") == []


def test_marker_matches_for_both_backends() -> None:
    assert Marker("icmp", 4242).nft_matches() == ["icmp type { echo-request, echo-reply } icmp id 4242"]
    assert Marker("tcp", 50000).nft_matches() == ["tcp sport 50000", "tcp dport 50000"]
    (icmp,) = Marker("icmp", 0x1092).iptables_matches()
    assert icmp[-1] == "0>>22&0x3C@4>>16=0x1092"
    assert Marker("udp", 41000).iptables_matches()[1] == ["-p", "udp", "-m", "udp", "--dport", "41000"]


def test_ipv6_markers_use_icmpv6_and_ip6tables() -> None:
    marker = Marker("icmp", 4242, "ip6")
    assert marker.nft_matches() == ["icmpv6 type { echo-request, echo-reply } icmpv6 id 4242"]
    assert marker.iptables == "ip6tables"
    (icmp,) = marker.iptables_matches()
    # The echo id sits 4 bytes into ICMPv6, after IPv6's fixed 40-byte header.
    assert icmp[:2] == ["-p", "ipv6-icmp"] and icmp[-1] == "44>>16=0x1092"
    assert Marker("tcp", 50000, "ip6").nft_matches() == ["tcp sport 50000", "tcp dport 50000"]


def test_probe_key_tells_request_from_reply_and_ignores_others() -> None:
    key = ProbeKey("tcp", 50000)
    assert key.direction({"l4": "tcp", "sport": "50000", "dport": "80"}) == "request"
    assert key.direction({"l4": "tcp", "sport": "80", "dport": "50000"}) == "reply"
    assert key.direction({"l4": "tcp", "sport": "80", "dport": "50001"}) == ""
    assert key.direction({"l4": "udp", "sport": "50000", "dport": "53"}) == ""
    icmp = ProbeKey("icmp", 7)
    assert icmp.direction({"icmp_type": "echo-reply", "icmp_id": "7"}) == "reply"
    assert icmp.direction({"icmp_type": "echo-request", "icmp_id": "8"}) == ""


# --- recorded probes: the rule the kernel names -----------------------------------------------------------


def test_isolation_drop_is_the_raw_prerouting_rule_for_the_destination() -> None:
    ev = evidence_of("isolation-icmp")
    dst = meta("isolation-icmp")["dst_ip"]
    assert ev.request_traced and not ev.reply_traced
    drop = ev.dropped_by
    assert drop is not None and (drop.table, drop.chain) == ("raw", "PREROUTING")
    assert re.fullmatch(rf"-A PREROUTING -d {re.escape(dst)}/32 ! -i br-[0-9a-f]+ -j DROP", drop.text)
    assert drop.position is not None
    assert chain_rules("isolation-icmp", "raw", "PREROUTING")[drop.position - 1].text == drop.text
    kernel_drop = ev.packets[0].steps[-1]
    assert drop.handle == kernel_drop.handle and kernel_drop.kernel_text.endswith("drop")
    (packet,) = ev.packets
    assert packet.fate == "drop" and [s.verdict for s in packet.steps] == ["drop"]


def test_docker_user_rule_is_named_for_the_blocked_port() -> None:
    ev = evidence_of("docker-user-tcp80")
    drop = ev.dropped_by
    assert drop is not None and (drop.table, drop.chain) == ("filter", "DOCKER-USER")
    assert (
        "--dport 80" in drop.text and "--comment dockwire-lab" in drop.text and drop.text.endswith("-j DROP")
    )
    steps = [(s.chain, s.verdict) for s in ev.packets[0].steps]
    assert ("FORWARD", "jump DOCKER-USER") in steps and steps[-1] == ("DOCKER-USER", "drop")


def test_icc_false_drop_is_the_same_bridge_drop_in_docker_forward() -> None:
    ev = evidence_of("noicc-icmp")
    drop = ev.dropped_by
    assert drop is not None and (drop.table, drop.chain) == ("filter", "DOCKER-FORWARD")
    assert re.fullmatch(r"-A DOCKER-FORWARD -i (br-[0-9a-f]+) -o \1 -j DROP", drop.text)


def test_passing_ping_traces_request_and_reply_without_drop() -> None:
    ev = evidence_of("default-icmp")
    assert ev.dropped_by is None
    assert ev.request_traced and ev.reply_traced
    request = next(p for p in ev.packets if p.direction == "request")
    reply = next(p for p in ev.packets if p.direction == "reply")
    assert request.fate == reply.fate == "accept"
    assert request.steps[-1].rule is not None and request.steps[-1].rule.chain in (
        "DOCKER-FORWARD",
        "POSTROUTING",
    )
    assert any(s.chain == "DOCKER-CT" and s.verdict == "accept" for s in reply.steps)


def test_ipv6_trace_lines_carry_the_echo_id_nft_prints_as_one_word() -> None:
    """nft 1.0.6 shows an ICMPv6 echo's id and sequence as `icmpv6 parameter-problem N` (id << 16 | seq)."""
    m = meta("v6-icmp")
    events = parse_nft_output((FIXTURES / "v6-icmp.nft.txt").read_text())
    dumps = [e for e in events if e.kind == "packet" and not e.table.startswith("dockwire-trace-")]
    assert dumps and all(e.family == "ip6" for e in dumps)
    first = dumps[0].fields
    assert "icmpv6 parameter-problem" in dumps[0].text and "icmpv6 id" not in dumps[0].text
    assert (first["l4"], first["icmp_type"], first["icmp_id"]) == ("icmpv6", "echo-request", str(m["marker"]))
    assert first["daddr"] == m["dst_ip"] and ":" in first["saddr"]


def test_recorded_icmpv6_echo_is_traced_both_ways_through_ip6_filter() -> None:
    ev = evidence_of("v6-icmp")
    assert ev.dropped_by is None and ev.request_traced and ev.reply_traced
    reply = next(p for p in ev.packets if p.direction == "reply")
    assert reply.fate == "accept"
    step = next(s for s in reply.steps if s.chain == "DOCKER-CT")
    assert step.family == "ip6" and step.rule is not None and step.rule.family == "ip6"


def test_recorded_ip6tables_docker_user_drop_is_named_with_its_position() -> None:
    ev = evidence_of("v6-docker-user-tcp80")
    drop = ev.dropped_by
    assert drop is not None and (drop.family, drop.table, drop.chain) == ("ip6", "filter", "DOCKER-USER")
    assert drop.position is not None and drop.label().startswith("ip6 filter/DOCKER-USER #")
    assert chain_rules("v6-docker-user-tcp80", "filter", "DOCKER-USER")[drop.position - 1].text == drop.text
    assert meta("v6-docker-user-tcp80")["dst_ip"] + "/128" in drop.text and "--dport 80" in drop.text


def test_published_port_shows_the_dnat_rule_and_the_rewrite() -> None:
    ev = evidence_of("published-tcp")
    assert ev.dropped_by is None
    dnat = [n for n in ev.nat if "(DNAT)" in n]
    assert dnat and dnat[0].startswith("destination 198.51.100.1:18080 -> ")
    assert any("nat/DOCKER" in n and "--dport 18080 -j DNAT" in n for n in ev.nat)
    # The kernel's trace id changes when the reply is un-NATed; the reply's FORWARD steps still belong to it.
    reply = next(p for p in ev.packets if p.direction == "reply")
    assert any(s.table == "filter" and s.chain == "FORWARD" for s in reply.steps)


def test_handle_positions_follow_the_live_chain_order() -> None:
    orders: dict[tuple[str, str, str], list[int]] = {}
    for doc in json.loads((FIXTURES / "published-tcp.handles.json").read_text()).values():
        orders.update(handle_orders_from_nft_json(doc))
    model = model_of("published-tcp")
    mapper = RuleMapper(model, handle_orders=orders)
    for (family, table, chain), handles in orders.items():
        rules = mapper.chain(family, table, chain)
        assert rules is not None and len(rules.rules) == len(handles), (table, chain)


def test_rewrites_name_the_direction() -> None:
    before = {"daddr": "198.51.100.1", "dport": "18080", "saddr": "198.51.100.2", "sport": "50000"}
    after = {**before, "daddr": "172.17.0.4", "dport": "80"}
    assert rewrites(before, after) == ["destination 198.51.100.1:18080 -> 172.17.0.4:80 (DNAT)"]
    assert "undone" in rewrites(before, after, "reply")[0]


# --- counter fallback -------------------------------------------------------------------------------------


def test_counter_diff_names_the_lab_drop_rule() -> None:
    before = parse_iptables_save((FIXTURES / "docker-user-tcp80.save-before.txt").read_text(), "iptables-nft")
    after = parse_iptables_save((FIXTURES / "docker-user-tcp80.save-after.txt").read_text(), "iptables-nft")
    ev = counter_evidence(before, after, answered=False)
    assert ev.mode == "counters"
    assert any("--comment dockwire-lab" in r.text for r in ev.counted)
    assert ev.dropped_by is not None and "--comment dockwire-lab" in ev.dropped_by.text
    assert counter_evidence(before, after, answered=True).dropped_by is None


def test_counter_diff_is_empty_without_traffic() -> None:
    tables = parse_iptables_save((FIXTURES / "docker-user-tcp80.save-before.txt").read_text(), "iptables-nft")
    ev = counter_evidence(tables, tables, answered=False)
    assert ev.counted == [] and ev.dropped_by is None


# --- legacy TRACE log (hand-written in the kernel's format, see the module docstring) ---------------------

LEGACY_LOG = [
    "4,901,1000,-;TRACE: raw:PREROUTING:policy:3 IN=br-aaa OUT= PHYSIN=veth1 MAC=02:42:ac:12:00:02 "
    "SRC=172.18.0.2 DST=172.19.0.2 LEN=84 TOS=0x00 PREC=0x00 TTL=64 ID=1 "
    "PROTO=ICMP TYPE=8 CODE=0 ID=4242 SEQ=1",
    "4,902,1001,-;TRACE: filter:FORWARD:rule:1 IN=br-aaa OUT=br-bbb PHYSIN=veth1 "
    "SRC=172.18.0.2 DST=172.19.0.2 "
    "LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=1 PROTO=ICMP TYPE=8 CODE=0 ID=4242 SEQ=1",
    "4,903,1002,-;TRACE: filter:DOCKER-ISOLATION-STAGE-1:rule:1 IN=br-aaa OUT=br-bbb SRC=172.18.0.2 "
    "DST=172.19.0.2 LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=1 PROTO=ICMP TYPE=8 CODE=0 ID=4242 SEQ=1",
    "4,904,1003,-;TRACE: filter:DOCKER-ISOLATION-STAGE-2:rule:1 IN=br-aaa OUT=br-bbb SRC=172.18.0.2 "
    "DST=172.19.0.2 LEN=84 TOS=0x00 PREC=0x00 TTL=63 ID=1 PROTO=ICMP TYPE=8 CODE=0 ID=4242 SEQ=1",
]


def _legacy_model() -> HostModel:
    """A 20.10-style ruleset, as iptables-save prints it, with dockwire's TRACE rules not in it."""
    text = """*raw
:PREROUTING ACCEPT [0:0]
:OUTPUT ACCEPT [0:0]
COMMIT
*filter
:INPUT ACCEPT [0:0]
:FORWARD DROP [0:0]
:OUTPUT ACCEPT [0:0]
:DOCKER - [0:0]
:DOCKER-ISOLATION-STAGE-1 - [0:0]
:DOCKER-ISOLATION-STAGE-2 - [0:0]
:DOCKER-USER - [0:0]
-A FORWARD -j DOCKER-ISOLATION-STAGE-1
-A FORWARD -j DOCKER-USER
-A DOCKER-ISOLATION-STAGE-1 -i br-aaa ! -o br-aaa -j DOCKER-ISOLATION-STAGE-2
-A DOCKER-ISOLATION-STAGE-2 -o br-bbb -j DROP
COMMIT
"""
    return HostModel(
        firewall=Firewall(iptables_backend="legacy", tables=parse_iptables_save(text, "iptables-legacy"))
    )


def test_legacy_log_line_parses_table_chain_number_and_icmp_id() -> None:
    packet, step = parse_log_line(parse_kmsg_record(LEGACY_LOG[1]))
    assert (step.table, step.chain, step.kind, step.rulenum) == ("filter", "FORWARD", "rule", 1)
    assert packet.fields["icmp_id"] == "4242" and packet.fields["icmp_type"] == "echo-request"
    assert packet.fields["iif"] == "br-aaa" and packet.fields["oif"] == "br-bbb"
    assert parse_log_line("audit: something else") == []


def test_legacy_log_names_isolation_stage_2_and_discounts_the_trace_rules() -> None:
    events = [e for line in LEGACY_LOG for e in parse_log_line(parse_kmsg_record(line))]
    journeys = group_log(events)
    assert len(journeys) == 1
    key = ProbeKey("icmp", 4242)
    mapper = RuleMapper(_legacy_model(), trace_rules={("raw", "PREROUTING"): [1], ("raw", "OUTPUT"): [1]})
    ev = build_evidence("kernel-log", "", journeys, key, mapper)
    drop = ev.dropped_by
    assert drop is not None
    assert (drop.chain, drop.position, drop.text) == (
        "DOCKER-ISOLATION-STAGE-2",
        1,
        "-A DOCKER-ISOLATION-STAGE-2 -o br-bbb -j DROP",
    )
    verdicts = [s.verdict for s in ev.packets[0].steps]
    assert verdicts == ["accept", "jump DOCKER-ISOLATION-STAGE-1", "jump DOCKER-ISOLATION-STAGE-2", "drop"]
    # raw PREROUTING policy: rule number 3 minus dockwire's own TRACE rule(s) is past the end: the policy.
    assert ev.packets[0].steps[0].kind == "policy"


# ip6tables-legacy TRACE lines as this machine's kernel logged them (Docker 28.5.2, the lab's v6 pair):
# IPv6 addresses spelled out in full, HOPLIMIT where IPv4 has TTL, ICMPv6 types by number.
LEGACY_LOG6 = (
    "TRACE: raw:PREROUTING:policy:4 IN=br-318bcc5e6ec0 OUT= PHYSIN=veth499c05d "
    "MAC=92:68:68:d0:e0:9d:6a:51:6c:7e:b6:87:86:dd SRC=fd00:0d0c:0006:0000:0000:0000:0000:0010 "
    "DST=fd00:0d0c:0006:0000:0000:0000:0000:0011 LEN=62 TC=0 HOPLIMIT=64 FLOWLBL=0 PROTO=ICMPv6 TYPE=128 "
    "CODE=0 ID=10158 SEQ=1 ",
    "TRACE: filter:DOCKER-USER:rule:1 IN=br-318bcc5e6ec0 OUT=br-318bcc5e6ec0 PHYSIN=veth499c05d "
    "PHYSOUT=veth095a5b1 MAC=92:68:68:d0:e0:9d:6a:51:6c:7e:b6:87:86:dd "
    "SRC=fd00:0d0c:0006:0000:0000:0000:0000:0010 DST=fd00:0d0c:0006:0000:0000:0000:0000:0011 LEN=60 TC=0 "
    "HOPLIMIT=64 FLOWLBL=0 PROTO=TCP SPT=47529 DPT=80 SEQ=100000 ACK=0 WINDOW=8192 RES=0x00 SYN URGP=0 ",
)


def test_ip6tables_legacy_log_lines_read_as_ipv6_with_compressed_addresses() -> None:
    packet, step = parse_log_line(LEGACY_LOG6[0])
    assert (step.family, step.table, step.chain, step.kind) == ("ip6", "raw", "PREROUTING", "policy")
    fields = packet.fields
    assert (fields["saddr"], fields["daddr"], fields["ttl"]) == ("fd00:d0c:6::10", "fd00:d0c:6::11", "64")
    assert (fields["l4"], fields["icmp_type"], fields["icmp_id"]) == ("icmpv6", "echo-request", "10158")
    assert ProbeKey("icmp", 10158).direction(fields) == "request"
    tcp, rule = parse_log_line(LEGACY_LOG6[1])
    assert (rule.family, rule.chain, rule.rulenum) == ("ip6", "DOCKER-USER", 1)
    assert ProbeKey("tcp", 47529).direction(tcp.fields) == "request"


@pytest.mark.parametrize("bad", ["", "TRACE: raw", "TRACE: raw:PREROUTING:rule:x IN="])
def test_legacy_log_ignores_garbage(bad: str) -> None:
    assert parse_log_line(bad) == []


# --- Docker's native nftables backend (29.x): rules carry their own handles --------------------------------


def test_native_nftables_drop_is_found_by_its_handle() -> None:
    """The ruleset is the firewall fixtures' Docker 29 nftables layout as the real `nft` lists it; the trace
    lines are written in the recorded `nft monitor trace` format (no 29.x nftables engine runs here)."""
    from dockwire.probes.nft_ruleset import parse_nft_json

    ruleset = (Path(__file__).parent / "fixtures" / "firewall" / "docker29-nftables.json").read_text()
    model = HostModel(firewall=Firewall(tables=parse_nft_json(ruleset)))
    lines = [
        'trace id 1a2b3c4d ip dockwire-trace-1-abcdef pre packet: iif "bridge1" ip saddr 192.0.2.9 '
        "ip daddr 172.17.0.2 ip ttl 64 icmp type echo-request icmp id 77 icmp sequence 1 ",
        "trace id 1a2b3c4d ip dockwire-trace-1-abcdef pre unknown rule handle 4 (verdict continue)",
        'trace id 1a2b3c4d ip docker-bridges raw-PREROUTING packet: iif "bridge1" ip saddr 192.0.2.9 '
        "ip daddr 172.17.0.2 ip ttl 64 icmp type echo-request icmp id 77 icmp sequence 1 ",
        'trace id 1a2b3c4d ip docker-bridges raw-PREROUTING rule ip daddr 172.17.0.2 iifname != "docker0" '
        'counter packets 0 bytes 0 drop comment "DROP DIRECT ACCESS" # handle 32 (verdict drop)',
    ]
    events = parse_nft_output("\n".join(lines))
    key = ProbeKey("icmp", 77)
    ev = build_evidence(
        "nftrace", "", group_nft(events, "dockwire-trace-1-abcdef", key), key, RuleMapper(model)
    )
    drop = ev.dropped_by
    assert drop is not None and (drop.table, drop.chain, drop.handle) == (
        "docker-bridges",
        "raw-PREROUTING",
        32,
    )
    assert "DROP DIRECT ACCESS" in drop.text and drop.position == 1
