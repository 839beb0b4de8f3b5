"""The lab's firewall scenario: one DOCKER-USER rule, added and removed with the `iptables` command.

The rule drops tcp/80 from dwlab-default-a to dwlab-default-b by their addresses; ICMP and other ports pass.
It carries `-m comment --comment dockwire-lab`, which is how the lab finds it again: `lab down` deletes every
DOCKER-USER rule with exactly that comment, by the exact spec `iptables -S` prints, so a rule written for
addresses the containers no longer have is removed too. Whichever iptables backend is active is used; with
Docker's native nftables backend there is no DOCKER-USER chain and the scenario is skipped.
"""

from __future__ import annotations

import itertools
import shlex
import subprocess
from pathlib import Path

from dockwire.lab.report import LabError, LabObject
from dockwire.lab.scenarios import RULE_DEST, RULE_PORT, RULE_SOURCE

CHAIN = "DOCKER-USER"
COMMENT = "dockwire-lab"
SCENARIO = "firewall"
RULE_NAME = f"{CHAIN}/{COMMENT}"
PURPOSE = f"drop tcp/{RULE_PORT} {RULE_SOURCE} -> {RULE_DEST}"
BRIDGE_NF = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")


def iptables(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(["iptables", "-w", "5", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError(f"iptables {' '.join(args)}: {msg[0] if msg else f'exit {proc.returncode}'}")
    return proc


def chain_exists() -> bool:
    return iptables("-S", CHAIN, check=False).returncode == 0


def rule_spec(source_ip: str, dest_ip: str) -> list[str]:
    """The rule as `iptables -S` prints it, without the leading `-A DOCKER-USER`."""
    return [
        "-s", f"{source_ip}/32", "-d", f"{dest_ip}/32",
        "-p", "tcp", "-m", "tcp", "--dport", str(RULE_PORT),
        "-m", "comment", "--comment", COMMENT,
        "-j", "DROP",
    ]  # fmt: skip


def rules_with_comment(comment: str) -> list[list[str]]:
    """Every DOCKER-USER rule carrying exactly this comment, as `iptables -S` spec tokens."""
    proc = iptables("-S", CHAIN, check=False)
    found = []
    for line in proc.stdout.splitlines():
        tokens = shlex.split(line)
        if tokens[:2] != ["-A", CHAIN]:
            continue
        spec = tokens[2:]
        if any(a == "--comment" and b == comment for a, b in itertools.pairwise(spec)):
            found.append(spec)
    return found


def lab_rules() -> list[list[str]]:
    """Every DOCKER-USER rule carrying the lab's comment, as spec tokens."""
    return rules_with_comment(COMMENT)


def describe(spec: list[str]) -> str:
    """A rule spec in a few words: "drop tcp/80 172.17.0.2 -> 172.17.0.3"."""
    opts = dict(itertools.pairwise(spec))
    src, dst = opts.get("-s", "any").removesuffix("/32"), opts.get("-d", "any").removesuffix("/32")
    port = f"{opts.get('-p', 'all')}/{opts['--dport']}" if "--dport" in opts else opts.get("-p", "all")
    return f"{opts.get('-j', '?').lower()} {port} {src} -> {dst}"


def bridge_filtering_note() -> str:
    """Why the rule may not bite between two containers on one bridge, or "" when it will."""
    try:
        value = BRIDGE_NF.read_text().strip()
    except OSError:
        return "br_netfilter is not loaded: bridged traffic skips iptables and the DOCKER-USER rule"
    if value != "1":
        return "net.bridge.bridge-nf-call-iptables=0: the DOCKER-USER rule does not see bridged traffic"
    return ""


def ensure_rule(source_ip: str, dest_ip: str) -> LabObject:
    """Keep the rule when it is exactly right, else replace every lab rule by a fresh one at the top."""
    want = rule_spec(source_ip, dest_ip)
    detail = describe(want)
    existing = lab_rules()
    if existing == [want]:
        return LabObject("rule", RULE_NAME, "reused", SCENARIO, detail)
    for spec in existing:
        iptables("-D", CHAIN, *spec)
    iptables("-I", CHAIN, "1", *want)
    return LabObject("rule", RULE_NAME, "recreated" if existing else "created", SCENARIO, detail)


def remove_rules() -> list[LabObject]:
    removed = []
    for spec in lab_rules():
        iptables("-D", CHAIN, *spec)
        removed.append(LabObject("rule", RULE_NAME, "removed", SCENARIO, describe(spec)))
    return removed or [LabObject("rule", RULE_NAME, "absent", SCENARIO)]


def rule_status() -> LabObject:
    if not chain_exists():
        return LabObject("rule", RULE_NAME, "unsupported", SCENARIO, f"no {CHAIN} chain")
    rules = lab_rules()
    if not rules:
        return LabObject("rule", RULE_NAME, "missing", SCENARIO, PURPOSE)
    state = "present" if len(rules) == 1 else f"present x{len(rules)}"
    return LabObject("rule", RULE_NAME, state, SCENARIO, describe(rules[0]))
