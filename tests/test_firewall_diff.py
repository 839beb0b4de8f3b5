"""Change detection between two firewall reads, on recorded output (second reads are the recording with
edited counters or an inserted rule)."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

from dockwire.probes.firewall import CommandResult, RawFirewall, build_firewall
from dockwire.probes.firewall_diff import CounterMove, FirewallPoller, diff_firewalls
from msgspec.structs import replace as struct_replace

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"
PING_RULE = (
    "-A DOCKER-USER -s 10.213.41.11/32 -d 10.213.41.10/32 -p icmp -m comment --comment dwtest -j RETURN"
)
PING_KEY = ("iptables-nft", "ip", "filter", "DOCKER-USER", 1, PING_RULE)


def raw_with(iptables_text: str) -> RawFirewall:
    return RawFirewall(
        backend="nft",
        outputs={
            "iptables-nft:ip": CommandResult(("iptables-nft-save", "-c"), iptables_text),
            "nft:ruleset": CommandResult(("nft",), (FIXTURES / "nft-ruleset.json").read_text()),
        },
    )


SAVE = (FIXTURES / "iptables-save-c.txt").read_text()
MOVED = SAVE.replace(f"[3:252] {PING_RULE}", f"[5:420] {PING_RULE}")
INSERTED = SAVE.replace(
    f"[3:252] {PING_RULE}", f"[0:0] -A DOCKER-USER -s 10.1.1.1/32 -j DROP\n[3:252] {PING_RULE}"
)


def test_counters_moved() -> None:
    assert MOVED != SAVE
    before, after = build_firewall(raw_with(SAVE))[0], build_firewall(raw_with(MOVED))[0]
    delta = diff_firewalls(before, after)
    assert delta.moved == {PING_KEY: CounterMove(2, 168)}
    assert not delta.rules_changed and not delta.added and not delta.removed
    assert delta.changed
    assert not diff_firewalls(before, before).changed


def test_rule_inserted() -> None:
    before, after = build_firewall(raw_with(SAVE))[0], build_firewall(raw_with(INSERTED))[0]
    delta = diff_firewalls(before, after)
    assert delta.rules_changed
    # Everything below the new rule moved one position down: new keys, old keys gone.
    assert (
        "iptables-nft",
        "ip",
        "filter",
        "DOCKER-USER",
        1,
        "-A DOCKER-USER -s 10.1.1.1/32 -j DROP",
    ) in delta.added
    assert PING_KEY in delta.removed
    assert (*PING_KEY[:4], 2, PING_RULE) in delta.added


def test_policy_and_set_changes_count_as_rule_changes() -> None:
    before = build_firewall(raw_with(SAVE))[0]
    policy = build_firewall(raw_with(SAVE.replace(":FORWARD DROP [0:0]", ":FORWARD ACCEPT [0:0]")))[0]
    assert diff_firewalls(before, policy).rules_changed
    tables = [
        struct_replace(t, sets={**t.sets, "hosts": ["10.213.41.99"]}) if t.name == "dwtest-fw" else t
        for t in before.tables
    ]
    assert diff_firewalls(before, struct_replace(before, tables=tables)).rules_changed


def test_fingerprint() -> None:
    assert raw_with(SAVE).fingerprint() == raw_with(SAVE).fingerprint()
    assert raw_with(SAVE).fingerprint() != raw_with(MOVED).fingerprint()
    failed = raw_with(SAVE)
    failed.outputs["nft:ruleset"] = replace(failed.outputs["nft:ruleset"], error="nft: timed out after 10 s")
    assert failed.fingerprint() != raw_with(SAVE).fingerprint()


async def test_poller_skips_unchanged_output() -> None:
    """The poller is fed recorded reads in turn: same, same, counters moved."""
    reads = iter([SAVE, SAVE, MOVED])

    async def replay(timeout: float) -> RawFirewall:
        return raw_with(next(reads))

    poller = FirewallPoller(collect=replay)
    first = await poller.poll()
    assert first.changed and first.delta is None
    second = await poller.poll()
    assert not second.changed and second.firewall is first.firewall
    third = await poller.poll()
    assert third.changed and third.delta is not None
    assert third.delta.moved == {PING_KEY: CounterMove(2, 168)}
