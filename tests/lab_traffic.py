"""Real traffic in the lab, to compare the verdict engine with what the kernel really does.

Each `Case` is one `dockwire why` question about the lab. `observe()` answers it by sending one real probe
(ping, a TCP connect, an embedded-DNS lookup) from the source's own namespace to the destination's address
as Docker gives it (`docker inspect`, see `docker_destination`), never as the engine computes it, so the
recording is ground truth. Traffic only goes to lab containers, the host's own addresses and the lab's
outside namespace.

Run as `python -m tests.lab_traffic record PATH` (what scripts/record-verdict-fixtures does): writes a
snapshot of the host to PATH.json and the observed outcome of every case to PATH.observed.json.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import subprocess
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from dockwire.model import HostModel
from dockwire.verdict.records import Verdict
from dockwire.verdict.verdict import evaluate

OUTSIDE_NS = "dwlab-outside"
OUTSIDE = "outside:198.51.100.2"
OUTSIDE_HOST_ADDR = "198.51.100.1"
# The outside namespace's IPv6 address (dockwire.lab.outside), for flows to and from the routed network.
OUTSIDE6 = "outside:2001:db8:100::2"
OUTSIDE_HOST_ADDR6 = "2001:db8:100::1"
TIMEOUT = 3


@dataclass(frozen=True)
class Case:
    src: str
    dst: str
    proto: str = "icmp"
    port: int | None = None
    # What the scenario is about (for test ids and messages).
    about: str = ""
    # 6: the containers' IPv6 addresses (`why --family 6`).
    family: int = 4

    @property
    def id(self) -> str:
        what = f"{self.proto}{self.port or ''}" + ("/v6" if self.family == 6 else "")
        return f"{self.src}->{self.dst}:{what}".replace("dwlab-", "")


CASES: tuple[Case, ...] = (
    Case("dwlab-default-a", "dwlab-default-b", about="same bridge"),
    Case("dwlab-default-a", "dwlab-default-b", "tcp", 80, about="DOCKER-USER drop (bridged)"),
    Case("dwlab-default-b", "dwlab-default-a", "tcp", 80, about="same bridge, other direction"),
    Case("dwlab-default-a", "dwlab-web", "tcp", 80, about="same bridge to the web container"),
    Case("dwlab-linked", "dwlab-default-a", "tcp", 80, about="linked container to its link"),
    Case("dwlab-iso-a", "dwlab-iso-b", about="bridge to bridge"),
    Case("dwlab-iso-a", "dwlab-iso-b", "tcp", 80, about="bridge to bridge, tcp"),
    Case("dwlab-custom-a", "dwlab-default-a", about="custom subnet to default bridge"),
    Case("dwlab-noicc-a", "dwlab-noicc-b", about="icc=false"),
    Case("dwlab-noicc-a", "dwlab-noicc-b", "tcp", 80, about="icc=false, tcp"),
    Case("dwlab-internal-a", "dwlab-internal-b", about="inside an internal network"),
    Case("dwlab-internal-a", OUTSIDE, about="internal network to outside"),
    Case("dwlab-internal-a", "host", about="internal network to its gateway"),
    Case("dwlab-default-a", "dwlab-internal-a", about="into an internal network from another bridge"),
    Case(
        "dwlab-iso-a", "dwlab-web", "tcp", 80, about="another bridge straight to a published container port"
    ),
    Case("dwlab-web", "dwlab-linked", "tcp", 80, about="published container to a neighbour"),
    Case("dwlab-default-a", OUTSIDE, about="container to outside (MASQUERADE)"),
    Case("dwlab-iso-a", OUTSIDE, "tcp", 9, about="container to outside, tcp (closed port answers RST)"),
    Case(OUTSIDE, f"{OUTSIDE_HOST_ADDR}:18080", "tcp", about="outside to a published port (DNAT)"),
    Case(OUTSIDE, "dwlab-web", "tcp", 80, about="outside straight to a container address"),
    Case(OUTSIDE, "dwlab-web", about="outside pings a container address"),
    Case(OUTSIDE, "host", about="outside pings the host"),
    Case("host", "dwlab-web", "tcp", 80, about="host to container"),
    Case("host", "dwlab-internal-a", about="host to an internal network's container"),
    Case("host", "127.0.0.1:18080", "tcp", about="host to a published port on loopback (docker-proxy)"),
    Case(
        "dwlab-default-a", "host:18080", "tcp", about="container to a published port on its gateway (proxy)"
    ),
    Case("dwlab-iso-a", "host:18080", "tcp", about="container on another bridge to a published port"),
    Case("dwlab-sidecar", "dwlab-web", "tcp", 80, about="container:X reaches X over loopback"),
    Case("dwlab-sidecar", "dwlab-default-b", about="container:X uses X's interfaces"),
    Case("dwlab-none", "dwlab-default-a", about="network none"),
    Case("dwlab-noicc-a", "name:dwlab-noicc-b", "dns", about="embedded DNS on a user-defined network"),
    Case("dwlab-linked", "name:db", "dns", about="/etc/hosts entry from --link"),
    Case("dwlab-v6-a", "dwlab-v6-b", about="ICMPv6 echo on a dual-stack bridge", family=6),
    Case("dwlab-v6-a", "dwlab-v6-b", "tcp", 80, about="ip6tables DOCKER-USER drop (bridged)", family=6),
    Case(
        "dwlab-v6-a", "dwlab-v6-b", "tcp", 80, about="the same pair over IPv4: the IPv6 rule does not apply"
    ),
    Case("dwlab-v6-b", "dwlab-v6-a", "tcp", 80, about="IPv6, other direction", family=6),
    Case(OUTSIDE6, "dwlab-v6r-web", about="outside pings a routed IPv6 network's container", family=6),
    Case(OUTSIDE6, "dwlab-v6r-web", "tcp", 80, about="routed IPv6: a published port, no NAT", family=6),
    Case(OUTSIDE6, "dwlab-v6r-web", "tcp", 81, about="routed IPv6: a port not published", family=6),
    Case("dwlab-v6r-web", OUTSIDE6, about="routed IPv6 outward: no masquerade", family=6),
    Case(OUTSIDE6, "dwlab-v6-a", about="outside over IPv6 into a NAT-mode network", family=6),
)


def cases_in(model: HostModel) -> list[Case]:
    """The cases whose containers the model has (models of the lab from before a scenario was added)."""
    names = {c.name for c in model.containers}

    def known(end: str) -> bool:
        return not end.startswith("dwlab-") or end.split(":")[0] in names

    return [c for c in CASES if known(c.src) and known(c.dst)]


def _run(argv: list[str], timeout: float = TIMEOUT + 5) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, capture_output=True, text=True, timeout=timeout, check=False)


def _prefix(src: str) -> list[str]:
    """How to run a command in the source's namespace."""
    if src == "host":
        return ["busybox"]
    if src.startswith("outside"):
        return ["ip", "netns", "exec", OUTSIDE_NS, "busybox"]
    return ["docker", "exec", src]


def ping(src: str, addr: str, timeout: int = TIMEOUT) -> bool:
    return _run([*_prefix(src), "ping", "-c", "1", "-W", str(timeout), addr]).returncode == 0


def tcp_connect(src: str, addr: str, port: int, timeout: int = TIMEOUT) -> bool:
    """True when the connection is answered: accepted, or refused by the peer (RST also travelled back)."""
    proc = _run([*_prefix(src), "nc", "-w", str(timeout), addr, str(port)])
    return proc.returncode == 0 or "refused" in (proc.stderr + proc.stdout)


def resolves(src: str, name: str) -> bool:
    """Only names the lab's embedded DNS or /etc/hosts knows are asked (none goes to the host's resolver)."""
    if _run(["docker", "exec", src, "grep", "-qw", name, "/etc/hosts"]).returncode == 0:
        return True
    proc = _run(["docker", "exec", src, "nslookup", name, "127.0.0.11"])
    return proc.returncode == 0 and "Address" in proc.stdout.split("Non-authoritative", 1)[-1]


def _networks(inspect: dict[str, dict[str, Any]], name: str) -> dict[str, dict[str, Any]]:
    """A container's networks as `docker inspect` shows them; a container:X one's are X's."""
    doc = inspect[name]
    mode = doc["HostConfig"]["NetworkMode"]
    if mode.startswith("container:"):
        owner = mode.removeprefix("container:")
        doc = next(d for d in inspect.values() if d["Id"].startswith(owner) or d["Name"] == f"/{owner}")
    networks: dict[str, dict[str, Any]] = doc["NetworkSettings"]["Networks"] or {}
    return networks


def docker_destination(inspect: dict[str, dict[str, Any]], networks: list[dict[str, Any]], case: Case) -> str:
    """Where `case` sends its packet, from Docker's own `docker inspect` documents (by container name), not
    from the verdict engine: a container's address on a network it shares with the source (else its first
    one) or 127.0.0.1 when the source shares its namespace, the source network's IPAM gateway for `host`,
    the address given for an address."""
    dst = case.dst.removeprefix("outside:")
    target = dst if _is_address(dst) else dst.rsplit(":", 1)[0] if dst.rsplit(":", 1)[-1].isdigit() else dst
    if target == "host":
        if case.src.startswith("outside"):
            return OUTSIDE_HOST_ADDR6 if case.family == 6 else OUTSIDE_HOST_ADDR
        first = next(iter(_networks(inspect, case.src).values()))
        network = next(n for n in networks if n["Id"] == first["NetworkID"])
        return str(network["IPAM"]["Config"][0]["Gateway"])
    if target not in inspect:
        return target  # an address
    if case.src in inspect and inspect[case.src]["HostConfig"]["NetworkMode"] in (
        f"container:{target}",
        f"container:{inspect[target]['Id']}",
    ):
        return "127.0.0.1"
    nets = _networks(inspect, target)
    src_nets = _networks(inspect, case.src) if case.src in inspect else {}
    src_ids = {n["NetworkID"] for n in src_nets.values()}
    key = "GlobalIPv6Address" if case.family == 6 else "IPAddress"
    shared = [n[key] for n in nets.values() if n["NetworkID"] in src_ids and n[key]]
    return (shared or [n[key] for n in nets.values() if n[key]] or [""])[0]


def _is_address(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def inspect_by_name(documents: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {d["Name"].lstrip("/"): d for d in documents}


def observe(case: Case, address: str, timeout: int = TIMEOUT) -> bool:
    """Send the real probe for `case` to `address` (Docker's: docker_destination); True if it got through
    (an answer within `timeout` seconds)."""
    if case.proto == "dns":
        return resolves(case.src, case.dst.removeprefix("name:"))
    if not address:
        raise ValueError(f"{case.id}: no destination address to probe")
    if case.proto == "icmp":
        return ping(case.src, address, timeout)
    port = case.port or int(case.dst.rsplit(":", 1)[-1])
    return tcp_connect(case.src, address, port, timeout)


def ask(model: HostModel, case: Case) -> Verdict:
    proto = case.proto if case.proto != "dns" else "icmp"
    return evaluate(
        model, case.src, case.dst, proto, case.port, family=case.family if case.family == 6 else None
    )


def record(path: Path) -> None:
    """Snapshot the host, then observe every case; write PATH.json and PATH.observed.json."""
    import docker

    from dockwire.collect import collect
    from dockwire.snapshot import save

    client = docker.from_env(timeout=60)
    model = asyncio.run(collect(client))
    inspect = inspect_by_name([c.attrs for c in client.containers.list(all=True)])
    networks = [n.attrs for n in client.networks.list(greedy=True)]
    path.parent.mkdir(parents=True, exist_ok=True)
    save(model, path.parent / f"{path.name}.json")
    results = []
    for case in CASES:
        verdict = ask(model, case)
        address = "" if case.proto == "dns" else docker_destination(inspect, networks, case)
        reached = observe(case, address)
        results.append(
            {
                **asdict(case),
                "reached": reached,
                "engine_said": verdict.verdict,
                "dst_address": address,
            }
        )
        print(f"{case.id:<55} real={'reached' if reached else 'blocked':<8} engine={verdict.verdict}")
    engine = model.engine
    meta = {
        "engine": engine.version if engine else "",
        "iptables_backend": model.firewall.iptables_backend,
        "firewall_backend": engine.docker_firewall_backend if engine else "",
        "cases": results,
    }
    (path.parent / f"{path.name}.observed.json").write_text(json.dumps(meta, indent=2) + "\n")


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] != "record":
        sys.exit("usage: python -m tests.lab_traffic record PATH  (writes PATH.json, PATH.observed.json)")
    record(Path(sys.argv[2]))
