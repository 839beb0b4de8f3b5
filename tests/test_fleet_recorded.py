"""Verdicts across two hosts on recorded models: the two-host lab (this machine and the lab's host B, over
the classic static routes), recorded with what real traffic did, before and after the fix `why` suggests
(scripts/record-two-host-fixtures; tests/fixtures/two_hosts/README.md).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from dockwire.cli import main
from dockwire.fleet import Fleet, FleetError
from dockwire.snapshot import load
from dockwire.verdict.endpoints import EndpointError
from dockwire.verdict.fleet_ends import resolve_pair, split_host
from dockwire.verdict.fleet_matrix import build_fleet_matrix
from dockwire.verdict.fleet_verdict import evaluate_fleet
from dockwire.verdict.render import render_verdict
from dockwire.verdict.verdict import evaluate
from tests.two_hosts_cases import A_WEB, B_WEB, CASES, Case, case_id

RECORDED = Path(__file__).parent / "fixtures" / "two_hosts"
NAMES = sorted(p.name for p in RECORDED.iterdir() if p.is_dir())
#: Recordings where A -> B was blocked, so that the fix `why` suggested was applied and recorded too.
FIXED = [n for n in NAMES if (RECORDED / n / "fixed-observed.json").exists()]
STATES = [(n, "") for n in NAMES] + [(n, "fixed-") for n in FIXED]
SEED_28 = "engine-28.5.2-iptables-nft"


def fleet_of(name: str, prefix: str = "") -> Fleet:
    return Fleet.of([(h, load(RECORDED / name / f"{prefix}{h}.json")) for h in ("a", "b")])


def observed(name: str, prefix: str = "") -> dict[str, bool]:
    found: dict[str, bool] = json.loads((RECORDED / name / f"{prefix}observed.json").read_text())
    return found


@pytest.mark.parametrize(("name", "state"), STATES, ids=[f"{n}-{s or 'seed-'}" for n, s in STATES])
@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_recorded_traffic_agrees(name: str, state: str, case: Case) -> None:
    fleet = fleet_of(name, state)
    src_host, src, dst_host, dst, proto, port = case
    v = evaluate_fleet(fleet, f"{src}@{src_host}", f"{dst}@{dst_host}", proto, port)
    assert (v.verdict == "allowed") == observed(name, state)[case_id(case)], render_verdict(v)
    if v.verdict == "blocked":
        # The receiving host drops it: its raw PREROUTING direct-access rule for the destination.
        assert v.culprit is not None and v.culprit.host == dst_host, render_verdict(v)
        assert (v.culprit.table, v.culprit.chain, v.culprit.owner) == ("raw", "PREROUTING", "docker")
        assert v.culprit.text == f"-A PREROUTING -d {v.dst.address}/32 ! -i docker0 -j DROP"
        assert v.fix_host == dst_host


@pytest.mark.parametrize("name", NAMES)
def test_the_walk_crosses_with_the_packet_as_it_left(name: str) -> None:
    v = evaluate_fleet(fleet_of(name), f"{A_WEB}@a", f"{B_WEB}@b")
    hops = [(h.host, h.text) for h in v.path]
    assert ("a", "leaves host a on dwlab-hosta towards 198.51.100.242 (host b)") in hops
    arrived = next(text for host, text in hops if host == "b")
    # A masqueraded the container: B sees A's link address.
    assert arrived == f"arrives at host b on eth0: icmp 198.51.100.241 -> {v.dst.address}"
    assert any(r.host == "a" and r.effect == "MASQUERADE" for r in v.matched)
    if v.verdict == "blocked":  # a's hops, then b's, where it stops
        assert [h.host for h in v.path] == sorted(h.host for h in v.path)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("engine-20.")])
def test_on_20_10_the_seed_works_through_its_appended_accept(name: str) -> None:
    for case in CASES:
        src_host, src, dst_host, dst, proto, port = case
        v = evaluate_fleet(fleet_of(name), f"{src}@{src_host}", f"{dst}@{dst_host}", proto, port)
        accepted = [r for r in v.matched if r.host == dst_host and r.effect == "ACCEPT"]
        assert v.verdict == "allowed", render_verdict(v)
        assert "-A FORWARD -s 198.51.100.240/28 -m comment --comment dwlab-two-hosts -j ACCEPT" in [
            r.text for r in accepted
        ], render_verdict(v)


@pytest.mark.parametrize("name", [n for n in NAMES if n.startswith("engine-28")])
def test_fix_on_28_names_both_steps_on_the_receiving_host(name: str) -> None:
    v = evaluate_fleet(fleet_of(name), f"{A_WEB}@a", f"{B_WEB}@b:80", "tcp")
    assert v.fix_host == "b"
    assert v.fix == [
        "iptables -I DOCKER-USER -i eth0 -o docker0 -s 198.51.100.240/28 -d 10.199.0.0/16 -j ACCEPT"
    ]
    assert '"allow-direct-routing": true' in v.fix_note
    assert "trusted_host_interfaces=eth0" in v.fix_note
    assert "gateway mode routed or nat-unprotected" in v.fix_note


@pytest.mark.parametrize("name", FIXED)
def test_after_the_fix_the_reply_comes_back_through_both_hosts(name: str) -> None:
    v = evaluate_fleet(fleet_of(name, "fixed-"), f"{A_WEB}@a", f"{B_WEB}@b:80", "tcp")
    assert v.verdict == "allowed", render_verdict(v)
    reply = [(h.host, h.text) for h in v.path if h.direction == "reply"]
    assert reply[0][0] == "b" and reply[-1][0] == "a"
    assert ("a", f"delivered to {A_WEB} through docker0") in reply
    assert any(r.host == "b" and r.chain == "DOCKER-USER" and r.effect == "ACCEPT" for r in v.matched)


def test_one_host_is_exactly_evaluate() -> None:
    name = SEED_28
    model = load(RECORDED / name / "a.json")
    one = Fleet.of([("a", model)])
    assert evaluate_fleet(one, A_WEB, "dwlab-default-a", "tcp", 80) == evaluate(
        model, A_WEB, "dwlab-default-a", "tcp", 80
    )
    assert evaluate_fleet(one, f"{A_WEB}@a", "dwlab-default-a") == evaluate(model, A_WEB, "dwlab-default-a")


# --- naming the ends ---------------------------------------------------------------------------------------


def test_split_host() -> None:
    assert split_host("web@b") == ("web", "b")
    assert split_host("web@b:80") == ("web:80", "b")
    assert split_host("web:80@b") == ("web:80", "b")
    assert split_host("10.199.0.2") == ("10.199.0.2", None)
    for bad in ("@b", "web@", "web:1@b:2"):
        with pytest.raises(EndpointError):
            split_host(bad)


def test_plain_names_addresses_and_keywords_find_their_host() -> None:
    fleet = fleet_of(SEED_28)
    s, d = resolve_pair(fleet, A_WEB, B_WEB)
    assert (s.host, d.host) == ("a", "b")
    s, d = resolve_pair(fleet, A_WEB, "10.199.0.2")
    assert d.host == "b" and d.end.kind == "container" and d.end.container is not None
    assert d.end.container.name == B_WEB
    s, d = resolve_pair(fleet, "host", B_WEB)  # `host` is the other end's host
    assert (s.host, s.end.kind) == ("b", "host")
    s, d = resolve_pair(fleet, f"{A_WEB}@a", "host@b")
    assert (d.host, d.end.kind) == ("b", "host")


def test_naming_errors_are_one_line() -> None:
    fleet = fleet_of(SEED_28)
    with pytest.raises(FleetError, match="no host named 'c'; hosts: a, b"):
        resolve_pair(fleet, f"{A_WEB}@c", B_WEB)
    with pytest.raises(EndpointError, match="which host"):
        resolve_pair(fleet, "host", "outside")
    with pytest.raises(EndpointError, match="not a container on any host"):
        resolve_pair(fleet, "nosuch", B_WEB)
    twice = Fleet.of([("a", fleet.model("a")), ("c", fleet.model("a"))])
    with pytest.raises(EndpointError, match=f"say {A_WEB}@a or {A_WEB}@c"):
        resolve_pair(twice, A_WEB, B_WEB)
    with pytest.raises(FleetError, match="given twice"):
        Fleet.of([("a", fleet.model("a")), ("a", fleet.model("b"))])


def test_host_to_a_remote_host_uses_an_address_it_routes_to() -> None:
    v = evaluate_fleet(fleet_of(SEED_28), "host@a", "host@b")
    assert v.dst.address == "198.51.100.242" and v.verdict == "allowed", render_verdict(v)


# --- the command line --------------------------------------------------------------------------------------


def _snapshots(name: str, named: bool = True) -> list[str]:
    args = []
    for h in ("a", "b"):
        path = str(RECORDED / name / f"{h}.json")
        args += ["--snapshot", f"{h}={path}" if named else path]
    return args


def test_why_across_hosts_names_the_host() -> None:
    result = CliRunner().invoke(main, ["why", f"{A_WEB}@a", f"{B_WEB}@b:80", *_snapshots(SEED_28)])
    assert result.exit_code == 1, result.output
    assert "culprit:  host b: raw PREROUTING #" in result.output
    assert "fix on:   host b" in result.output
    assert "[b] arrives at host b on eth0" in result.output
    data = json.loads(CliRunner().invoke(main, ["why", A_WEB, B_WEB, "--json", *_snapshots(SEED_28)]).output)
    assert data["culprit"]["host"] == "b" and data["fix_host"] == "b"
    assert (data["src"]["host"], data["dst"]["host"]) == ("a", "b")


def test_bare_snapshots_are_named_by_their_hostname() -> None:
    args = ["why", f"{A_WEB}@vm", f"{B_WEB}@dwlab-hostb", *_snapshots(SEED_28, named=False)]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 1, result.output
    assert "host dwlab-hostb: raw PREROUTING" in result.output


def test_cli_errors_are_one_line() -> None:
    runner = CliRunner()
    result = runner.invoke(main, ["why", f"{A_WEB}@zz", B_WEB, *_snapshots(SEED_28)])
    assert result.exit_code == 2 and result.output.count("\n") == 1, result.output
    assert "no host named 'zz'" in result.output
    path = str(RECORDED / SEED_28 / "a.json")
    result = runner.invoke(main, ["why", A_WEB, B_WEB, "--snapshot", f"a={path}", "--snapshot", f"a={path}"])
    assert result.exit_code == 2 and "given twice" in result.output
    result = runner.invoke(main, [*_snapshots(SEED_28), "snapshot"])
    assert result.exit_code == 2 and result.output.count("\n") == 1


def test_matrix_across_hosts() -> None:
    fleet = fleet_of(SEED_28)
    m = build_fleet_matrix(fleet)
    assert f"{B_WEB}@b" in m.containers and f"{A_WEB}@a" in m.containers
    cell = next(c for c in m.cells if (c.src, c.dst) == (f"{A_WEB}@a", f"{B_WEB}@b"))
    assert [(c.proto, c.verdict) for c in cell.checks] == [("icmp", "blocked")]
    assert cell.checks[0].culprit == "raw PREROUTING"
    result = CliRunner().invoke(main, ["matrix", *_snapshots(SEED_28)])
    assert result.exit_code == 0, result.output
    assert f"{B_WEB}@b" in result.output and "  b bridge:" in result.output
