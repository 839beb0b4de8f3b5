"""A synthetic Docker host for benchmarks: N containers on a few bridges, with Docker 28.x rules.

The firewall is the 28.x iptables layout written from Docker's documented templates (tests/doc_layouts.py),
optionally with many extra DOCKER-USER rules that match nothing the benchmark sends.
"""

from __future__ import annotations

from ipaddress import IPv4Network

from dockwire.model import (
    Address,
    Container,
    Endpoint,
    Engine,
    Firewall,
    HostModel,
    HostNet,
    Interface,
    Network,
    PortBinding,
    Route,
    Subnet,
    Sysctls,
    VethPair,
)
from dockwire.probes.firewall_owner import assign_owners
from dockwire.probes.iptables_save import parse_iptables_save
from tests.doc_layouts import layout_28_iptables

PREFIX = "bench-"


def _network(index: int) -> Network:
    if index == 0:
        return Network(
            id="0" * 64,
            name="bridge",
            driver="bridge",
            bridge="docker0",
            subnets=[Subnet(subnet="172.17.0.0/16", gateway="172.17.0.1")],
        )
    net_id = f"{index:012x}" + "0" * 52
    subnet = IPv4Network(f"10.{100 + index}.0.0/16")
    return Network(
        id=net_id,
        name=f"{PREFIX}net-{index}",
        driver="bridge",
        bridge=f"br-{net_id[:12]}",
        subnets=[Subnet(subnet=str(subnet), gateway=str(subnet.network_address + 1))],
    )


def _local(addr: str, dev: str) -> Route:
    return Route(dst=f"{addr}/32", dev=dev, table=255, type="local", scope="host", prefsrc=addr)


def synthetic_host(containers: int = 100, networks: int = 5, user_rules: int = 0) -> HostModel:
    nets = [_network(i) for i in range(networks)]
    host_ifaces = [
        Interface(name="lo", ifindex=1, addresses=[Address(address="127.0.0.1", prefixlen=8)]),
        Interface(name="eth0", ifindex=2, kind="", addresses=[Address(address="192.0.2.2", prefixlen=24)]),
    ]
    host_routes = [
        Route(dst="default", dev="eth0", gateway="192.0.2.1"),
        Route(dst="192.0.2.0/24", dev="eth0", scope="link", prefsrc="192.0.2.2"),
        Route(dst="127.0.0.0/8", dev="lo", table=255, type="local"),
        _local("192.0.2.2", "eth0"),
    ]
    for i, n in enumerate(nets):
        gw = n.subnets[0].gateway
        host_ifaces.append(
            Interface(
                name=n.bridge, ifindex=10 + i, kind="bridge", addresses=[Address(address=gw, prefixlen=16)]
            )
        )
        host_routes += [
            Route(dst=n.subnets[0].subnet, dev=n.bridge, scope="link", prefsrc=gw),
            _local(gw, n.bridge),
        ]
    ctrs, veths = [], []
    for k in range(containers):
        net = nets[k % networks]
        subnet = IPv4Network(net.subnets[0].subnet)
        ip = str(subnet.network_address + 2 + k // networks)
        cid = f"{k + 1:012x}" + "c" * 52
        host_if = f"vethb{k:05d}"
        ports = [PortBinding(container_port=80, proto="tcp", host_port=8000 + k)] if k % 4 == 0 else []
        ctrs.append(
            Container(
                id=cid,
                name=f"{PREFIX}{k:03d}",
                image="busybox",
                state="running",
                network_mode=net.name,
                endpoints=[
                    Endpoint(
                        network_id=net.id,
                        network=net.name,
                        ip=ip,
                        prefixlen=16,
                        gateway=net.subnets[0].gateway,
                    )
                ],
                ports=ports,
                exposed=["80/tcp"],
                interfaces=[
                    Interface(name="lo", ifindex=1, addresses=[Address(address="127.0.0.1", prefixlen=8)]),
                    Interface(
                        name="eth0",
                        ifindex=2,
                        kind="veth",
                        addresses=[Address(address=ip, prefixlen=16)],
                        peer_ifindex=1000 + k,
                    ),
                ],
                routes=[
                    Route(dst="default", dev="eth0", gateway=net.subnets[0].gateway),
                    Route(dst=net.subnets[0].subnet, dev="eth0", scope="link", prefsrc=ip),
                    _local(ip, "eth0"),
                    Route(dst="127.0.0.0/8", dev="lo", table=255, type="local"),
                ],
            )
        )
        host_ifaces.append(
            Interface(name=host_if, ifindex=1000 + k, kind="veth", master=net.bridge, peer_ifindex=2)
        )
        veths.append(
            VethPair(
                host_ifname=host_if,
                host_ifindex=1000 + k,
                bridge=net.bridge,
                container_id=cid,
                container_ifname="eth0",
                container_ifindex=2,
            )
        )
    model = HostModel(
        hostname="synthetic",
        engine=Engine(version="28.5.2", layout="28", userland_proxy=True),
        networks=nets,
        containers=ctrs,
        host=HostNet(interfaces=host_ifaces, routes=host_routes),
        veths=veths,
        sysctls=Sysctls(ip_forward=1, br_netfilter_loaded=True, bridge_nf_call_iptables=1),
    )
    text = layout_28_iptables(model, PREFIX)
    if user_rules:
        extra = [
            f"-A DOCKER-USER -s 10.250.{i // 250}.{i % 250 + 1}/32 -d 10.251.{i // 250}.{i % 250 + 1}/32 "
            f"-p tcp -m tcp --dport {1024 + i % 60000} -j DROP"
            for i in range(user_rules)
        ]
        text = text.replace("COMMIT\n*nat", "\n".join(extra) + "\nCOMMIT\n*nat", 1)
    tables = parse_iptables_save(text, "iptables-nft")
    firewall = Firewall(iptables_backend="nft", tables=assign_owners(tables, [n.bridge for n in nets]))
    return HostModel(**{**{f: getattr(model, f) for f in model.__struct_fields__}, "firewall": firewall})


def rule_count(model: HostModel) -> int:
    return sum(len(c.rules) for t in model.firewall.tables for c in t.chains)
