"""What the two-host tests share: reading either host's rules and counters, and real traffic between
lab containers (only lab containers, on this machine)."""

from __future__ import annotations

import asyncio
import re
import shlex
import subprocess
from typing import Any

from dockwire.collect import collect
from dockwire.docker_client import connect
from dockwire.fleet import Fleet
from dockwire.hosts import url_spec
from dockwire.lab import hostb_dockerd
from dockwire.lab import second_host as hb
from dockwire.model import HostModel
from dockwire.remote import collect_host
from dockwire.verdict.fleet_verdict import evaluate_fleet
from dockwire.verdict.records import Verdict
from tests.two_hosts_cases import A_WEB, B_WEB, CASES, Case, case_id

__all__ = ["A_WEB", "B_WEB", "CASES", "Case", "case_id"]

IN_B = ["nsenter", f"--net={hb.NETNS_PATH}"]


def bridge_ip(client: Any, name: str) -> str:
    return str(client.containers.get(name).attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"])


def saved(host: str, table: str) -> str:
    argv = [*(IN_B if host == "b" else []), "iptables-save", "-c", "-t", table]
    return subprocess.run(argv, capture_output=True, text=True, check=True).stdout


def packets(host: str, table: str, rule: str) -> int:
    """The packet counter of the rule `iptables-save` prints as RULE (without its counters)."""
    for line in saved(host, table).splitlines():
        match = re.fullmatch(r"\[(\d+):\d+\] (.*)", line)
        if match and match.group(2) == rule:
            return int(match.group(1))
    raise AssertionError(f"no rule {rule!r} in host {host}'s {table} table")


def raw_drop(address: str) -> str:
    return f"-A PREROUTING -d {address}/32 ! -i docker0 -j DROP"


def pings(client: Any, name: str, address: str) -> bool:
    return client.containers.get(name).exec_run(["ping", "-c1", "-W1", address]).exit_code == 0


def http_body(client: Any, name: str, address: str) -> str:
    script = f"printf 'GET / HTTP/1.0\\r\\n\\r\\n' | nc -w1 {address} 80"
    code, out = client.containers.get(name).exec_run(["sh", "-c", script])
    text = out.decode(errors="replace")
    return text.split("\r\n\r\n", 1)[-1].strip() if code == 0 and "\r\n\r\n" in text else ""


# --- the cases, both hosts' models, and the fix `why` suggests ---------------------------------------------


def read_a() -> HostModel:
    return asyncio.run(collect(connect()))


def read_b() -> HostModel:
    """Host B as a remote host: `dockwire snapshot` run there over ssh."""
    spec = url_spec(hb.ssh_url(), "b", hb.ssh_options())
    return asyncio.run(collect_host(spec)).model


def fleet_now() -> Fleet:
    return Fleet.of([("a", read_a()), ("b", read_b())])


def client_b() -> Any:
    import docker

    return docker.DockerClient(base_url=hb.B_SOCKET, timeout=30)


def reaches(clients: dict[str, Any], case: Case) -> bool:
    """Real traffic for `case`, from the source container to the destination container's bridge address."""
    src_host, src, dst_host, dst, proto, port = case
    target = bridge_ip(clients[dst_host], dst)
    if proto == "icmp":
        return pings(clients[src_host], src, target)
    assert port == 80
    return http_body(clients[src_host], src, target) != ""


def ask(fleet: Fleet, case: Case) -> Verdict:
    src_host, src, dst_host, dst, proto, port = case
    return evaluate_fleet(fleet, f"{src}@{src_host}", f"{dst}@{dst_host}", proto, port)


def apply_fix_on_b(verdict: Verdict, client: Any) -> list[list[str]]:
    """Apply on host B the fix `why` gave: its daemon.json step (allow-direct-routing, named in the note) and
    its commands. Returns the commands run, for `undo_fix_on_b`."""
    assert verdict.fix_host == "b" and "allow-direct-routing" in verdict.fix_note, verdict.fix_note
    hostb_dockerd.ensure({"allow-direct-routing": True})
    client.containers.get(B_WEB).start()
    applied = []
    for command in verdict.fix:
        words = shlex.split(command)
        assert words[0] == "iptables" and words[1] == "-I", command
        subprocess.run([*IN_B, *words], check=True)
        applied.append(words)
    return applied


def undo_fix_on_b(applied: list[list[str]], client_a: Any) -> None:
    """Remove the fix's rules by their exact spec, and put B's dockerd back as the lab has it."""
    from dockwire.lab import lab_up

    for words in applied:
        subprocess.run([*IN_B, words[0], "-D", *words[2:]], check=False)
    lab_up(client_a)
