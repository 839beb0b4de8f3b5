"""A synthetic Docker host for benchmarks: N containers on a few bridges, with Docker's documented rules.

The firewall is the 28.x iptables layout (or the 20.10 / 29.x iptables one) written from Docker's documented
templates (tests/doc_layouts.py), optionally with many extra DOCKER-USER rules that match nothing the
benchmark sends: `rule_mix="blocklist"` is one shape (source, destination and port of addresses no container
has), `"mixed"` a busy host's assortment (address and prefix blocklists, blocked ports on the uplink, egress
blocks, rules naming container addresses on ports nobody checks).

The defaults are the host the benchmarks have always used (every 4th container publishes tcp/80, every
container exposes tcp/80). `extra_ports` publishes more (udp/53 on every 8th, tcp/443 on 127.0.0.1 on every
12th); `variety` adds the odd cases (an --internal network, one with icc off, a container on two networks, one
sharing another's namespace, one stopped) so that equivalence tests meet more of the engine's paths.
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
from tests.doc_layouts import layout_20_10, layout_28_iptables, layout_29_iptables

PREFIX = "bench-"
# tests/doc_layouts.py's 20.10 and 29.x layouts take the lab's names.
LAB_PREFIX = "dwlab-"
LAYOUTS = ("28", "20.10", "29-iptables")
RULE_MIXES = ("blocklist", "mixed")


def _network(index: int, prefix: str, internal: bool = False, icc: bool = True) -> Network:
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
        name=f"{prefix}net-{index}",
        driver="bridge",
        bridge=f"br-{net_id[:12]}",
        subnets=[Subnet(subnet=str(subnet), gateway=str(subnet.network_address + 1))],
        internal=internal,
        icc=icc,
    )


def _local(addr: str, dev: str) -> Route:
    return Route(dst=f"{addr}/32", dev=dev, table=255, type="local", scope="host", prefsrc=addr)


def _ports(k: int, publish_every: int, extra_ports: bool) -> list[PortBinding]:
    ports = []
    if publish_every and k % publish_every == 0:
        ports.append(PortBinding(container_port=80, proto="tcp", host_port=8000 + k))
    if extra_ports and k % 8 == 0:
        ports.append(PortBinding(container_port=53, proto="udp", host_port=9000 + k))
    if extra_ports and k % 12 == 0:
        ports.append(PortBinding(container_port=443, proto="tcp", host_ip="127.0.0.1", host_port=10000 + k))
    return ports


def _user_rules(count: int, mix: str, container_ips: list[str]) -> list[str]:
    """`count` DOCKER-USER rules that match nothing a matrix sends (ports, addresses nobody uses)."""
    if mix == "blocklist":
        return [
            f"-A DOCKER-USER -s 10.250.{i // 250}.{i % 250 + 1}/32 -d 10.251.{i // 250}.{i % 250 + 1}/32 "
            f"-p tcp -m tcp --dport {1024 + i % 60000} -j DROP"
            for i in range(count)
        ]
    rules = []
    for i in range(count):
        a, b = i // 250 % 250, i % 250 + 1
        kind = i % 10
        if kind < 4:  # one client's access to one service
            rules.append(
                f"-A DOCKER-USER -s 10.250.{a}.{b}/32 -d 10.251.{a}.{b}/32 -p tcp -m tcp "
                f"--dport {1024 + i % 60000} -j DROP"
            )
        elif kind < 6:  # a blocked port on the uplink
            rules.append(f"-A DOCKER-USER -i eth0 -p tcp -m tcp --dport {20000 + i % 40000} -j DROP")
        elif kind < 8:  # a blocked network
            if kind == 6:
                rules.append(f"-A DOCKER-USER -s 10.252.{a}.{b}/32 -j DROP")
            else:
                rules.append(f"-A DOCKER-USER -s 100.{64 + a % 64}.{b}.0/24 -j DROP")
        elif kind == 8:  # an egress block
            rules.append(
                f"-A DOCKER-USER -o eth0 -d 198.18.{a}.{b}/32 -j REJECT --reject-with icmp-port-unreachable"
            )
        else:  # a container's address on a port no check uses
            ip = container_ips[i % len(container_ips)] if container_ips else "10.253.0.1"
            rules.append(f"-A DOCKER-USER -d {ip}/32 -p udp -m udp --dport {30000 + i % 30000} -j DROP")
    return rules


def synthetic_host(
    containers: int = 100,
    networks: int = 5,
    user_rules: int = 0,
    *,
    rule_mix: str = "blocklist",
    publish_every: int = 4,
    extra_ports: bool = False,
    layout: str = "28",
    variety: bool = False,
) -> HostModel:
    if layout not in LAYOUTS or rule_mix not in RULE_MIXES:
        raise ValueError(f"layout is one of {LAYOUTS}, rule_mix one of {RULE_MIXES}")
    prefix = PREFIX if layout == "28" else LAB_PREFIX
    nets = [_network(i, prefix, variety and i == 3, not (variety and i == 4)) for i in range(networks)]
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
    ctrs: list[Container] = []
    veths: list[VethPair] = []
    for k in range(containers):
        cid = f"{k + 1:012x}" + "c" * 52
        name = f"{prefix}{k:03d}"
        ports = _ports(k, publish_every, extra_ports)
        if variety and k == 7 and containers > 8:  # shares container 1's namespace
            owner = ctrs[1]
            ctrs.append(
                Container(
                    id=cid,
                    name=name,
                    image="busybox",
                    state="running",
                    network_mode=f"container:{owner.id}",
                    netns_owner=owner.id,
                    exposed=["8080/tcp"],
                )
            )
            continue
        attached = [nets[k % networks]]
        if variety and k == 5 and networks > 2:  # also on the next network
            attached.append(nets[(k + 1) % networks])
        endpoints: list[Endpoint] = []
        routes: list[Route] = []
        ifaces = [Interface(name="lo", ifindex=1, addresses=[Address(address="127.0.0.1", prefixlen=8)])]
        for slot, net in enumerate(attached):
            subnet = IPv4Network(net.subnets[0].subnet)
            ip = str(subnet.network_address + 2 + k // networks + (100 if slot else 0))
            ifname, host_if = f"eth{slot}", f"vethb{k:05d}{'x' * slot}"
            host_index = 1000 + k + 10000 * slot
            gateway = net.subnets[0].gateway
            endpoints.append(
                Endpoint(network_id=net.id, network=net.name, ip=ip, prefixlen=16, gateway=gateway)
            )
            ifaces.append(
                Interface(
                    name=ifname,
                    ifindex=2 + slot,
                    kind="veth",
                    addresses=[Address(address=ip, prefixlen=16)],
                    peer_ifindex=host_index,
                )
            )
            if slot == 0 and not net.internal:
                routes.append(Route(dst="default", dev=ifname, gateway=gateway))
            routes += [
                Route(dst=net.subnets[0].subnet, dev=ifname, scope="link", prefsrc=ip),
                _local(ip, ifname),
            ]
            host_ifaces.append(
                Interface(
                    name=host_if, ifindex=host_index, kind="veth", master=net.bridge, peer_ifindex=2 + slot
                )
            )
            veths.append(
                VethPair(
                    host_ifname=host_if,
                    host_ifindex=host_index,
                    bridge=net.bridge,
                    container_id=cid,
                    container_ifname=ifname,
                    container_ifindex=2 + slot,
                )
            )
        routes.append(Route(dst="127.0.0.0/8", dev="lo", table=255, type="local"))
        ctrs.append(
            Container(
                id=cid,
                name=name,
                image="busybox",
                state="exited" if variety and k == 9 else "running",
                network_mode=attached[0].name,
                endpoints=endpoints,
                ports=ports,
                exposed=["80/tcp"],
                interfaces=ifaces,
                routes=routes,
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
    if layout == "28":
        text = layout_28_iptables(model, prefix)
    elif layout == "20.10":
        text = layout_20_10(model)
    else:
        text = layout_29_iptables(model)
    if user_rules:
        ips = [e.ip for c in ctrs for e in c.endpoints if e.ip]
        extra = "\n".join(_user_rules(user_rules, rule_mix, ips)) + "\n"
        if "-A DOCKER-USER -j RETURN\n" in text:  # 20.10: before DOCKER-USER's RETURN tail
            text = text.replace("-A DOCKER-USER -j RETURN\n", extra + "-A DOCKER-USER -j RETURN\n", 1)
        else:
            text = text.replace("COMMIT\n*nat", extra + "COMMIT\n*nat", 1)
    tables = parse_iptables_save(text, "iptables-nft")
    firewall = Firewall(iptables_backend="nft", tables=assign_owners(tables, [n.bridge for n in nets]))
    return HostModel(**{**{f: getattr(model, f) for f in model.__struct_fields__}, "firewall": firewall})


def rule_count(model: HostModel) -> int:
    return sum(len(c.rules) for t in model.firewall.tables for c in t.chains)
