"""Rules that look like they protect an allowed flow but are not on its path (issue #15), on real recordings.

The classic case: an INPUT deny for a published port. The recorded Docker 28.5.2 lab publishes dwlab-web's
80 as 198.51.100.1:18080; the outside client 198.51.100.2 reaches it through `dwlab-out0`, DNATed in nat
PREROUTING and forwarded, so an INPUT rule for 18080 never sees it. The verdict stays ALLOWED and names the
rule, why it does not apply and the DOCKER-USER rule that does; applying that rule blocks the flow.

The rules are added as iptables-save prints them (the real parser reads them) or, for native nftables, from
`tests/fixtures/bypass/*.json`: real `nft -j list ruleset` output of the `.nft` files beside them, recorded
in a throwaway network namespace (`unshare -n sh -c 'nft -f nft-input.nft && nft -j list ruleset'`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner
from rich.console import Console

from dockwire.answer import Question
from dockwire.cli import main
from dockwire.model import HostModel, Table
from dockwire.probes.iptables_save import build_rule, parse_iptables_save
from dockwire.probes.nft_ruleset import parse_nft_json
from dockwire.snapshot import load, save
from dockwire.tui.answers import answer_from_verdict
from dockwire.verdict.bypassed import INPUT_SKIPPED
from dockwire.verdict.matrix import build_matrix
from dockwire.verdict.records import Verdict
from dockwire.verdict.render import render_verdict, verdict_json
from dockwire.verdict.verdict import evaluate
from dockwire.widgets.verdict_panel import fix_text, render_outcome, report_bypassed
from tests.lab_traffic import OUTSIDE
from tests.verdict_models import with_rule, with_tables

SNAPSHOTS = Path(__file__).parent / "fixtures" / "snapshots"
BYPASS = Path(__file__).parent / "fixtures" / "bypass"
ENGINE_28 = SNAPSHOTS / "engine-28.5.2-iptables-nft.json"
DOCS_29_NFT = SNAPSHOTS / "docs-29-nftables.json"
PUBLISHED = "198.51.100.1:18080"
DENY = "-A INPUT -p tcp -m tcp --dport 18080 -j DROP"
DOCKER_USER_FIX = (
    "iptables -I DOCKER-USER -i dwlab-out0 -p tcp -m conntrack --ctorigdstport 18080 --ctdir ORIGINAL -j DROP"
)

NFT_RULE = "iifname dwlab-out0 meta l4proto tcp ct original proto-dst 18080 ct direction original drop"
FORWARD_CHAIN = "'{ type filter hook forward priority filter; policy accept; }'"


@cache
def snapshot(path: Path) -> HostModel:
    return load(path)


@cache
def nft_tables(name: str) -> dict[str, Table]:
    return {t.name: t for t in parse_nft_json((BYPASS / name).read_text())}


def m28(*input_rules: str) -> HostModel:
    """The 28.5.2 recording with these rules at the top of filter INPUT, in order."""
    model = snapshot(ENGINE_28)
    for position, text in enumerate(input_rules, 1):
        model = with_rule(model, "filter", "INPUT", text, position)
    return model


def plus_tables(model: HostModel, *tables: Table) -> HostModel:
    return with_tables(model, [*model.firewall.tables, *tables])


def with_chain(model: HostModel, name: str, rules: list[str]) -> HostModel:
    """The model with a user chain `name` (these rules) added to the iptables-nft filter table."""
    from dockwire.model import Chain

    tables = []
    for t in model.firewall.tables:
        if (t.source, t.family, t.name) == ("iptables-nft", "ip", "filter"):
            names = {c.name for c in t.chains} | {name}
            built = [build_rule("filter", i, text, names) for i, text in enumerate(rules, 1)]
            t = msgspec.structs.replace(t, chains=[*t.chains, Chain(name=name, rules=built)])
        tables.append(t)
    return with_tables(model, tables)


def outside_to_published(model: HostModel, src: str = OUTSIDE) -> Verdict:
    return evaluate(model, src, PUBLISHED, "tcp")


# --- the classic case ---------------------------------------------------------------------------------------


def test_input_drop_for_the_published_port_is_named_beside_the_allowed_answer() -> None:
    v = outside_to_published(m28(DENY))
    assert v.verdict == "allowed" and v.culprit is None
    (b,) = v.bypassed
    assert b.kind == INPUT_SKIPPED
    r = b.rule
    assert (r.table, r.chain, r.position, r.text, r.hook, r.effect) == (
        "filter",
        "INPUT",
        1,
        DENY,
        "input",
        "DROP",
    )
    assert (r.source, r.owner, r.direction) == ("iptables-nft", "other", "request")
    assert b.why.startswith(
        "published ports are DNATed in nat/PREROUTING and forwarded: this INPUT rule never sees the packet"
    )
    assert "dwlab-web 172.17.0.4:80" in b.why
    assert b.fix == [DOCKER_USER_FIX]
    assert "-p 127.0.0.1:18080:80" in b.fix_note  # the other way: publish on loopback only


def test_the_suggested_docker_user_rule_does_block_the_flow() -> None:
    fix = DOCKER_USER_FIX.removeprefix("iptables -I DOCKER-USER ")
    model = with_rule(m28(DENY), "filter", "DOCKER-USER", f"-A DOCKER-USER {fix}")
    v = outside_to_published(model)
    assert v.verdict == "blocked" and not v.bypassed
    assert v.culprit is not None and (v.culprit.chain, v.culprit.position) == ("DOCKER-USER", 1)
    assert v.culprit.text == f"-A DOCKER-USER {fix}"
    # It matches the published port only: the container's own port from a neighbour still passes.
    assert evaluate(model, "dwlab-default-a", "dwlab-web", "tcp", 80).verdict == "allowed"


def test_a_source_the_client_does_not_have_means_no_aside() -> None:
    other = "-A INPUT -s 203.0.113.0/24 -p tcp -m tcp --dport 18080 -j DROP"
    v = outside_to_published(m28(other))
    assert v.verdict == "allowed" and v.bypassed == []


def test_a_source_the_client_has_is_kept_in_the_fix() -> None:
    ours = "-A INPUT -s 198.51.100.0/24 -p tcp -m tcp --dport 18080 -j DROP"
    (b,) = outside_to_published(m28(ours)).bypassed
    assert b.rule.text == ours
    assert b.fix == [
        "iptables -I DOCKER-USER -i dwlab-out0 -s 198.51.100.0/24 -p tcp -m conntrack --ctorigdstport 18080 "
        "--ctdir ORIGINAL -j DROP"
    ]
    # From another client the same rule would not have matched.
    assert outside_to_published(m28(ours), "outside:198.51.100.9").bypassed != []
    elsewhere = "-A INPUT ! -s 198.51.100.2/32 -p tcp -m tcp --dport 18080 -j DROP"
    assert outside_to_published(m28(elsewhere)).bypassed == []


def test_interface_and_order_are_honoured() -> None:
    assert outside_to_published(m28("-A INPUT -i eth9 -p tcp -m tcp --dport 18080 -j DROP")).bypassed == []
    (b,) = outside_to_published(m28("-A INPUT -i dwlab-out0 -p tcp -m tcp --dport 18080 -j REJECT")).bypassed
    assert b.fix == [
        "iptables -I DOCKER-USER -i dwlab-out0 -p tcp -m conntrack --ctorigdstport 18080 --ctdir ORIGINAL "
        "-j REJECT"
    ]
    # An ACCEPT before the deny lets this client in anyway: the deny would not have dropped this flow.
    accepted = m28("-A INPUT -s 198.51.100.2/32 -j ACCEPT", DENY)
    assert outside_to_published(accepted).bypassed == []


def test_an_input_rule_for_another_port_is_not_mentioned() -> None:
    v = outside_to_published(m28("-A INPUT -p tcp -m tcp --dport 8443 -j DROP"))
    assert v.verdict == "allowed" and v.bypassed == []
    # A deny without any port (an interface or address block) is not "for this port" either.
    assert outside_to_published(m28("-A INPUT -i dwlab-out0 -j DROP")).bypassed == []


def test_a_deny_for_the_container_port_is_named_too() -> None:
    (b,) = outside_to_published(m28("-A INPUT -p tcp -m tcp --dport 80 -j DROP")).bypassed
    assert "the container's port 80" in b.why
    assert b.fix == [DOCKER_USER_FIX]


def test_a_ufw_chain_input_jumps_to_is_followed() -> None:
    ufw = with_chain(m28(), "ufw-user-input", [DENY.replace("INPUT", "ufw-user-input")])
    model = with_rule(ufw, "filter", "INPUT", "-A INPUT -j ufw-user-input")
    (b,) = outside_to_published(model).bypassed
    assert (b.rule.chain, b.rule.position, b.rule.owner) == ("ufw-user-input", 1, "ufw")


def test_where_input_is_on_the_path_the_rule_blocks_and_there_is_no_aside() -> None:
    ssh = m28("-A INPUT -p tcp -m tcp --dport 22 -j DROP")
    v = evaluate(ssh, OUTSIDE, "host", "tcp", 22)
    assert v.verdict == "blocked" and v.bypassed == []
    assert v.culprit is not None and (v.culprit.chain, v.culprit.position) == ("INPUT", 1)
    # The host's own client reaches the published port on loopback through docker-proxy: INPUT sees that.
    local = evaluate(m28(DENY), "host", "127.0.0.1:18080", "tcp")
    assert local.verdict == "blocked" and local.bypassed == []
    assert local.culprit is not None and local.culprit.chain == "INPUT"
    # Without the deny the allowed flows have nothing to say.
    assert outside_to_published(m28()).bypassed == []
    assert evaluate(m28(), OUTSIDE, "host", "tcp", 22).bypassed == []


def test_the_matrix_is_unchanged_by_an_input_deny() -> None:
    before = build_matrix(m28())
    after = build_matrix(m28(DENY, "-A INPUT -p tcp -m tcp --dport 80 -j DROP"))
    assert [(c.src, c.dst, c.checks) for c in before.cells] == [(c.src, c.dst, c.checks) for c in after.cells]


# --- nftables -----------------------------------------------------------------------------------------------


def test_a_native_nft_input_chain_is_bypassed_the_same_way() -> None:
    host = nft_tables("nft-input.json")["host-filter"]
    v = outside_to_published(plus_tables(m28(), host))
    assert v.verdict == "allowed"
    (b,) = v.bypassed
    r = b.rule
    assert (r.source, r.family, r.table, r.chain, r.position) == (
        "nftables",
        "inet",
        "host-filter",
        "input",
        3,
    )
    assert r.text == 'tcp dport 18080 counter drop comment "dwtest published port"'
    assert "this input-hook rule never sees the packet" in b.why
    assert b.fix == [
        f"nft add chain inet host-filter forward {FORWARD_CHAIN}",
        f"nft add rule inet host-filter forward {NFT_RULE}",
    ]


def test_an_nft_deny_for_another_source_means_no_aside() -> None:
    other = nft_tables("nft-input.json")["host-filter-src"]
    assert outside_to_published(plus_tables(m28(), other)).bypassed == []


def test_the_nft_fix_blocks_the_flow() -> None:
    """The suggested rule, loaded by the real nft (tests/fixtures/bypass/nft-fix.nft), drops the flow."""
    host = nft_tables("nft-input.json")["host-filter"]
    fix = nft_tables("nft-fix.json")["user-filter"]
    v = outside_to_published(plus_tables(m28(), host, fix))
    assert v.verdict == "blocked" and not v.bypassed
    assert v.culprit is not None and (v.culprit.table, v.culprit.chain) == ("user-filter", "forward")


def test_docker_29_nftables_backend_gets_an_nft_fix_not_docker_user() -> None:
    """Docker 29's nftables backend has no DOCKER-USER: the fix goes into a forward-hook chain of the host's
    own nft table (the documented layout has one, `inet dwtest-user`), or a new table when there is none."""
    model = snapshot(DOCS_29_NFT)
    assert model.engine is not None and model.engine.docker_firewall_backend == "nftables"
    ipt = parse_iptables_save(f"*filter\n:INPUT ACCEPT [0:0]\n{DENY}\nCOMMIT\n", "iptables-nft")
    with_user = plus_tables(model, *ipt)
    (b,) = outside_to_published(with_user).bypassed
    assert (b.rule.chain, b.rule.text) == ("INPUT", DENY)
    assert b.fix == [f"nft insert rule inet dwtest-user forward {NFT_RULE}"]
    bare = with_tables(model, [t for t in with_user.firewall.tables if t.name != "dwtest-user"])
    (b,) = outside_to_published(bare).bypassed
    assert b.fix == [
        "nft add table ip user-filter",
        f"nft add chain ip user-filter forward {FORWARD_CHAIN}",
        f"nft add rule ip user-filter forward {NFT_RULE}",
    ]
    assert all("DOCKER-USER" not in cmd for cmd in b.fix)
    nft_input = nft_tables("nft-input.json")["host-filter"]
    (b,) = outside_to_published(plus_tables(model, nft_input)).bypassed
    assert b.rule.table == "host-filter" and b.fix[0].startswith("nft insert rule inet dwtest-user forward ")


# --- how it is said -----------------------------------------------------------------------------------------


def test_why_prints_the_aside_after_the_answer(tmp_path: Path) -> None:
    path = tmp_path / "deny.json"
    save(m28(DENY), path)
    result = CliRunner().invoke(main, ["why", OUTSIDE, PUBLISHED, "--snapshot", str(path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].startswith("ALLOWED")
    assert lines[2] == (
        "⚠ not on this path: filter INPUT #1 [iptables-nft, owner other, 0 pkts 0 bytes] "
        "(would DROP this flow at INPUT)"
    )
    assert lines[3] == f"          {DENY}"
    assert lines[4].startswith("          published ports are DNATed in nat/PREROUTING and forwarded")
    assert lines[5] == f"to stop:  {DOCKER_USER_FIX}"
    assert render_verdict(outside_to_published(m28(DENY))) == result.output.rstrip("\n")


def test_the_json_carries_the_aside_and_keeps_every_other_field() -> None:
    plain = json.loads(verdict_json(outside_to_published(m28())))
    aside = json.loads(verdict_json(outside_to_published(m28(DENY))))
    assert list(aside)[: len(plain)] == list(plain) and list(aside)[-1] == "bypassed"
    assert plain["bypassed"] == [] and aside["schema_version"] == plain["schema_version"] == 1
    assert {k: v for k, v in aside.items() if k != "bypassed"} == {
        k: v for k, v in plain.items() if k != "bypassed"
    }
    (b,) = aside["bypassed"]
    assert b["kind"] == "input-skipped-by-dnat" and b["fix"] == [DOCKER_USER_FIX]
    assert {k: b["rule"][k] for k in ("table", "chain", "position", "text", "owner")} == {
        "table": "filter",
        "chain": "INPUT",
        "position": 1,
        "text": DENY,
        "owner": "other",
    }
    assert msgspec.json.decode(verdict_json(outside_to_published(m28(DENY))), type=Verdict).bypassed


def test_the_dashboard_answer_shows_it_and_y_copies_its_fix() -> None:
    request = Question(OUTSIDE, PUBLISHED, "tcp")
    answer = answer_from_verdict(request, outside_to_published(m28(DENY)))
    assert answer.status == "allowed" and answer.fix == ()
    (b,) = answer.bypassed
    assert b.rule.title == "filter/INPUT #1" and b.fix == (DOCKER_USER_FIX,)
    assert fix_text(answer) == DOCKER_USER_FIX
    console = Console(width=200, record=True, color_system=None)
    console.print(render_outcome(answer))
    console.print(report_bypassed(answer))
    text = console.export_text()
    assert "⚠ not on this path: filter/INPUT #1  other · iptables-nft" in text
    assert "-p tcp -m tcp --dport 18080 -j DROP  ◀ never sees this flow" in text
    assert f"$ {DOCKER_USER_FIX}" in text


def test_a_blocked_answer_keeps_its_own_fix() -> None:
    blocked = evaluate(snapshot(ENGINE_28), "dwlab-default-a", "dwlab-default-b", "tcp", 80)
    answer = answer_from_verdict(Question("dwlab-default-a", "dwlab-default-b", "tcp", 80), blocked)
    assert answer.bypassed == () and fix_text(answer) == "\n".join(blocked.fix)


async def test_the_verdict_view_shows_the_aside_and_y_copies_what_stops_the_flow(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """In the dashboard: the result panel and the full-width view say which rule is not on the path; y copies
    the DOCKER-USER rule (the allowed answer has no fix of its own)."""
    from dockwire.tui.verdict_screen import VerdictScreen
    from dockwire.widgets.verdict_panel import VerdictPanel
    from tests.tui_harness import answered, app_on, press, ready, settle, until

    app = app_on(m28(DENY))
    copied: list[str] = []
    async with app.run_test(size=(160, 45)) as pilot:
        await ready(pilot)
        monkeypatch.setattr(app, "copy_to_clipboard", copied.append)
        app.start(Question(OUTSIDE, PUBLISHED, "tcp"), active=False)
        await answered(pilot)
        assert app.last_outcome is not None and app.last_outcome.status == "allowed"
        panel = app.main_screen.query_one(VerdictPanel)
        shown = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "⚠ not on this path: filter/INPUT #1" in shown and "◀ never sees this flow" in shown
        panel.focus()
        await until(pilot, lambda: app.main_screen.focused is panel, "the result panel to have the focus")
        await press(pilot, "z")
        await until(pilot, lambda: isinstance(app.screen, VerdictScreen), "the verdict view")
        await settle(pilot)
        text = "\n".join(s.text for s in app.screen._compositor.render_strips())
        assert "⚠ not on this path: filter/INPUT #1" in text
        assert "to stop it  ·  y copies it" in text and DOCKER_USER_FIX in text
        await press(pilot, "y")
        assert copied == [DOCKER_USER_FIX]


def test_host_text_in_the_aside_is_never_markup_or_a_control() -> None:
    hostile = '-A INPUT -p tcp -m tcp --dport 18080 -m comment --comment "[red]x\x1b[2J" -j DROP'
    v = outside_to_published(m28(hostile))
    assert len(v.bypassed) == 1
    shown = render_verdict(v)
    assert "\x1b" not in shown and "[red]x\\x1b[2J" in shown
    console = Console(width=300, record=True, color_system=None)
    console.print(render_outcome(answer_from_verdict(Question(OUTSIDE, PUBLISHED, "tcp"), v)))
    assert "[red]x\\x1b[2J" in console.export_text()
