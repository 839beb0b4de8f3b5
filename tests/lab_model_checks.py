"""What a model of the lab host must hold, checked the same way on recorded snapshots and on the live host."""

from __future__ import annotations

from dockwire.lab.scenarios import (
    CONTAINERS,
    CUSTOM_IP,
    CUSTOM_MTU,
    V6_A,
    V6_SUBNET,
    V6R_SUBNET,
    V6R_WEB,
    WEB_HOST_PORT,
)
from dockwire.model import Container, HostModel

EMBEDDED_DNS = "127.0.0.11"


def lab_container(model: HostModel, name: str) -> Container:
    container = model.container(name)
    assert container is not None, f"{name} missing from the model"
    return container


def has_ipv6_scenario(model: HostModel) -> bool:
    """False for recordings made before the lab had its ipv6 scenario."""
    return model.network("dwlab-v6") is not None


def has_routed_ipv6_scenario(model: HostModel) -> bool:
    """False for recordings made before the lab had its ipv6-routed scenario."""
    return model.network("dwlab-v6r") is not None


def check_containers_and_veths(model: HostModel) -> None:
    """Every lab container is there, and each one with its own namespace has its veth on the right bridge."""
    for spec in CONTAINERS:
        if spec.scenario == "ipv6" and not has_ipv6_scenario(model):
            continue
        if spec.scenario == "ipv6-routed" and not has_routed_ipv6_scenario(model):
            continue
        c = lab_container(model, spec.name)
        assert c.state == "running", (c.name, c.state)
        assert c.netns_inode, f"{c.name}: no namespace identity"
        if spec.network.startswith("container:") or spec.network == "none":
            continue
        endpoint = c.endpoints[0]
        network = model.network(endpoint.network_id)
        assert network is not None and network.bridge, (c.name, endpoint.network)
        veths = [v for v in model.veths if v.container_id == c.id]
        assert [(v.bridge, v.container_ifname) for v in veths] == [(network.bridge, "eth0")], (c.name, veths)
        bridge = next(b for b in model.bridges if b.name == network.bridge)
        assert veths[0].host_ifname in bridge.ports
        eth0 = next(i for i in c.interfaces if i.name == "eth0")
        assert any(a.address == endpoint.ip for a in eth0.addresses)


def check_network_modes(model: HostModel) -> None:
    web, sidecar = lab_container(model, "dwlab-web"), lab_container(model, "dwlab-sidecar")
    assert sidecar.netns_owner == web.id and sidecar.netns_inode == web.netns_inode
    assert sidecar.interfaces == []  # it lives in web's namespace: read once, there
    none = lab_container(model, "dwlab-none")
    assert [i.name for i in none.interfaces] == ["lo"]
    custom = lab_container(model, "dwlab-custom-a")
    assert custom.endpoints[0].ip == CUSTOM_IP
    assert next(i for i in custom.interfaces if i.name == "eth0").mtu == CUSTOM_MTU


def check_dns(model: HostModel) -> None:
    """Embedded DNS on user-defined networks only; --link writes /etc/hosts."""
    embedded = lab_container(model, "dwlab-iso-a").dns
    assert embedded is not None and embedded.nameservers == [EMBEDDED_DNS]
    default = lab_container(model, "dwlab-default-a").dns
    assert default is not None and default.nameservers and EMBEDDED_DNS not in default.nameservers
    linked = lab_container(model, "dwlab-linked").dns
    assert linked is not None and any("db" in e.names for e in linked.hosts)


def check_firewall(model: HostModel) -> None:
    """Docker's rules of every table are there, parsed, with counters; the lab's DOCKER-USER rule too."""
    rules = [(t, r) for t in model.firewall.tables if t.family == "ip" for c in t.chains for r in c.rules]
    docker_rules = [(t, r) for t, r in rules if r.owner == "docker"]
    tables = {t.name for t, _ in docker_rules}
    assert {"filter", "nat"} <= tables, tables
    assert all(not r.unknown for _, r in docker_rules), [r.text for _, r in docker_rules if r.unknown]
    assert all(r.target is not None for _, r in docker_rules)
    assert any(r.packets > 0 for _, r in rules), "no counter moved at all"
    dnat = [r for t, r in docker_rules if t.name == "nat" and r.target and r.target.name == "DNAT"]
    assert any(f"--dport {WEB_HOST_PORT}" in r.text for r in dnat)
    user = [r for _, r in rules if r.chain == "DOCKER-USER" and r.comment == "dockwire-lab"]
    assert len(user) == 1 and user[0].owner == "dockwire"


def check_ipv6(model: HostModel) -> None:
    """The dual-stack network, its containers' IPv6 side, IPv6 forwarding and the lab's ip6tables rule."""
    network = model.network("dwlab-v6")
    assert network is not None and network.enable_ipv6
    assert V6_SUBNET in [s.subnet for s in network.subnets]
    a = lab_container(model, "dwlab-v6-a")
    endpoint = a.endpoints[0]
    assert (endpoint.ipv6, endpoint.ipv6_prefixlen) == (V6_A, 64) and endpoint.ipv6_gateway
    eth0 = next(i for i in a.interfaces if i.name == "eth0")
    assert any(x.family == 6 and x.address == V6_A for x in eth0.addresses)
    assert any(r.family == 6 and r.dst == "default" and r.gateway == endpoint.ipv6_gateway for r in a.routes)
    assert model.sysctls.ipv6_forwarding == 1 and model.sysctls.bridge_nf_call_ip6tables == 1
    chains = [c for t in model.firewall.tables if t.family == "ip6" for c in t.chains]
    if not any(c.name == "DOCKER-USER" for c in chains):
        return  # ip6tables off (Docker before 27 by default): the lab skips its IPv6 rule
    user = [r for c in chains for r in c.rules if r.chain == "DOCKER-USER" and r.comment == "dockwire-lab"]
    assert len(user) == 1 and user[0].owner == "dockwire" and f"-s {V6_A}/128" in user[0].text


def check_routed_ipv6(model: HostModel) -> None:
    """The routed IPv6 network (its gateway mode asked for) and its web container's address in it."""
    network = model.network("dwlab-v6r")
    assert network is not None and network.enable_ipv6
    assert V6R_SUBNET in [s.subnet for s in network.subnets]
    assert network.options.get("com.docker.network.bridge.gateway_mode_ipv6") == "routed"
    web = lab_container(model, "dwlab-v6r-web")
    assert web.endpoints[0].ipv6 == V6R_WEB


def check_sysctls(model: HostModel) -> None:
    assert model.sysctls.ip_forward == 1
    assert model.sysctls.br_netfilter_loaded and model.sysctls.bridge_nf_call_iptables == 1
    assert model.sysctls.rp_filter  # per interface, "all" and "default" at least


def check_lab_model(model: HostModel) -> None:
    assert model.engine is not None and model.engine.layout != "unknown"
    check_containers_and_veths(model)
    check_network_modes(model)
    check_dns(model)
    check_firewall(model)
    check_sysctls(model)
    if has_ipv6_scenario(model):
        check_ipv6(model)
    if has_routed_ipv6_scenario(model):
        check_routed_ipv6(model)
