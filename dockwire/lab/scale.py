"""Grow the real lab to a busy host's size for the benchmarks, and shrink it back to exactly what it was.

`scale_up` adds N containers over M user-defined bridges (every 4th publishes tcp/80 on a host port Docker
picks) and K extra DOCKER-USER rules that match only documentation addresses (TEST-NET-1 sources, TEST-NET-3
destinations: no packet of this machine ever matches them, the lab's outside namespace uses TEST-NET-2).
`scale_down` removes the containers and networks by their label and the rules by their comment, each rule by
its exact spec; nothing else is touched. The rules go in and out in one `iptables-restore --noflush` batch.

    python -m dockwire.lab.scale up --containers 200 --networks 4 --rules 10000
    python -m dockwire.lab.scale down
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import docker
import docker.errors

from dockwire.lab import user_rule
from dockwire.lab.report import LabError
from dockwire.lab.scenarios import IMAGE

LABEL = "io.dockwire.lab.scale"
PREFIX = "dwscale-"
COMMENT = "dockwire-scale"
CHAIN = user_rule.CHAIN
#: Docker's API is the slow part of creating containers; a few at a time keeps dockerd busy, not flooded.
PARALLEL = 4


def rule_specs(count: int) -> list[str]:
    """`count` DOCKER-USER rule specs (no `-A CHAIN`) in a busy host's shapes, all on TEST-NET addresses."""
    shapes = (
        "-s 192.0.2.{a}/32 -j DROP",
        "-s 192.0.2.{a}/32 -d 203.0.113.{b}/32 -p tcp -m tcp --dport {port} -j DROP",
        "-d 203.0.113.{b}/32 -p udp -m udp --dport {port} -j REJECT --reject-with icmp-port-unreachable",
        "-s 192.0.2.{a}/32 -p tcp -m multiport --dports {port},{port2} -j DROP",
        "-d 203.0.113.{b}/32 -m conntrack --ctstate NEW -j DROP",
    )
    specs = []
    for n in range(count):
        shape = shapes[n % len(shapes)]
        text = shape.format(
            a=n % 254 + 1, b=n // 254 % 254 + 1, port=1024 + n % 60000, port2=1025 + n % 60000
        )
        specs.append(f"{text} -m comment --comment {COMMENT}")
    return specs


def _restore(lines: list[str]) -> None:
    """One `iptables-restore --noflush` of filter-table lines, with the active backend's tool."""
    batch = "*filter\n" + "\n".join(lines) + "\nCOMMIT\n"
    proc = subprocess.run(
        ["iptables-restore", "-w", "10", "--noflush"],
        input=batch,
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        first = (proc.stderr.strip() or f"exit {proc.returncode}").splitlines()[0]
        raise LabError(f"iptables-restore: {first}")


def scale_rules() -> list[list[str]]:
    """The DOCKER-USER rules this module added (those with its comment), as `iptables -S` spec tokens."""
    return user_rule.rules_with_comment(COMMENT)


def _network(client: Any, index: int) -> Any:
    return client.networks.create(f"{PREFIX}net{index}", driver="bridge", labels={LABEL: "network"})


def _container(client: Any, index: int, network: str) -> Any:
    ports = {"80/tcp": None} if index % 4 == 0 else {}
    return client.containers.run(
        IMAGE,
        ["sleep", "2147483647"],
        name=f"{PREFIX}c{index}",
        network=network,
        ports=ports,
        labels={LABEL: "container"},
        detach=True,
    )


def scale_up(client: Any, containers: int, networks: int, rules: int) -> str:
    """Add the containers, networks and rules; say what was added. Refuses to grow a scaled lab."""
    if _scaled(client) or scale_rules():
        raise LabError("the lab is already scaled: run `python -m dockwire.lab.scale down` first")
    started = time.monotonic()
    nets = [_network(client, i) for i in range(max(1, networks))]
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(lambda i: _container(client, i, nets[i % len(nets)].name), range(containers)))
    if rules:
        _restore([f"-I {CHAIN} {spec}" for spec in rule_specs(rules)])
    took = time.monotonic() - started
    return f"scale up: {containers} containers over {len(nets)} networks, {rules} rules in {took:.0f} s"


def _scaled(client: Any) -> list[Any]:
    return client.containers.list(all=True, filters={"label": LABEL}) + client.networks.list(
        filters={"label": LABEL}
    )


def scale_down(client: Any) -> str:
    """Remove exactly what scale_up added: containers and networks by label, rules by comment and spec."""
    removed_rules = scale_rules()
    if removed_rules:
        _restore([f"-D {CHAIN} {shlex.join(spec)}" for spec in removed_rules])
    found = client.containers.list(all=True, filters={"label": LABEL})
    with ThreadPoolExecutor(PARALLEL) as pool:
        list(pool.map(lambda c: c.remove(force=True), found))
    nets = client.networks.list(filters={"label": LABEL})
    for net in nets:
        net.remove()
    return f"scale down: removed {len(found)} containers, {len(nets)} networks, {len(removed_rules)} rules"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m dockwire.lab.scale", description=__doc__.split("\n")[0])
    parser.add_argument("action", choices=["up", "down"])
    parser.add_argument("--containers", type=int, default=100)
    parser.add_argument("--networks", type=int, default=4)
    parser.add_argument("--rules", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        client = docker.from_env(timeout=120)
        if args.action == "up":
            print(scale_up(client, args.containers, args.networks, args.rules))
        else:
            print(scale_down(client))
    except (LabError, docker.errors.DockerException) as exc:
        print(f"scale: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
