"""Firewall layouts of other Docker versions, BUILT FROM DOCKER'S DOCUMENTED RULES (not recorded).

For the networks and containers of a recorded lab snapshot, this writes the rules Docker would program
according to moby's rule templates and generated docs, as summarised in /work/shared/docker-firewall.md:
- "20.10": <=27 iptables layout (per-bridge rules in FORWARD, ISOLATION chains with RETURN tails, no raw);
- "29-iptables": 29.x iptables layout (DOCKER-INTERNAL, no isolation chains, no nat `-i br -j RETURN`);
- "29-nftables": 29.x native nftables layout (`table ip docker-bridges`), plus a user table that plays
  DOCKER-USER's part (nftables has no DOCKER-USER).
The lab's DOCKER-USER rule is carried over to the iptables layouts. Only lab networks are used.

`python -m tests.doc_layouts SNAPSHOT OUTDIR` writes OUTDIR/docs-<layout>.rules (the rules text, with a
header saying it is built from docs) and OUTDIR/docs-<layout>.json (the recorded snapshot with its firewall
replaced). The nftables text is turned into nft JSON by loading it into a throwaway network namespace
(needs root and `nft`), so the parser reads real `nft -j` output.
"""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import msgspec

from dockwire.model import Container, Engine, HostModel, Network, PortBinding
from dockwire.probes.iptables_save import parse_iptables_save
from dockwire.probes.nft_ruleset import parse_nft_json
from dockwire.snapshot import load, save
from tests.verdict_models import with_tables

HEADER = (
    "NOT RECORDED. Built from Docker's documented rule templates (moby {tag}, see "
    "/work/shared/docker-firewall.md) for the networks and containers of {snapshot}."
)
USER_TABLE = "dwtest-user"
NETNS = "dwtest-doclayout"


@dataclass(frozen=True)
class Net:
    bridge: str
    subnet: str
    internal: bool
    icc: bool


@dataclass(frozen=True)
class Ctr:
    ip: str
    bridge: str
    ports: tuple[PortBinding, ...]


def lab_view(model: HostModel, prefix: str = "dwlab-") -> tuple[list[Net], list[Ctr], list[str]]:
    """The lab's bridge networks, containers (one per bridge endpoint) and DOCKER-USER rule texts."""
    nets: list[Net] = []
    by_id: dict[str, Network] = {}
    for n in model.networks:
        if n.driver != "bridge" or not n.bridge or not n.subnets:
            continue
        if n.name != "bridge" and not n.name.startswith(prefix):
            continue
        by_id[n.id] = n
        nets.append(Net(n.bridge, n.subnets[0].subnet, n.internal, n.icc))
    ctrs: list[Ctr] = []
    for c in model.containers:
        if not c.name.startswith(prefix):
            continue
        ctrs.extend(_endpoints(c, by_id))
    user = [
        r.text
        for t in model.firewall.tables
        if t.name == "filter" and t.family == "ip"
        for ch in t.chains
        if ch.name == "DOCKER-USER"
        for r in ch.rules
        if "dockwire-lab" in r.text
    ]
    return nets, ctrs, user


def _endpoints(c: Container, by_id: dict[str, Network]) -> list[Ctr]:
    out = []
    for ep in c.endpoints:
        net = by_id.get(ep.network_id)
        if net is not None and ep.ip:
            out.append(Ctr(ep.ip, net.bridge, tuple(c.ports)))
    return out


def _ext(nets: list[Net]) -> list[Net]:
    return [n for n in nets if not n.internal]


def _ctrs_on(ctrs: list[Ctr], net: Net) -> list[Ctr]:
    return [c for c in ctrs if c.bridge == net.bridge]


def _port_rules(ctrs: list[Ctr], net: Net) -> list[str]:
    out = []
    for c in _ctrs_on(ctrs, net):
        for p in c.ports:
            out.append(
                f"-A DOCKER -d {c.ip}/32 ! -i {net.bridge} -o {net.bridge} -p {p.proto} -m {p.proto} "
                f"--dport {p.container_port} -j ACCEPT"
            )
    return out


def _dnat_rules(ctrs: list[Ctr], nets: list[Net]) -> list[str]:
    out = []
    for net in _ext(nets):
        for c in _ctrs_on(ctrs, net):
            for p in c.ports:
                dst = f"-d {p.host_ip}/32 " if p.host_ip not in ("", "0.0.0.0", "::") else ""
                out.append(
                    f"-A DOCKER {dst}! -i {net.bridge} -p {p.proto} -m {p.proto} --dport {p.host_port} "
                    f"-j DNAT --to-destination {c.ip}:{p.container_port}"
                )
    return out


def _save(tables: dict[str, tuple[list[str], list[str]]]) -> str:
    """iptables-save text from {table: (chain declarations, rules)}."""
    lines = []
    for name, (decls, rules) in tables.items():
        lines += [f"*{name}", *decls, *rules, "COMMIT"]
    return "\n".join(lines) + "\n"


def _builtin(table: str) -> list[str]:
    chains = {
        "raw": ["PREROUTING", "OUTPUT"],
        "filter": ["INPUT", "FORWARD", "OUTPUT"],
        "nat": ["PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"],
    }[table]
    return [f":{c} {'DROP' if (table, c) == ('filter', 'FORWARD') else 'ACCEPT'} [0:0]" for c in chains]


def _nat(nets: list[Net], ctrs: list[Ctr], skip_dnat_from_bridge: bool, hairpin_masq: bool) -> list[str]:
    rules = [
        "-A PREROUTING -m addrtype --dst-type LOCAL -j DOCKER",
        "-A OUTPUT ! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j DOCKER",
    ]
    rules += [f"-A POSTROUTING -s {n.subnet} ! -o {n.bridge} -j MASQUERADE" for n in _ext(nets)]
    if hairpin_masq:
        for c in ctrs:
            for p in c.ports:
                rules.append(
                    f"-A POSTROUTING -s {c.ip}/32 -d {c.ip}/32 -p {p.proto} -m {p.proto} "
                    f"--dport {p.container_port} -j MASQUERADE"
                )
    if skip_dnat_from_bridge:
        rules += [f"-A DOCKER -i {n.bridge} -j RETURN" for n in _ext(nets)]
    return rules + _dnat_rules(ctrs, nets)


def layout_20_10(model: HostModel) -> str:
    """Docker 20.10 (same shape up to 27.x): moby v20.10.27 setup_ip_tables.go / iptables.go."""
    nets, ctrs, user = lab_view(model)
    filt = ["-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-ISOLATION-STAGE-1"]
    for n in reversed(nets):  # each network's rules are inserted at the top, so the newest comes first
        if not n.internal:
            filt += [
                f"-A FORWARD -o {n.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
                f"-A FORWARD -o {n.bridge} -j DOCKER",
                f"-A FORWARD -i {n.bridge} ! -o {n.bridge} -j ACCEPT",
            ]
        filt.append(f"-A FORWARD -i {n.bridge} -o {n.bridge} -j {'ACCEPT' if n.icc else 'DROP'}")
    for n in _ext(nets):
        filt += _port_rules(ctrs, n)
    for n in nets:
        if n.internal:
            filt += [
                f"-A DOCKER-ISOLATION-STAGE-1 ! -s {n.subnet} -o {n.bridge} -j DROP",
                f"-A DOCKER-ISOLATION-STAGE-1 ! -d {n.subnet} -i {n.bridge} -j DROP",
            ]
    filt += [
        f"-A DOCKER-ISOLATION-STAGE-1 -i {n.bridge} ! -o {n.bridge} -j DOCKER-ISOLATION-STAGE-2" for n in nets
    ]
    filt.append("-A DOCKER-ISOLATION-STAGE-1 -j RETURN")
    filt += [f"-A DOCKER-ISOLATION-STAGE-2 -o {n.bridge} -j DROP" for n in reversed(nets)]
    filt.append("-A DOCKER-ISOLATION-STAGE-2 -j RETURN")
    filt += [*user, "-A DOCKER-USER -j RETURN"]
    chains = ["DOCKER", "DOCKER-ISOLATION-STAGE-1", "DOCKER-ISOLATION-STAGE-2", "DOCKER-USER"]
    return _save(
        {
            "raw": (_builtin("raw"), []),
            "filter": (_builtin("filter") + [f":{c} - [0:0]" for c in chains], filt),
            "nat": ([*_builtin("nat"), ":DOCKER - [0:0]"], _nat(nets, ctrs, True, True)),
        }
    )


def _raw_29(nets: list[Net], ctrs: list[Ctr]) -> list[str]:
    rules = []
    for n in _ext(nets):
        rules += [f"-A PREROUTING -d {c.ip}/32 ! -i {n.bridge} -j DROP" for c in _ctrs_on(ctrs, n)]
    for c in ctrs:
        for p in c.ports:
            if p.host_ip.startswith("127."):
                rules.append(
                    f"-A PREROUTING -d {p.host_ip}/32 ! -i lo -p {p.proto} -m {p.proto} "
                    f"--dport {p.host_port} -j DROP"
                )
    return rules


def _filter_head_28(nets: list[Net], ctrs: list[Ctr]) -> list[str]:
    """The filter rules 28.x and 29.x write alike: FORWARD jumps, port ACCEPTs, DOCKER/-BRIDGE/-CT."""
    filt = ["-A FORWARD -j DOCKER-USER", "-A FORWARD -j DOCKER-FORWARD"]
    for n in _ext(nets):
        filt += _port_rules(ctrs, n)
    filt += [f"-A DOCKER ! -i {n.bridge} -o {n.bridge} -j DROP" for n in _ext(nets)]
    filt += [f"-A DOCKER-BRIDGE -o {n.bridge} -j DOCKER" for n in _ext(nets)]
    filt += [
        f"-A DOCKER-CT -o {n.bridge} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT" for n in _ext(nets)
    ]
    return filt


def _forward_rules_28(nets: list[Net]) -> list[str]:
    """DOCKER-FORWARD's per-network rules (icc, internal), the same in 28.x and 29.x."""
    filt: list[str] = []
    for n in nets:
        if n.internal:
            filt.append(f"-A DOCKER-FORWARD -i {n.bridge} -o {n.bridge} -j {'ACCEPT' if n.icc else 'DROP'}")
        elif n.icc:
            filt.append(f"-A DOCKER-FORWARD -i {n.bridge} -j ACCEPT")
        else:
            filt += [
                f"-A DOCKER-FORWARD -i {n.bridge} -o {n.bridge} -j DROP",
                f"-A DOCKER-FORWARD -i {n.bridge} ! -o {n.bridge} -j ACCEPT",
            ]
    return filt


def layout_28_iptables(model: HostModel, prefix: str = "dwlab-") -> str:
    """Docker 28.2-28.5 iptables: moby v28.5.2 iptabler (DOCKER-FORWARD/-BRIDGE/-CT, isolation chains)."""
    nets, ctrs, user = lab_view(model, prefix)
    filt = _filter_head_28(nets, ctrs)
    filt += [
        "-A DOCKER-FORWARD -j DOCKER-CT",
        "-A DOCKER-FORWARD -j DOCKER-ISOLATION-STAGE-1",
        "-A DOCKER-FORWARD -j DOCKER-BRIDGE",
    ]
    filt += _forward_rules_28(nets)
    for n in nets:
        if n.internal:
            filt += [
                f"-A DOCKER-ISOLATION-STAGE-1 ! -s {n.subnet} -o {n.bridge} -j DROP",
                f"-A DOCKER-ISOLATION-STAGE-1 ! -d {n.subnet} -i {n.bridge} -j DROP",
            ]
    filt += [
        f"-A DOCKER-ISOLATION-STAGE-1 -i {n.bridge} ! -o {n.bridge} -j DOCKER-ISOLATION-STAGE-2"
        for n in _ext(nets)
    ]
    filt += [f"-A DOCKER-ISOLATION-STAGE-2 -o {n.bridge} -j DROP" for n in reversed(_ext(nets))]
    filt += user
    chains = [
        "DOCKER",
        "DOCKER-BRIDGE",
        "DOCKER-CT",
        "DOCKER-FORWARD",
        "DOCKER-ISOLATION-STAGE-1",
        "DOCKER-ISOLATION-STAGE-2",
        "DOCKER-USER",
    ]
    return _save(
        {
            "raw": (_builtin("raw"), _raw_29(nets, ctrs)),
            "filter": (_builtin("filter") + [f":{c} - [0:0]" for c in chains], filt),
            "nat": ([*_builtin("nat"), ":DOCKER - [0:0]"], _nat(nets, ctrs, True, False)),
        }
    )


def layout_29_iptables(model: HostModel) -> str:
    """Docker 29.x iptables backend: moby docker-v29.0.0 iptabler (network.go, port.go, endpoint.go)."""
    nets, ctrs, user = lab_view(model)
    filt = _filter_head_28(nets, ctrs)
    filt += [
        "-A DOCKER-FORWARD -j DOCKER-CT",
        "-A DOCKER-FORWARD -j DOCKER-INTERNAL",
        "-A DOCKER-FORWARD -j DOCKER-BRIDGE",
    ]
    filt += _forward_rules_28(nets)
    for n in nets:
        if n.internal:
            filt += [
                f"-A DOCKER-INTERNAL ! -s {n.subnet} -o {n.bridge} -j DROP",
                f"-A DOCKER-INTERNAL ! -d {n.subnet} -i {n.bridge} -j DROP",
            ]
    filt += user
    chains = ["DOCKER", "DOCKER-BRIDGE", "DOCKER-CT", "DOCKER-FORWARD", "DOCKER-INTERNAL", "DOCKER-USER"]
    return _save(
        {
            "raw": (_builtin("raw"), _raw_29(nets, ctrs)),
            "filter": (_builtin("filter") + [f":{c} - [0:0]" for c in chains], filt),
            "nat": ([*_builtin("nat"), ":DOCKER - [0:0]"], _nat(nets, ctrs, False, False)),
        }
    )


def layout_29_nftables(model: HostModel) -> str:
    """Docker 29.x nftables backend: moby docker-v29.0.0 nftabler, plus a user table on the forward hook."""
    nets, ctrs, _ = lab_view(model)
    t = "\t"
    out = ["table ip docker-bridges {"]
    for name in ("filter-forward-in", "filter-forward-out", "nat-postrouting-in", "nat-postrouting-out"):
        elems = ", ".join(f'"{n.bridge}" : jump {name}__{n.bridge}' for n in nets)
        out += [
            f"{t}map {name}-jumps {{",
            f"{t}{t}type ifname : verdict",
            f"{t}{t}elements = {{ {elems} }}",
            f"{t}}}",
        ]
    out += [
        f"{t}chain filter-FORWARD {{",
        f"{t}{t}type filter hook forward priority filter; policy accept;",
        f"{t}{t}oifname vmap @filter-forward-in-jumps",
        f"{t}{t}iifname vmap @filter-forward-out-jumps",
        f"{t}}}",
        f"{t}chain nat-OUTPUT {{",
        f"{t}{t}type nat hook output priority -100; policy accept;",
        f"{t}{t}ip daddr != 127.0.0.0/8 fib daddr type local counter jump nat-prerouting-and-output",
        f"{t}}}",
        f"{t}chain nat-POSTROUTING {{",
        f"{t}{t}type nat hook postrouting priority srcnat; policy accept;",
        f"{t}{t}iifname vmap @nat-postrouting-out-jumps",
        f"{t}{t}oifname vmap @nat-postrouting-in-jumps",
        f"{t}}}",
        f"{t}chain nat-PREROUTING {{",
        f"{t}{t}type nat hook prerouting priority dstnat; policy accept;",
        f"{t}{t}fib daddr type local counter jump nat-prerouting-and-output",
        f"{t}}}",
        f"{t}chain nat-prerouting-and-output {{",
    ]
    for n in _ext(nets):
        for c in _ctrs_on(ctrs, n):
            for p in c.ports:
                dst = f"ip daddr {p.host_ip} " if p.host_ip not in ("", "0.0.0.0", "::") else ""
                out.append(
                    f'{t}{t}iifname != "{n.bridge}" {dst}{p.proto} dport {p.host_port} counter '
                    f'dnat to {c.ip}:{p.container_port} comment "DNAT"'
                )
    out += [
        f"{t}}}",
        f"{t}chain raw-PREROUTING {{",
        f"{t}{t}type filter hook prerouting priority raw; policy accept;",
    ]
    for n in _ext(nets):
        out += [
            f'{t}{t}ip daddr {c.ip} iifname != "{n.bridge}" counter drop comment "DROP DIRECT ACCESS"'
            for c in _ctrs_on(ctrs, n)
        ]
    for c in ctrs:
        for p in c.ports:
            if p.host_ip.startswith("127."):
                out.append(
                    f'{t}{t}iifname != "lo" ip daddr {p.host_ip} {p.proto} dport {p.host_port} counter '
                    f'drop comment "DROP REMOTE LOOPBACK"'
                )
    out.append(f"{t}}}")
    for n in nets:
        b = n.bridge
        icc = "accept" if n.icc else "drop"
        out += [f"{t}chain filter-forward-in__{b} {{", f"{t}{t}ct state established,related counter accept"]
        if n.internal:
            out += [
                f'{t}{t}iifname != "{b}" counter drop comment "INTERNAL NETWORK INGRESS"',
                f'{t}{t}counter {icc} comment "ICC"',
            ]
        else:
            out.append(f'{t}{t}iifname "{b}" counter {icc} comment "ICC"')
            out += [
                f"{t}{t}ip daddr {c.ip} {p.proto} dport {p.container_port} counter accept"
                for c in _ctrs_on(ctrs, n)
                for p in c.ports
            ]
            out.append(f'{t}{t}counter drop comment "UNPUBLISHED PORT DROP"')
        out += [
            f"{t}}}",
            f"{t}chain filter-forward-out__{b} {{",
            f"{t}{t}ct state established,related counter accept",
        ]
        if n.internal:
            out.append(f'{t}{t}oifname != "{b}" counter drop comment "INTERNAL NETWORK EGRESS"')
        else:
            out.append(f'{t}{t}counter accept comment "OUTGOING"')
        out += [
            f"{t}}}",
            f"{t}chain nat-postrouting-in__{b} {{",
            f"{t}}}",
            f"{t}chain nat-postrouting-out__{b} {{",
        ]
        if not n.internal:
            out.append(f'{t}{t}oifname != "{b}" ip saddr {n.subnet} counter masquerade comment "MASQUERADE"')
        out.append(f"{t}}}")
    out.append("}")
    a = model.container("dwlab-default-a")
    b_ = model.container("dwlab-default-b")
    if a is not None and b_ is not None:
        out += [
            f"table inet {USER_TABLE} {{",
            f"{t}chain forward {{",
            f"{t}{t}type filter hook forward priority filter - 1; policy accept;",
            f"{t}{t}ip saddr {a.endpoints[0].ip} ip daddr {b_.endpoints[0].ip} tcp dport 80 counter drop "
            'comment "dwtest user drop"',
            f"{t}}}",
            "}",
        ]
    return "\n".join(out) + "\n"


def nft_json(text: str) -> str:
    """Load nft text into a throwaway network namespace and list it back as nft JSON."""
    subprocess.run(["ip", "netns", "add", NETNS], check=True)
    try:
        subprocess.run(["ip", "netns", "exec", NETNS, "nft", "-f", "-"], input=text, text=True, check=True)
        return subprocess.run(
            ["ip", "netns", "exec", NETNS, "nft", "-j", "list", "ruleset"],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    finally:
        subprocess.run(["ip", "netns", "delete", NETNS], check=False)


ENGINES = {
    "20.10": {
        "version": "20.10.24 (layout built from docs)",
        "layout": "<=27",
        "docker_firewall_backend": "",
    },
    "29-iptables": {
        "version": "29.0.0 (layout built from docs)",
        "layout": "29",
        "docker_firewall_backend": "iptables",
    },
    "29-nftables": {
        "version": "29.0.0 (layout built from docs)",
        "layout": "29",
        "docker_firewall_backend": "nftables",
    },
}


def build(snapshot: Path, outdir: Path) -> None:
    model = load(snapshot)
    layouts = {
        "20.10": ("v20.10.27", layout_20_10(model), "iptables-legacy", "legacy"),
        "29-iptables": ("docker-v29.0.0", layout_29_iptables(model), "iptables-nft", "nft"),
        "29-nftables": ("docker-v29.0.0", layout_29_nftables(model), "nftables", "nft"),
    }
    for name, (tag, text, source, backend) in layouts.items():
        header = "# " + HEADER.format(tag=tag, snapshot=snapshot.name)
        (outdir / f"docs-{name}.rules").write_text(f"{header}\n{text}")
        tables = parse_nft_json(nft_json(text)) if source == "nftables" else parse_iptables_save(text, source)
        docs = with_tables(model, tables, backend)
        engine = msgspec.structs.replace(model.engine or Engine(), **ENGINES[name])
        docs = msgspec.structs.replace(
            docs, engine=engine, hostname=f"{model.hostname} (firewall built from docs)"
        )
        save(docs, outdir / f"docs-{name}.json")
        print(f"wrote {outdir}/docs-{name}.rules and .json")


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: python -m tests.doc_layouts RECORDED_SNAPSHOT OUTDIR")
    build(Path(sys.argv[1]), Path(sys.argv[2]))
