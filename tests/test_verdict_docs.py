"""The verdict engine on firewall layouts BUILT FROM DOCKER'S DOCUMENTED RULES (not recorded from a daemon).

tests/fixtures/snapshots/docs-*.json are the recorded 28.5.2 lab snapshot with its firewall replaced by the
rules Docker 20.10 (<=27), 29.x iptables and 29.x nftables would program for the same networks and
containers (tests/doc_layouts.py, from moby's templates and generated docs). The expectations below follow
from those documents: where each layout drops what, and by which chain.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

import pytest

from dockwire.model import HostModel
from dockwire.snapshot import load
from dockwire.verdict.records import Verdict
from dockwire.verdict.render import render_verdict
from tests.lab_traffic import OUTSIDE, Case, ask, cases_in

SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"
LAYOUTS = ("docs-20.10", "docs-29-iptables", "docs-29-nftables")
ALLOWED = ("allowed", "")

# case -> expected (verdict, "table chain" of the culprit or the missing piece) per layout, in LAYOUTS order.
# "table chain*" matches a chain name prefix (per-bridge nftables chains).
EXPECTED: dict[Case, tuple[tuple[str, str], ...]] = {
    Case("dwlab-default-a", "dwlab-default-b"): (ALLOWED, ALLOWED, ALLOWED),
    Case("dwlab-default-a", "dwlab-default-b", "tcp", 80): (
        ("blocked", "filter DOCKER-USER"),
        ("blocked", "filter DOCKER-USER"),
        ("blocked", "dwtest-user forward"),
    ),
    Case("dwlab-iso-a", "dwlab-iso-b"): (
        ("blocked", "filter DOCKER-ISOLATION-STAGE-2"),
        ("blocked", "raw PREROUTING"),
        ("blocked", "docker-bridges raw-PREROUTING"),
    ),
    Case("dwlab-iso-a", "dwlab-web", "tcp", 80): (
        ("blocked", "filter DOCKER-ISOLATION-STAGE-2"),
        ("blocked", "raw PREROUTING"),
        ("blocked", "docker-bridges raw-PREROUTING"),
    ),
    Case("dwlab-noicc-a", "dwlab-noicc-b"): (
        ("blocked", "filter FORWARD"),
        ("blocked", "filter DOCKER-FORWARD"),
        ("blocked", "docker-bridges filter-forward-in__*"),
    ),
    Case("dwlab-internal-a", "dwlab-internal-b"): (ALLOWED, ALLOWED, ALLOWED),
    Case("dwlab-internal-a", OUTSIDE): (("blocked", "container-route"),) * 3,
    Case("dwlab-default-a", "dwlab-internal-a"): (
        ("blocked", "filter DOCKER-ISOLATION-STAGE-1"),
        ("blocked", "filter DOCKER-INTERNAL"),
        ("blocked", "docker-bridges filter-forward-in__*"),
    ),
    # <=27 had no direct-access filtering: a published container port was reachable by its own address.
    Case(OUTSIDE, "dwlab-web", "tcp", 80): (
        ALLOWED,
        ("blocked", "raw PREROUTING"),
        ("blocked", "docker-bridges raw-PREROUTING"),
    ),
    Case(OUTSIDE, "dwlab-web"): (
        ("blocked", "filter FORWARD"),
        ("blocked", "raw PREROUTING"),
        ("blocked", "docker-bridges raw-PREROUTING"),
    ),
    Case(OUTSIDE, "198.51.100.1:18080", "tcp"): (ALLOWED, ALLOWED, ALLOWED),
    Case(OUTSIDE, "198.51.100.1:15353", "udp"): (("blocked", "not-published"),) * 3,
    Case("dwlab-default-a", OUTSIDE): (ALLOWED, ALLOWED, ALLOWED),
    Case("dwlab-iso-a", "host:18080", "tcp"): (ALLOWED, ALLOWED, ALLOWED),
    Case("host", "127.0.0.1:18080", "tcp"): (ALLOWED, ALLOWED, ALLOWED),
}


@cache
def layout(name: str) -> HostModel:
    return load(SNAPSHOTS / f"{name}.json")


def where_blocked(v: Verdict) -> str:
    if v.culprit is not None:
        return f"{v.culprit.table} {v.culprit.chain}"
    return v.missing


def test_docs_fixtures_say_they_are_built_from_docs() -> None:
    for name in LAYOUTS:
        assert (
            (SNAPSHOTS / f"{name}.rules")
            .read_text()
            .startswith("# NOT RECORDED. Built from Docker's documented")
        )
        assert "built from docs" in layout(name).hostname


@pytest.mark.parametrize("index", range(len(LAYOUTS)), ids=LAYOUTS)
@pytest.mark.parametrize("case", list(EXPECTED), ids=[c.id for c in EXPECTED])
def test_layout_verdicts(case: Case, index: int) -> None:
    v = ask(layout(LAYOUTS[index]), case)
    verdict, culprit = EXPECTED[case][index]
    assert v.verdict == verdict, render_verdict(v)
    if culprit.endswith("*"):
        assert where_blocked(v).startswith(culprit[:-1]), render_verdict(v)
    else:
        assert where_blocked(v) == culprit, render_verdict(v)


@pytest.mark.parametrize("name", LAYOUTS)
def test_no_lab_case_is_uncertain(name: str) -> None:
    model = layout(name)
    for case in cases_in(model):
        v = ask(model, case)
        assert v.verdict != "uncertain", render_verdict(v)


def test_29_iptables_dnats_from_other_bridges_where_28_used_the_proxy() -> None:
    case = Case("dwlab-iso-a", "host:18080", "tcp")
    v29 = ask(layout("docs-29-iptables"), case)
    assert any(h.kind == "nat" and "DNAT" in h.text for h in v29.path)
    assert not any(h.kind == "proxy" for h in v29.path)
    v20 = ask(layout("docs-20.10"), case)
    assert any(h.kind == "proxy" for h in v20.path)


def test_nftables_vmaps_lead_into_per_bridge_chains() -> None:
    v = ask(layout("docs-29-nftables"), Case(OUTSIDE, "198.51.100.1:18080", "tcp"))
    effects = [(r.direction, r.chain, r.effect) for r in v.matched]
    assert ("request", "filter-FORWARD", "vmap: jump filter-forward-in__docker0") in effects
    assert ("request", "filter-forward-in__docker0", "ACCEPT") in effects
    assert ("reply", "filter-forward-out__docker0", "ACCEPT") in effects
    assert any(r.chain == "nat-prerouting-and-output" and r.effect.startswith("DNAT") for r in v.matched)


def test_fixes_per_layout() -> None:
    nft_user = ask(layout("docs-29-nftables"), Case("dwlab-default-a", "dwlab-default-b", "tcp", 80))
    assert nft_user.culprit is not None and nft_user.culprit.handle is not None
    assert nft_user.fix == [f"nft delete rule inet dwtest-user forward handle {nft_user.culprit.handle}"]
    iso = ask(layout("docs-20.10"), Case("dwlab-iso-a", "dwlab-iso-b"))
    assert iso.fix == ["docker network connect dwlab-net-b dwlab-iso-a"]
    internal = ask(layout("docs-29-nftables"), Case("dwlab-default-a", "dwlab-internal-a"))
    assert internal.fix == ["docker network connect dwlab-internal dwlab-default-a"]
    legacy = ask(layout("docs-20.10"), Case("dwlab-default-a", "dwlab-default-b", "tcp", 80))
    assert legacy.culprit is not None and legacy.culprit.source == "iptables-legacy"
    assert legacy.fix[0].startswith("iptables -D DOCKER-USER -s ")


def test_the_docs_generator_reproduces_the_recorded_28_verdicts() -> None:
    """Self-check of tests/doc_layouts.py: the 28.x layout it writes from the docs, on the recorded lab, gives
    the same verdicts and culprit chains as the rules really recorded from that 28.5.2 daemon."""
    from dockwire.probes.iptables_save import parse_iptables_save
    from tests.doc_layouts import layout_28_iptables
    from tests.verdict_models import with_tables

    recorded = load(SNAPSHOTS / "engine-28.5.2-iptables-nft.json")
    docs = with_tables(recorded, parse_iptables_save(layout_28_iptables(recorded), "iptables-nft"))
    for case in cases_in(recorded):
        real, built = ask(recorded, case), ask(docs, case)
        assert (built.verdict, where_blocked(built)) == (real.verdict, where_blocked(real)), case.id
        if real.culprit is not None:
            assert built.culprit is not None and built.culprit.text == real.culprit.text, case.id
