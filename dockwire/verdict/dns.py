"""Does a name resolve from a container? Docker's embedded DNS on user-defined networks, /etc/hosts from
`--link`, and nothing for container names on the default bridge."""

from __future__ import annotations

import shlex
from dataclasses import dataclass, field

from dockwire.model import DEFAULT_NETWORKS, EMBEDDED_DNS, Container, DnsConfig, Network
from dockwire.verdict.context import EngineContext


@dataclass
class DnsAnswer:
    verdict: str  # "allowed" (resolves), "blocked", "uncertain"
    reason: str
    resolved: str = ""
    steps: list[str] = field(default_factory=list)
    missing: str = ""
    fix: list[str] = field(default_factory=list)
    fix_note: str = ""


def _user_networks(ctx: EngineContext, c: Container) -> list[tuple[Network, str]]:
    """(network, this container's IP on it) for its user-defined networks (those with embedded DNS)."""
    out = []
    for ep in c.endpoints:
        net = ctx.network(ep.network_id) or ctx.network(ep.network)
        if net is None or net.name in DEFAULT_NETWORKS or net.driver in ("host", "null"):
            continue
        out.append((net, ep.ip))
    return out


def _names_on(c: Container, network_id: str) -> set[str]:
    """The names the embedded DNS answers for `c` on one network (none when it is not on it)."""
    names: set[str] = set()
    for ep in c.endpoints:
        if ep.network_id == network_id:
            names.update({c.name, c.id[:12], *ep.aliases, *ep.dns_names})
    return {n.lower() for n in names if n}


def _all_names(c: Container) -> set[str]:
    names = {c.name, c.id[:12]}
    for ep in c.endpoints:
        names.update(ep.aliases)
        names.update(ep.dns_names)
    return {n.lower() for n in names if n}


def _from_hosts_file(
    src: Container, dns: DnsConfig | None, name: str, wanted: str, steps: list[str]
) -> DnsAnswer | None:
    if dns is None:
        return None
    for entry in dns.hosts:
        if wanted in {n.lower() for n in entry.names}:
            return DnsAnswer(
                "allowed",
                f"{name} resolves to {entry.ip} from {src.name}'s /etc/hosts",
                resolved=entry.ip,
                steps=[f"/etc/hosts: {entry.ip} {' '.join(entry.names)}"],
            )
    steps.append(f"/etc/hosts of {src.name} has no entry for {name}")
    return None


def _from_embedded_dns(
    ctx: EngineContext, user_nets: list[tuple[Network, str]], name: str, wanted: str, steps: list[str]
) -> DnsAnswer | None:
    steps.append(
        f"embedded DNS {EMBEDDED_DNS} answers for networks {', '.join(n.name for n, _ in user_nets)}"
    )
    for user_net, _ in user_nets:
        for other in ctx.model.containers:
            if other.state and other.state != "running":
                continue
            base = wanted.removesuffix(f".{user_net.name.lower()}")
            if base in _names_on(other, user_net.id):
                ep = next((ep for ep in other.endpoints if ep.network_id == user_net.id), None)
                ip = ep.ip if ep is not None else ""
                # A dual-stack endpoint has an AAAA record too.
                aaaa = f" (AAAA {ep.ipv6})" if ep is not None and ep.ipv6 else ""
                return DnsAnswer(
                    "allowed",
                    f"{name} resolves to {ip}{aaaa} via the embedded DNS on {user_net.name}",
                    resolved=ip,
                    steps=[*steps, f"{other.name} on {user_net.name}: {ip}{aaaa}"],
                )
    return None


def _not_a_container(
    src: Container, dns: DnsConfig | None, name: str, embedded: bool, steps: list[str]
) -> DnsAnswer:
    """A name no container has: Docker forwards it, and dockwire does not evaluate outside resolvers."""
    if embedded:
        return DnsAnswer(
            "uncertain",
            f"{name} is not a container name on {src.name}'s networks; the embedded "
            "DNS forwards it to the host's resolvers (not evaluated)",
            steps=steps,
        )
    return DnsAnswer(
        "uncertain",
        f"{name} is not a container or link name; {src.name} asks "
        f"{', '.join(dns.nameservers) if dns else 'the host resolvers'} (not evaluated)",
        steps=steps,
    )


def _from_default_bridge(
    ctx: EngineContext, src: Container, target: Container, name: str, steps: list[str]
) -> DnsAnswer:
    """SRC only on the default bridge: no embedded DNS; the fix puts it on a network with TARGET."""
    owner = ctx.owner(src)
    target_nets = [n for n, _ in _user_networks(ctx, ctx.owner(target))]
    steps.append(f"{src.name} is only on the default bridge: no embedded DNS for container names")
    if target_nets:
        net = target_nets[0].name
        return DnsAnswer(
            "blocked",
            f"{name} does not resolve from {src.name}: the default bridge has no embedded DNS",
            steps=steps,
            missing="dns",
            fix=[f"docker network connect {shlex.quote(net)} {shlex.quote(owner.name)}"],
            fix_note=f"{target.name} is on {net}; joining it gives {src.name} the embedded DNS",
        )
    net = "dwnet"
    return DnsAnswer(
        "blocked",
        f"{name} does not resolve from {src.name}: the default bridge has no embedded "
        "DNS (only --link writes names into /etc/hosts)",
        steps=steps,
        missing="dns",
        fix=[
            f"docker network create {net}",
            f"docker network connect {net} {shlex.quote(owner.name)}",
            f"docker network connect {net} {shlex.quote(ctx.owner(target).name)}",
        ],
        fix_note="put both on a user-defined network, where names resolve",
    )


def _on_other_networks(
    ctx: EngineContext,
    src: Container,
    target: Container,
    user_nets: list[tuple[Network, str]],
    name: str,
    steps: list[str],
) -> DnsAnswer:
    """SRC and TARGET on no user-defined network in common: the fix connects one to the other's."""
    target_nets = [n for n, _ in _user_networks(ctx, ctx.owner(target))]
    if target_nets:
        net = target_nets[0].name
        return DnsAnswer(
            "blocked",
            f"{name} does not resolve from {src.name}: {target.name} is on "
            f"{', '.join(n.name for n in target_nets)}, which {src.name} is not on",
            steps=steps,
            missing="dns",
            fix=[f"docker network connect {shlex.quote(net)} {shlex.quote(ctx.owner(src).name)}"],
        )
    user = user_nets[0][0].name
    return DnsAnswer(
        "blocked",
        f"{name} does not resolve from {src.name}: {target.name} is only on the default "
        "bridge, which the embedded DNS does not serve",
        steps=steps,
        missing="dns",
        fix=[f"docker network connect {shlex.quote(user)} {shlex.quote(ctx.owner(target).name)}"],
    )


def resolve_name(ctx: EngineContext, src: Container, name: str) -> DnsAnswer:
    """How `name` resolves inside `src` (pass the container itself, not its namespace owner)."""
    wanted = name.lower().rstrip(".")
    owner = ctx.owner(src)
    dns = src.dns or owner.dns
    steps: list[str] = []
    if (found := _from_hosts_file(src, dns, name, wanted, steps)) is not None:
        return found
    user_nets = _user_networks(ctx, owner)
    embedded = bool(user_nets) and (dns is None or EMBEDDED_DNS in dns.nameservers)
    if user_nets and dns is not None and EMBEDDED_DNS not in dns.nameservers:
        steps.append(
            f"resolv.conf does not point at the embedded DNS ({', '.join(dns.nameservers) or 'none'})"
        )
    if embedded and (found := _from_embedded_dns(ctx, user_nets, name, wanted, steps)) is not None:
        return found
    # Not resolvable through Docker: say why and how to fix it.
    target = next((c for c in ctx.model.containers if wanted in _all_names(c) and c.id != owner.id), None)
    if target is None:
        return _not_a_container(src, dns, name, embedded, steps)
    if not user_nets:
        return _from_default_bridge(ctx, src, target, name, steps)
    return _on_other_networks(ctx, src, target, user_nets, name, steps)
