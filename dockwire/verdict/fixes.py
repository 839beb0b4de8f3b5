"""The fix for a blocked flow: one to three concrete commands, chosen from what blocked it.

A user's rule is deleted by its exact spec (or nft handle); Docker's own drops are answered the Docker way
(connect a network, publish a port); a missing piece gets the setting that supplies it.
"""

from __future__ import annotations

import shlex
from dataclasses import dataclass

from dockwire.model import DEFAULT_NETWORKS, Container, Firewall, Network, Rule, Table
from dockwire.rule_words import rule_words
from dockwire.verdict.context import EngineContext
from dockwire.verdict.endpoints import FlowEnd
from dockwire.verdict.netfilter_eval import Hit
from dockwire.verdict.packet import ip


@dataclass(frozen=True, slots=True)
class Fix:
    commands: list[str]
    note: str = ""


@dataclass(frozen=True, slots=True)
class FixInput:
    ctx: EngineContext
    src: FlowEnd
    dst: FlowEnd
    proto: str
    port: int | None
    culprit: Hit | None
    missing: str
    facts: dict[str, str]
    direction: str


def _container_networks(ctx: EngineContext, c: Container) -> list[Network]:
    nets = []
    for ep in c.endpoints:
        net = ctx.network(ep.network_id) or ctx.network(ep.network)
        if net is not None:
            nets.append(net)
    return nets


def _connect_target(ctx: EngineContext, dst: Container) -> Network | None:
    """The network to join to share one with `dst`: user-defined and not internal first."""
    nets = _container_networks(ctx, ctx.owner(dst))
    nets.sort(key=lambda n: (n.internal, n.name in DEFAULT_NETWORKS, n.name))
    return nets[0] if nets else None


def iptables_tool(table: Table, firewall: Firewall) -> str:
    """The iptables binary that reaches this table's backend: plain `iptables`/`ip6tables` when that is the
    backend it points at and no other backend holds rules; else the explicit `-nft` or `-legacy` one."""
    tool = "ip6tables" if table.family == "ip6" else "iptables"
    points_at = "iptables-legacy" if firewall.iptables_backend == "legacy" else "iptables-nft"
    if table.source == points_at and len(firewall.iptables_sources_with_rules()) < 2:
        return tool
    return f"{tool}-legacy" if table.source == "iptables-legacy" else f"{tool}-nft"


def iptables_command(table: Table, rule: Rule, firewall: Firewall) -> str:
    """`iptables [-t T] -D CHAIN SPEC` for an iptables rule, with the binary that reaches its backend; the
    spec's words are read as iptables-save quotes them, so the command matches the real rule."""
    words = rule_words(rule.text)
    spec = words[2:] if words[:1] in (["-A"], ["--append"]) else words
    flag = [] if table.name == "filter" else ["-t", table.name]
    return shlex.join([iptables_tool(table, firewall), *flag, "-D", rule.chain, *spec])


def delete_rule(ctx: EngineContext, hit: Hit) -> str:
    assert hit.rule is not None
    table, rule = hit.chain.table, hit.rule.rule
    if table.source.startswith("iptables"):
        return iptables_command(table, rule, ctx.model.firewall)
    if rule.handle is not None:
        chain = shlex.quote(hit.chain.chain.name)
        return f"nft delete rule {table.family} {table.name} {chain} handle {rule.handle}"
    return f"nft -a list chain {table.family} {table.name} {hit.chain.chain.name}  # then delete it by handle"


def _connect(fx: FixInput, why: str) -> Fix | None:
    """`docker network connect` the source to one of the destination's networks."""
    if fx.src.container is None or fx.dst.container is None:
        return None
    src = fx.ctx.owner(fx.src.container)
    net = _connect_target(fx.ctx, fx.dst.container)
    if net is None:
        return None
    note = f"{why}; sharing network {net.name} lets them talk directly"
    if net.internal:
        note += " (it is --internal: only inside that network)"
    return Fix([f"docker network connect {shlex.quote(net.name)} {shlex.quote(src.name)}"], note)


def _host_address_for(fx: FixInput) -> str:
    """The host address a client at the source would use (the address of the interface it comes in on), as
    the host part of HOST:PORT (an IPv6 one in brackets)."""
    v6 = ":" in (fx.src.address or fx.dst.address or "")
    if fx.src.kind == "outside" and fx.src.address:
        src = ip(fx.src.address)
        route = fx.ctx.routing.lookup(src)
        addr = fx.ctx.host_address(route.dev, src.version)
        if addr is not None:
            return f"[{addr}]" if addr.version == 6 else str(addr)
    if fx.src.kind == "host":
        return "[::1]" if v6 else "127.0.0.1"
    return "HOSTIP"


# For IPv6 the container addresses are often meant to be reached from outside: Docker's routed gateway mode.
ROUTED_IPV6 = (
    "or, when this IPv6 prefix is routed to the host, create the network with -o "
    "com.docker.network.bridge.gateway_mode_ipv6=routed (no NAT: the containers' own IPv6 addresses answer "
    "ICMPv6 and their published ports)"
)


def _publish(fx: FixInput, why: str) -> Fix:
    proto = fx.proto if fx.proto in ("tcp", "udp") else ""
    if not proto or fx.port is None:
        return Fix(
            [],
            f"{why}; only TCP and UDP ports can be published (ICMP to a container works only from "
            "its own networks or the host)",
        )
    port = fx.port
    target = fx.dst.container
    container_port = port
    name = fx.facts.get("container")
    if target is None and name:
        target = fx.ctx.model.container(name)
        bound = [b for b in target.ports if b.host_port == port and b.proto == proto] if target else []
        if bound:
            container_port = bound[0].container_port
    suffix = "" if proto == "tcp" else f"/{proto}"
    if target is not None:
        c = fx.ctx.owner(target)
        bound = [
            b
            for b in c.ports
            if b.container_port == port
            and b.proto == proto
            and b.host_port
            and b.host_ip in ("", "0.0.0.0", "::")
        ]
        if bound and fx.src.kind in ("outside", "host") and fx.dst.kind == "container":
            b = bound[0]
            where = _host_address_for(fx)
            return Fix(
                [f"dockwire why {shlex.quote(fx.src.text)} {where}:{b.host_port} --proto {proto}"],
                f"{why}; {c.name} already publishes {port}/{proto} as port {b.host_port} of the host: "
                "connect there",
            )
        nets = [n.name for n in _container_networks(fx.ctx, c) if n.name != "bridge"]
        net_opt = f" --network {shlex.quote(nets[0])}" if nets else ""
        publish = f"-p {port}:{container_port}{suffix}"
        return Fix(
            [
                f"docker rm -f {shlex.quote(c.name)}",
                f"docker run -d --name {shlex.quote(c.name)}{net_opt} {publish} {shlex.quote(c.image)}",
            ],
            f"{why}; ports can only be published when a container is created: recreate it with {publish} "
            "(and its other options)",
        )
    return Fix([f"docker run -d -p {port}:{port}{suffix} IMAGE"], f"{why}; publish the port on the container")


def _docker_rule_fix(fx: FixInput, hit: Hit) -> Fix | None:
    """Docker's own drop rules, recognised by chain and shape (iptables) or comment (nftables)."""
    assert hit.rule is not None
    rule = hit.rule.rule
    chain = hit.chain.chain.name
    table = hit.chain.table.name
    text = rule.text
    comment = rule.comment.upper()
    src_is_container = fx.src.container is not None
    if (table == "raw" and chain == "PREROUTING" and "127." in text) or comment == "DROP REMOTE LOOPBACK":
        return Fix(
            [],
            "the port is published on a loopback address only, so only the host itself can use it; "
            "to reach it from elsewhere publish it on all addresses (docker run -p PORT:PORT)",
        )
    if (table == "raw" and chain == "PREROUTING") or comment == "DROP DIRECT ACCESS":
        why = "Docker drops packets addressed straight to a container from outside its network"
        if src_is_container:
            return _connect(fx, why)
        fix = _publish(fx, why)
        if hit.chain.table.family == "ip6":
            return Fix(fix.commands, f"{fix.note}; {ROUTED_IPV6}")
        return fix
    if _is_icc_drop(rule) or comment == "ICC":
        return _icc_fix(fx)
    if chain in (
        "DOCKER-ISOLATION-STAGE-2",
        "DOCKER-ISOLATION-STAGE-1",
        "DOCKER-INTERNAL",
    ) or comment.startswith("INTERNAL NETWORK"):
        if "! -d" in text or "! -s" in text or comment.startswith("INTERNAL"):
            return _internal_fix(fx)
        return _connect(fx, "Docker isolates bridge networks from each other")
    if chain == "DOCKER" or comment == "UNPUBLISHED PORT DROP":
        why = "Docker drops traffic into a bridge network unless it is for a published port"
        if src_is_container:
            return _connect(fx, why)
        return _publish(fx, why)
    return None


def _is_icc_drop(rule: Rule) -> bool:
    """`-i BR -o BR -j DROP`: Docker's rule for a network with inter-container communication off."""
    if rule.target is None or rule.target.name.upper() != "DROP":
        return False
    ins = [m.args[0] for m in rule.matches if m.option == "-i" and not m.negated and m.args]
    outs = [m.args[0] for m in rule.matches if m.option == "-o" and not m.negated and m.args]
    return len(rule.matches) == 2 and ins == outs and len(ins) == 1


def _internal_fix(fx: FixInput) -> Fix:
    """Into an --internal network: join it; out of one: join a regular network as well."""
    ctx = fx.ctx
    src = ctx.owner(fx.src.container) if fx.src.container is not None else None
    dst = ctx.owner(fx.dst.container) if fx.dst.container is not None else None
    if dst is not None:
        internal = [n for n in _container_networks(ctx, dst) if n.internal]
        src_nets = {n.id for n in _container_networks(ctx, src)} if src is not None else set()
        if internal and internal[0].id not in src_nets:
            net = internal[0].name
            if src is None:
                return Fix([], f"{dst.name} is only on --internal network {net}: nothing outside it gets in")
            return Fix(
                [f"docker network connect {shlex.quote(net)} {shlex.quote(src.name)}"],
                f"{dst.name}'s network {net} is --internal: only its own members reach it",
            )
    name = src.name if src is not None else (dst.name if dst is not None else "CONTAINER")
    return Fix(
        [f"docker network connect bridge {shlex.quote(name)}"],
        "the network is --internal: nothing gets in or out; connect the container to a regular network "
        "as well",
    )


def _icc_fix(fx: FixInput) -> Fix:
    a = fx.ctx.owner(fx.src.container).name if fx.src.container else "A"
    b = fx.ctx.owner(fx.dst.container).name if fx.dst.container else "B"
    net = f"{a}-{b}"[:60]
    return Fix(
        [
            f"docker network create {shlex.quote(net)}",
            f"docker network connect {shlex.quote(net)} {shlex.quote(a)}",
            f"docker network connect {shlex.quote(net)} {shlex.quote(b)}",
        ],
        "the network has inter-container communication off (enable_icc=false); give the two containers "
        "a network of their own",
    )


def _policy_fix(fx: FixInput, hit: Hit) -> Fix:
    where = hit.where
    chain = hit.chain.chain.name
    table = hit.chain.table
    tool = iptables_tool(table, fx.ctx.model.firewall)
    if chain == "FORWARD" and where.iif and where.oif:
        if "DOCKER-USER" in {c.name for c in table.chains}:
            ins = f"{tool} -I DOCKER-USER"
        else:
            ins = f"{tool} -I FORWARD"
        if fx.direction.endswith("reply"):
            return Fix(
                [f"{ins} -i {where.iif} -o {where.oif} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT"],
                "the FORWARD policy drops the replies: accept established traffic back",
            )
        return Fix(
            [
                f"{ins} -i {where.iif} -o {where.oif} -j ACCEPT",
                f"{ins} -i {where.oif} -o {where.iif} -m conntrack --ctstate RELATED,ESTABLISHED -j ACCEPT",
            ],
            "nothing accepts this forwarded traffic, so the FORWARD policy (DROP) does",
        )
    if table.source == "nftables":
        return Fix(
            [],
            f"the policy of {table.family} {table.name} {chain} drops it; add an accept rule before the "
            "end of that chain",
        )
    return Fix(
        [f"{tool} -t {table.name} -I {chain} -j ACCEPT  # narrow it to this flow"],
        f"the policy of {table.name} {chain} drops it",
    )


def _missing_fix(fx: FixInput) -> Fix:
    m, facts = fx.missing, fx.facts
    if m == "ip_forward":
        return Fix(["sysctl -w net.ipv4.ip_forward=1"], "make it permanent in /etc/sysctl.d/")
    if m == "ipv6_forwarding":
        return Fix(
            ["sysctl -w net.ipv6.conf.all.forwarding=1"],
            "make it permanent in /etc/sysctl.d/; with forwarding on, the host no longer takes router "
            "advertisements unless accept_ra=2",
        )
    if m == "disable_ipv6":
        # sysctl's dotted names cannot hold an interface name with a dot: the slash form can.
        key = f"net/ipv6/conf/{facts.get('dev', 'IFACE')}/disable_ipv6"
        return Fix(
            [f"sysctl -w {shlex.quote(key)}=0"],
            "check /etc/sysctl.d/ and the kernel command line (ipv6.disable) for what turned it off",
        )
    if m == "not-running":
        return Fix([f"docker start {shlex.quote(facts.get('container', 'CONTAINER'))}"])
    if m == "network-none":
        name = shlex.quote(facts.get("container", "CONTAINER"))
        return Fix(
            [f"docker network disconnect none {name}", f"docker network connect bridge {name}"],
            "a container with --network none has only loopback",
        )
    if m == "container-route":
        if facts.get("internal"):
            return _internal_fix(fx)
        return _connect(fx, "the source has no route there") or Fix([], "add a network that routes there")
    if m == "not-published":
        return _publish(fx, "the port is not published on that address")
    if m == "macvlan-host":
        parent = facts.get("parent") or "PARENT"
        return Fix(
            [
                f"ip link add dwshim link {parent} type macvlan mode bridge",
                "ip addr add HOST_ADDR/32 dev dwshim && ip link set dwshim up && "
                "ip route add CONTAINER_ADDR/32 dev dwshim",
            ],
            "the host can reach its macvlan children only through a macvlan interface of its own "
            "(pick a free address of that network for HOST_ADDR)",
        )
    if m == "route_localnet":
        return Fix(
            [f"sysctl -w net.ipv4.conf.{facts.get('iface', 'all')}.route_localnet=1"],
            "Docker sets this itself when the userland proxy is off",
        )
    if m == "rp_filter":
        return Fix(
            [f"sysctl -w net.ipv4.conf.{facts.get('iface', 'all')}.rp_filter=2"],
            "loose reverse-path filtering accepts asymmetric routes",
        )
    if m == "route":
        return Fix(
            [f"ip route add {facts.get('dst', 'DST')} via GATEWAY"], "add a route towards the destination"
        )
    if m == "no-proxy":
        return Fix(
            [],
            'enable the userland proxy ("userland-proxy": true in daemon.json) or reach the port '
            "through an address that the DNAT rule covers",
        )
    if m == "neighbour":
        return Fix([], "no container or host address owns that IP on the bridge; check the address")
    if m == "reply-route":
        return Fix(
            [], "the reply takes another way back (asymmetric routing); route the reply through the host"
        )
    return Fix([])


def _ndp_fix(fx: FixInput, hit: Hit) -> Fix:
    """Accept neighbour discovery ahead of what drops it (a policy, or a rule dropping ICMPv6 wholesale)."""
    table, chain = hit.chain.table, hit.chain.chain.name
    if table.source.startswith("iptables") and table.family == "ip6":
        commands = [
            f"ip6tables -t {table.name} -I {chain} -p ipv6-icmp --icmpv6-type {kind} -j ACCEPT"
            for kind in ("neighbour-solicitation", "neighbour-advertisement")
        ]
    else:
        commands = [
            f"nft insert rule {table.family} {shlex.quote(table.name)} {shlex.quote(chain)} "
            "icmpv6 type { nd-neighbor-solicit, nd-neighbor-advert } accept"
        ]
    what = "its policy" if hit.rule is None else "that rule"
    return Fix(
        commands,
        f"IPv6 cannot work without neighbour discovery: accept it before {what} (conntrack leaves it "
        "untracked, so an ESTABLISHED,RELATED accept does not let it through)",
    )


def suggest_fix(fx: FixInput) -> Fix:
    hit = fx.culprit
    if hit is None:
        return _missing_fix(fx)
    if fx.missing == "ndp" and (hit.rule is None or hit.rule.rule.owner != "docker"):
        return _ndp_fix(fx, hit)
    if hit.rule is None:
        return _policy_fix(fx, hit)
    rule = hit.rule.rule
    if rule.owner == "docker":
        found = _docker_rule_fix(fx, hit)
        if found is not None:
            return found
        return Fix(
            [], "a Docker rule drops it; change the Docker setup rather than the rule (Docker rewrites it)"
        )
    if rule.owner in ("ufw", "firewalld"):
        return Fix(
            [delete_rule(fx.ctx, hit)],
            f"the rule belongs to {rule.owner}: change it with {rule.owner} instead, or it comes back",
        )
    return Fix([delete_rule(fx.ctx, hit)], "delete the rule (or insert an ACCEPT for this flow before it)")
