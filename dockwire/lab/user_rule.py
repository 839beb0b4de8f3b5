"""The lab's firewall scenarios: DOCKER-USER rules, added and removed with the `iptables`/`ip6tables` command.

The IPv4 rule drops tcp/80 from dwlab-default-a to dwlab-default-b by their addresses; ICMP and other ports
pass. The IPv6 one (`ip6tables`, scenario ipv6) does the same from dwlab-v6-a to dwlab-v6-b over IPv6.
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


# The tool per family, and what the IPv6 rule is called and belongs to.
TOOLS = {4: "iptables", 6: "ip6tables"}
RULE_NAME6 = f"ip6 {RULE_NAME}"
SCENARIO6 = "ipv6"


def iptables(*args: str, check: bool = True, family: int = 4) -> subprocess.CompletedProcess[str]:
    tool = TOOLS[family]
    proc = subprocess.run([tool, "-w", "5", *args], capture_output=True, text=True, check=False)
    if check and proc.returncode != 0:
        msg = (proc.stderr.strip() or proc.stdout.strip()).splitlines()
        raise LabError(f"{tool} {' '.join(args)}: {msg[0] if msg else f'exit {proc.returncode}'}")
    return proc


def chain_exists(family: int = 4) -> bool:
    return iptables("-S", CHAIN, check=False, family=family).returncode == 0


def rule_spec(source_ip: str, dest_ip: str, family: int = 4) -> list[str]:
    """The rule as `iptables -S` (`ip6tables -S`) prints it, without the leading `-A DOCKER-USER`."""
    bits = 32 if family == 4 else 128
    return [
        "-s", f"{source_ip}/{bits}", "-d", f"{dest_ip}/{bits}",
        "-p", "tcp", "-m", "tcp", "--dport", str(RULE_PORT),
        "-m", "comment", "--comment", COMMENT,
        "-j", "DROP",
    ]  # fmt: skip


def rules_with_comment(comment: str, family: int = 4) -> list[list[str]]:
    """Every DOCKER-USER rule carrying exactly this comment, as `iptables -S` spec tokens."""
    proc = iptables("-S", CHAIN, check=False, family=family)
    found = []
    for line in proc.stdout.splitlines():
        tokens = shlex.split(line)
        if tokens[:2] != ["-A", CHAIN]:
            continue
        spec = tokens[2:]
        if any(a == "--comment" and b == comment for a, b in itertools.pairwise(spec)):
            found.append(spec)
    return found


def lab_rules(family: int = 4) -> list[list[str]]:
    """Every DOCKER-USER rule carrying the lab's comment, as spec tokens."""
    return rules_with_comment(COMMENT, family)


def describe(spec: list[str]) -> str:
    """A rule spec in a few words: "drop tcp/80 172.17.0.2 -> 172.17.0.3"."""
    opts = dict(itertools.pairwise(spec))
    src, dst = (opts.get(o, "any").removesuffix("/32").removesuffix("/128") for o in ("-s", "-d"))
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


def named(family: int) -> tuple[str, str]:
    """(rule name, scenario) of the lab rule of `family`."""
    return (RULE_NAME, SCENARIO) if family == 4 else (RULE_NAME6, SCENARIO6)


def ensure_rule(source_ip: str, dest_ip: str, family: int = 4) -> LabObject:
    """Keep the rule when it is exactly right, else replace every lab rule by a fresh one at the top."""
    name, scenario = named(family)
    want = rule_spec(source_ip, dest_ip, family)
    detail = describe(want)
    existing = lab_rules(family)
    if existing == [want]:
        return LabObject("rule", name, "reused", scenario, detail)
    for spec in existing:
        iptables("-D", CHAIN, *spec, family=family)
    iptables("-I", CHAIN, "1", *want, family=family)
    return LabObject("rule", name, "recreated" if existing else "created", scenario, detail)


def remove_rules(family: int = 4) -> list[LabObject]:
    name, scenario = named(family)
    removed = []
    for spec in lab_rules(family):
        iptables("-D", CHAIN, *spec, family=family)
        removed.append(LabObject("rule", name, "removed", scenario, describe(spec)))
    return removed or [LabObject("rule", name, "absent", scenario)]


def rule_status(family: int = 4) -> LabObject:
    name, scenario = named(family)
    if not chain_exists(family):
        return LabObject("rule", name, "unsupported", scenario, f"no {CHAIN} chain")
    rules = lab_rules(family)
    if not rules:
        return LabObject("rule", name, "missing", scenario, PURPOSE)
    state = "present" if len(rules) == 1 else f"present x{len(rules)}"
    return LabObject("rule", name, state, scenario, describe(rules[0]))
