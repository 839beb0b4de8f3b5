"""The firewall probe's assembly step (build_firewall) on recorded command output, and run_command on real
processes. The one live read is in test_firewall_live.py."""

from __future__ import annotations

import sys
from pathlib import Path

from dockwire.probes.firewall import (
    CommandResult,
    RawFirewall,
    build_firewall,
    parse_ipset_save,
    referenced_ipsets,
    run_command,
)

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"


def fixture(name: str) -> str:
    return (FIXTURES / name).read_text()


def recorded_raw() -> RawFirewall:
    """What collect_raw gathered on the lab host (iptables-nft backend), from the recorded files."""
    return RawFirewall(
        backend="nft",
        outputs={
            "iptables-nft:ip": CommandResult(("iptables-nft-save", "-c"), fixture("iptables-save-c.txt")),
            "iptables-nft:ip6": CommandResult(("ip6tables-nft-save", "-c"), fixture("ip6tables-save-c.txt")),
            "nft:tables": CommandResult(("nft", "-j", "list", "tables"), fixture("nft-tables.json")),
            "nft:ruleset": CommandResult(("nft", "-j", "list", "ruleset"), fixture("nft-ruleset.json")),
        },
        legacy_names={"ip": [], "ip6": []},
    )


def test_each_table_has_one_source() -> None:
    firewall, stale = build_firewall(recorded_raw())
    assert stale == {}
    assert firewall.iptables_backend == "nft"
    listed = [(t.source, t.family, t.name) for t in firewall.tables]
    assert listed == [
        ("iptables-nft", "ip", "raw"),
        ("iptables-nft", "ip", "filter"),
        ("iptables-nft", "ip", "nat"),
        ("iptables-nft", "ip6", "raw"),
        ("iptables-nft", "ip6", "filter"),
        ("iptables-nft", "ip6", "nat"),
        # the compat tables in the nft JSON are dropped; the hand-written table is kept
        ("nftables", "inet", "dwtest-fw"),
    ]
    assert firewall.warnings == []
    user_rules = [r for t in firewall.tables for c in t.chains if c.name == "DOCKER-USER" for r in c.rules]
    assert user_rules and {r.owner for r in user_rules} == {"user"}


def test_failures_become_stale_parts() -> None:
    raw = recorded_raw()
    raw.outputs["iptables-nft:ip6"] = CommandResult(
        ("ip6tables-nft-save", "-c"), error="ip6tables-nft-save: exit 1: x"
    )
    raw.outputs["nft:ruleset"] = CommandResult(("nft",), "this is not json")
    raw.stale["firewall:ipset"] = "ipset: tool missing"
    firewall, stale = build_firewall(raw)
    assert stale["firewall:ip6tables"] == "ip6tables-nft-save: exit 1: x"
    assert stale["firewall:nftables"].startswith("nft -j: not JSON")
    assert stale["firewall:ipset"] == "ipset: tool missing"
    assert {t.family for t in firewall.tables} == {"ip"}
    garbled = recorded_raw()
    garbled.outputs["iptables-nft:ip"] = CommandResult(("iptables-nft-save",), "hello\n")
    _, stale = build_firewall(garbled)
    assert "outside a *table block" in stale["firewall:iptables"]


def test_warning_when_both_backends_have_rules() -> None:
    raw = recorded_raw()
    legacy = (
        "*filter\n:INPUT ACCEPT [0:0]\n:FORWARD ACCEPT [0:0]\n[5:300] -A FORWARD -i eth1 -j DROP\nCOMMIT\n"
    )
    raw.outputs["iptables-legacy:ip"] = CommandResult(("iptables-legacy-save", "-c"), legacy)
    firewall, stale = build_firewall(raw)
    assert stale == {}
    assert len(firewall.warnings) == 1 and "legacy and the nf_tables" in firewall.warnings[0]
    legacy_tables = [t for t in firewall.tables if t.source == "iptables-legacy"]
    assert [(t.family, t.name) for t in legacy_tables] == [("ip", "filter")]
    # Empty legacy tables (only ACCEPT policies) are no reason to warn.
    raw.outputs["iptables-legacy:ip"] = CommandResult(
        ("iptables-legacy-save",), "*filter\n:INPUT ACCEPT [0:0]\nCOMMIT\n"
    )
    assert build_firewall(raw)[0].warnings == []


def test_ipsets() -> None:
    """Invented `ipset save` output (the lab host has no ipset tool) for a 28.0.0-style rule."""
    rule = (
        "-A FORWARD -m set --match-set docker-ext-bridges-v4 dst "
        "-m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"
    )
    assert referenced_ipsets([rule, rule]) == ["docker-ext-bridges-v4"]
    text = (
        "create docker-ext-bridges-v4 hash:net family inet hashsize 1024 maxelem 65536\n"
        "add docker-ext-bridges-v4 172.17.0.0/16\n"
        "add docker-ext-bridges-v4 172.18.0.0/16 timeout 30\n"
        "create other hash:ip family inet\n"
        "add other 10.0.0.1\n"
    )
    assert parse_ipset_save(text, {"docker-ext-bridges-v4"}) == {
        "docker-ext-bridges-v4": ["172.17.0.0/16", "172.18.0.0/16"]
    }
    raw = recorded_raw()
    raw.outputs["iptables-nft:ip"] = CommandResult(
        ("iptables-nft-save",), f"*filter\n:FORWARD DROP [0:0]\n{rule}\nCOMMIT\n"
    )
    raw.outputs["ipset"] = CommandResult(("ipset", "save"), text)
    firewall, _ = build_firewall(raw)
    assert firewall.ipsets == {"docker-ext-bridges-v4": ["172.17.0.0/16", "172.18.0.0/16"]}


async def test_run_command() -> None:
    ok = await run_command([sys.executable, "-c", "print('hi')"])
    assert (ok.ok, ok.stdout) == (True, "hi\n")
    failed = await run_command([sys.executable, "-c", "import sys; sys.exit('boom')"])
    assert not failed.ok and failed.error.endswith("exit 1: boom")
    missing = await run_command(["dockwire-no-such-tool", "-c"])
    assert missing.error == "dockwire-no-such-tool: tool missing"
    slow = await run_command([sys.executable, "-c", "import time; time.sleep(30)"], timeout=0.3)
    assert "timed out after 0.3 s" in slow.error
