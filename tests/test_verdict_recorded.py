"""The verdict engine on recorded snapshots of the lab, checked against the traffic recorded with them.

tests/fixtures/snapshots/NAME.json is a real snapshot and NAME.observed.json what real probes did at the same
moment (scripts/record-verdict-fixtures). Every recorded pair is checked, whichever engines and backends have
been recorded; the detailed culprit/fix checks use the Docker 28.5.2 (iptables-nft) recording.
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import msgspec
import pytest
from click.testing import CliRunner

from dockwire.cli import main
from dockwire.model import HostModel
from dockwire.snapshot import load
from dockwire.verdict.endpoints import EndpointError, resolve_endpoint
from dockwire.verdict.records import Verdict
from dockwire.verdict.render import render_verdict
from dockwire.verdict.verdict import VerdictError, evaluate
from tests.lab_traffic import OUTSIDE, Case, ask, docker_destination, inspect_by_name

SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"
DOCKER_DOCS = Path(__file__).parent / "fixtures" / "docker"
RECORDED = sorted(SNAPSHOTS.glob("engine-*.observed.json"))
ENGINE_28 = SNAPSHOTS / "engine-28.5.2-iptables-nft.json"


@cache
def snapshot(path: Path) -> HostModel:
    return load(path)


@cache
def docker_documents(snap: Path) -> tuple[dict[str, dict[str, Any]], list[dict[str, Any]]]:
    """`docker inspect` of the recorded host's containers (by name) and networks, taken with the snapshot."""
    docs = json.loads((DOCKER_DOCS / snap.name).read_text())
    return inspect_by_name(docs["containers"]), docs["networks"]


def recorded_cases() -> list[tuple[Path, dict]]:
    pairs: list[tuple[Path, dict]] = []
    for observed in RECORDED:
        meta = json.loads(observed.read_text())
        snap = observed.with_name(observed.name.removesuffix(".observed.json") + ".json")
        pairs.extend((snap, case) for case in meta["cases"])
    return pairs


PAIRS = recorded_cases()


def recorded(case: dict) -> Case:
    """The question a recorded case asked (recordings before IPv6 have no family: 4)."""
    return Case(case["src"], case["dst"], case["proto"], case["port"], family=case.get("family", 4))


@pytest.mark.parametrize(
    ("snap", "case"),
    PAIRS,
    ids=[f"{s.stem}:{recorded(c).id}" for s, c in PAIRS],
)
def test_engine_agrees_with_the_recorded_traffic(snap: Path, case: dict) -> None:
    """Allowed exactly when the real packet got through, about the address Docker gives the destination."""
    model = snapshot(snap)
    question = recorded(case)
    verdict = ask(model, question)
    expected = "allowed" if case["reached"] else "blocked"
    assert verdict.verdict == expected, render_verdict(verdict)
    if case["proto"] != "dns":
        docker_address = docker_destination(*docker_documents(snap), question)
        assert case["dst_address"] == docker_address  # what the recording really probed
        assert verdict.dst.address == docker_address


@pytest.fixture(scope="module")
def m28() -> HostModel:
    return snapshot(ENGINE_28)


def why(model: HostModel, src: str, dst: str, proto: str = "icmp", port: int | None = None) -> Verdict:
    return evaluate(model, src, dst, proto, port)


# --- culprits and fixes on Docker 28.5.2 --------------------------------------------------------------------


def test_docker_user_rule_is_the_culprit_and_fix_deletes_it_by_spec(m28: HostModel) -> None:
    v = why(m28, "dwlab-default-a", "dwlab-default-b", "tcp", 80)
    assert v.verdict == "blocked"
    assert v.culprit is not None and (v.culprit.table, v.culprit.chain, v.culprit.position) == (
        "filter",
        "DOCKER-USER",
        1,
    )
    assert v.culprit.hook == "forward" and v.culprit.direction == "request"
    assert v.rule is not None and v.rule.text == v.culprit.text
    spec = v.culprit.text.removeprefix("-A DOCKER-USER ")
    assert v.fix == [f"iptables -D DOCKER-USER {spec}"]


def test_bridged_traffic_meets_iptables_only_through_br_netfilter(m28: HostModel) -> None:
    v = why(m28, "dwlab-default-a", "dwlab-default-b", "tcp", 80)
    assert any("br_netfilter" in h.text for h in v.path)
    off = msgspec.structs.replace(
        m28, sysctls=msgspec.structs.replace(m28.sysctls, bridge_nf_call_iptables=0)
    )
    v_off = why(off, "dwlab-default-a", "dwlab-default-b", "tcp", 80)
    assert v_off.verdict == "allowed"
    assert any("br_netfilter off" in h.text for h in v_off.path)


def test_cross_bridge_is_dropped_in_raw_prerouting_and_fixed_by_connecting(m28: HostModel) -> None:
    v = why(m28, "dwlab-iso-a", "dwlab-iso-b")
    assert v.culprit is not None and (v.culprit.table, v.culprit.chain) == ("raw", "PREROUTING")
    iso_b = m28.container("dwlab-iso-b")
    assert iso_b is not None
    assert v.culprit.text.startswith(f"-A PREROUTING -d {iso_b.endpoints[0].ip}/32 ! -i br-")
    assert v.fix == ["docker network connect dwlab-net-b dwlab-iso-a"]


def test_icc_false_names_the_docker_forward_drop(m28: HostModel) -> None:
    v = why(m28, "dwlab-noicc-a", "dwlab-noicc-b")
    assert v.culprit is not None and v.culprit.chain == "DOCKER-FORWARD"
    assert v.culprit.text.endswith("-j DROP") and " -o br-" in v.culprit.text
    assert any(cmd.startswith("docker network create") for cmd in v.fix)


def test_internal_network_has_no_route_out_and_drops_traffic_in(m28: HostModel) -> None:
    out = why(m28, "dwlab-internal-a", OUTSIDE)
    assert (out.verdict, out.missing, out.culprit) == ("blocked", "container-route", None)
    assert out.fix == ["docker network connect bridge dwlab-internal-a"]
    into = why(m28, "dwlab-default-a", "dwlab-internal-a")
    assert into.culprit is not None and into.culprit.chain == "DOCKER-ISOLATION-STAGE-1"
    internal = next(n for n in m28.networks if n.name == "dwlab-internal")
    assert f"! -s {internal.subnets[0].subnet} -o {internal.bridge} -j DROP" in into.culprit.text


def test_published_port_from_outside_is_dnatted_then_forwarded(m28: HostModel) -> None:
    v = why(m28, OUTSIDE, "198.51.100.1:18080", "tcp")
    assert v.verdict == "allowed"
    nat = [h.text for h in v.path if h.kind == "nat"]
    web = m28.container("dwlab-web")
    assert web is not None
    assert nat and f"DNAT {web.endpoints[0].ip}:80" in nat[0]
    hooks = [(r.direction, r.hook, r.chain) for r in v.matched]
    assert ("request", "forward", "DOCKER") in hooks  # the per-port ACCEPT
    assert ("reply", "forward", "DOCKER-FORWARD") in hooks


def test_loopback_published_port_goes_through_docker_proxy(m28: HostModel) -> None:
    v = why(m28, "host", "127.0.0.1:18080", "tcp")
    assert v.verdict == "allowed"
    assert any(h.kind == "proxy" for h in v.path)
    assert {h.direction for h in v.path} == {"request", "proxy request", "proxy reply", "reply"}


def test_port_published_only_on_loopback_is_not_reachable_from_outside(m28: HostModel) -> None:
    v = why(m28, OUTSIDE, "198.51.100.1:15353", "udp")
    assert (v.verdict, v.missing) == ("blocked", "not-published")
    assert "only on 127.0.0.1" in v.reason
    assert v.fix[-1].startswith("docker run -d --name dwlab-web -p 15353:5353/udp")


def test_direct_access_from_outside_suggests_the_published_port(m28: HostModel) -> None:
    v = why(m28, OUTSIDE, "dwlab-web", "tcp", 80)
    assert v.culprit is not None and v.culprit.chain == "PREROUTING"
    assert v.fix == [f"dockwire why {OUTSIDE} 198.51.100.1:18080 --proto tcp"]


def test_network_none_and_sidecar(m28: HostModel) -> None:
    none = why(m28, "dwlab-none", "dwlab-default-a")
    assert (none.verdict, none.missing) == ("blocked", "network-none")
    assert none.fix == [
        "docker network disconnect none dwlab-none",
        "docker network connect bridge dwlab-none",
    ]
    side = why(m28, "dwlab-sidecar", "dwlab-web", "tcp", 80)
    assert side.verdict == "allowed" and side.dst.address == "127.0.0.1"
    assert not side.matched


def test_masquerade_to_outside_is_undone_for_the_reply(m28: HostModel) -> None:
    v = why(m28, "dwlab-default-a", OUTSIDE)
    assert v.verdict == "allowed"
    assert any(h.kind == "nat" and "MASQUERADE" in h.text for h in v.path)
    assert [h.text for h in v.path if h.kind == "deliver"][
        -1
    ] == "delivered to dwlab-default-a through docker0"


def test_ip_forward_off_is_the_missing_piece(m28: HostModel) -> None:
    off = msgspec.structs.replace(m28, sysctls=msgspec.structs.replace(m28.sysctls, ip_forward=0))
    v = why(off, "dwlab-default-a", OUTSIDE)
    assert (v.verdict, v.missing, v.fix) == ("blocked", "ip_forward", ["sysctl -w net.ipv4.ip_forward=1"])
    # bridged traffic does not need forwarding
    assert why(off, "dwlab-default-a", "dwlab-default-b").verdict == "allowed"


def test_stopped_container_is_the_missing_piece(m28: HostModel) -> None:
    b = m28.container("dwlab-default-b")
    assert b is not None
    stopped = msgspec.structs.replace(b, state="exited")
    model = msgspec.structs.replace(m28, containers=[stopped if c.id == b.id else c for c in m28.containers])
    v = why(model, "dwlab-default-a", "dwlab-default-b")
    assert (v.verdict, v.missing, v.fix) == ("blocked", "not-running", ["docker start dwlab-default-b"])


# --- DNS ---------------------------------------------------------------------------------------------------


def test_dns_on_default_bridge_user_network_and_links(m28: HostModel) -> None:
    default = why(m28, "dwlab-default-a", "name:dwlab-default-b")
    assert (default.verdict, default.missing) == ("blocked", "dns")
    assert "default bridge has no embedded DNS" in default.reason
    other_net = why(m28, "dwlab-iso-a", "name:dwlab-iso-b")
    assert other_net.verdict == "blocked" and other_net.fix == [
        "docker network connect dwlab-net-b dwlab-iso-a"
    ]
    same_net = why(m28, "dwlab-noicc-a", "name:dwlab-noicc-b")
    b = m28.container("dwlab-noicc-b")
    assert b is not None
    assert (same_net.verdict, same_net.resolved) == ("allowed", b.endpoints[0].ip)
    link = why(m28, "dwlab-linked", "name:db")
    a = m28.container("dwlab-default-a")
    assert a is not None
    assert (link.verdict, link.resolved) == ("allowed", a.endpoints[0].ip)
    assert "/etc/hosts" in link.reason


# --- endpoints and the question itself ----------------------------------------------------------------------


def test_endpoint_resolution(m28: HostModel) -> None:
    web = m28.container("dwlab-web")
    assert web is not None
    assert resolve_endpoint(m28, web.id[:8]).container == web
    assert resolve_endpoint(m28, web.endpoints[0].ip).container == web
    assert resolve_endpoint(m28, "198.51.100.1").kind == "host"
    assert resolve_endpoint(m28, "198.51.100.1:18080").kind == "published"
    assert resolve_endpoint(m28, "outside").assumed_address
    assert resolve_endpoint(m28, "203.0.113.7").kind == "outside"
    assert resolve_endpoint(m28, "dwlab-sidecar").container is not None
    assert resolve_endpoint(m28, "2001:db8::7").kind == "outside"
    assert resolve_endpoint(m28, "[2001:db8::7]:80").port == 80
    assert resolve_endpoint(m28, "outside:2001:db8::7").address == "2001:db8::7"


@pytest.mark.parametrize(
    ("text", "role", "message"),
    [
        ("dwlab-", "dst", "ambiguous: it matches dwlab-custom-a"),
        ("dwlab-defualt-a", "dst", "did you mean dwlab-default-a"),
        ("name:db", "src", "only be a destination"),
        ("dwlab-web:99999", "dst", "out of range"),
        ("[fd00::1", "dst", "brackets hold an IPv6 address"),
        ("[10.0.0.1]:80", "dst", "brackets hold an IPv6 address"),
        ("[fd00::1]:80", "src", "port can only be given for the destination"),
        ("fd00::zz", "dst", "not an IPv6 address"),
        ("outside:nowhere", "src", "not an IP address"),
        ("dwlab-web:80", "src", "port can only be given for the destination"),
    ],
)
def test_bad_endpoints_are_one_line_errors(m28: HostModel, text: str, role: str, message: str) -> None:
    with pytest.raises(EndpointError, match=message):
        resolve_endpoint(m28, text, role)


@pytest.mark.parametrize(
    ("proto", "port", "message"),
    [
        ("icmp", 80, "only makes sense"),
        ("tcp", None, "needs a destination port"),
        ("sctp", 1, "not supported"),
    ],
)
def test_bad_questions(m28: HostModel, proto: str, port: int | None, message: str) -> None:
    with pytest.raises(VerdictError, match=message):
        evaluate(m28, "dwlab-default-a", "dwlab-default-b", proto, port)


# --- the command line --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("args", "code"),
    [
        (["dwlab-default-a", "dwlab-default-b"], 0),
        (["dwlab-default-a", "dwlab-default-b", "--port", "80"], 1),
        (["dwlab-default-a", "nosuch"], 2),
        (["dwlab-default-a", "name:dwlab-default-b"], 1),
    ],
)
def test_why_exit_codes(args: list[str], code: int) -> None:
    result = CliRunner().invoke(main, ["why", *args, "--snapshot", str(ENGINE_28)])
    assert result.exit_code == code, result.output
    if code == 2:
        assert result.output.startswith("dockwire: ") and len(result.output.strip().splitlines()) == 1


def test_why_json_is_the_verdict_record() -> None:
    result = CliRunner().invoke(
        main, ["why", "dwlab-default-a", "dwlab-default-b:80", "--json", "--snapshot", str(ENGINE_28)]
    )
    assert result.exit_code == 1
    verdict = msgspec.json.decode(result.output, type=Verdict)
    assert verdict.verdict == "blocked" and verdict.proto == "tcp" and verdict.port == 80
    keys = list(json.loads(result.output))
    assert keys[:5] == ["schema_version", "verdict", "src", "dst", "proto"]
    assert {"path", "matched", "culprit", "rule", "missing", "fix", "notes"} <= set(keys)


def test_uncertain_exit_code_when_a_rule_cannot_be_evaluated(m28: HostModel) -> None:
    from tests.verdict_models import with_rule

    model = with_rule(
        m28, "filter", "DOCKER-USER", "-A DOCKER-USER -p tcp -m length --length 1:100 -j DROP", position=1
    )
    v = why(model, "dwlab-default-b", "dwlab-default-a", "tcp", 80)
    assert v.verdict == "uncertain" and v.exit_code == 3
    assert [u.text for u in v.unknown] == ["-A DOCKER-USER -p tcp -m length --length 1:100 -j DROP"]


def test_unreadable_firewall_makes_netfilter_verdicts_uncertain(m28: HostModel) -> None:
    stale = msgspec.structs.replace(m28, stale={"firewall:iptables": "iptables-save: permission denied"})
    v = why(stale, "dwlab-default-a", "dwlab-default-b")
    assert v.verdict == "uncertain" and "firewall could not be read" in v.reason
    assert why(stale, "dwlab-none", "dwlab-default-a").verdict == "blocked"  # no netfilter involved


def test_on_a_mixed_backend_host_the_fix_names_the_culprits_backend() -> None:
    """A real recording: `iptables` points at legacy, but the FORWARD DROP policy that drops the flow sits in
    iptables-nft (left by an earlier engine). A plain `iptables -I FORWARD …` would go into the legacy table
    and change nothing; the fix names iptables-nft."""
    model = snapshot(SNAPSHOTS / "engine-28.5.2-iptables-legacy-nft-leftovers.json")
    assert model.firewall.iptables_backend == "legacy"
    v = why(model, "dwlab-default-a", "dwlab-default-b")
    assert v.verdict == "blocked" and v.culprit is not None
    assert (v.culprit.source, v.culprit.chain, v.culprit.kind) == ("iptables-nft", "FORWARD", "policy")
    assert v.fix and all(cmd.startswith("iptables-nft ") for cmd in v.fix), v.fix
