"""The teaching lab: a set of small Docker scenarios that each show one way traffic flows or is stopped.

`lab_up` builds them (see `dockwire.lab.scenarios.SCENARIOS`), `lab_down` removes exactly them and
`lab_status` lists them. Docker objects are found by their labels and `dwlab-` names; the outside namespace
and its veth by their fixed names (`dockwire.lab.outside`); the firewall rule by its comment
(`dockwire.lab.user_rule`); the second Docker host of the two-hosts scenario by its names, pidfiles and rule
comment (`dockwire.lab.second_host`, built by `dockwire.lab.two_hosts`), its containers by their labels on
its own engine. All three commands are idempotent: `lab up` keeps what is already right and
recreates what is stale, `lab down` on a clean host removes nothing.

Every container except the sidecar serves its own name over HTTP on :80 (busybox httpd), so a TCP probe knows
whom it reached. The busybox-static image has no UDP server applet, so dwlab-web's published 5353/udp has no
listener: a datagram sent to 127.0.0.1:15353 reaches the container and is answered with ICMP port unreachable.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import shutil
from typing import Any

import docker
import docker.errors
import docker.types

from dockwire.lab import outside, second_host, two_hosts, user_rule
from dockwire.lab.report import LabError, LabObject, LabReport
from dockwire.lab.scenarios import (
    CONTAINERS,
    CUSTOM_SUBNET,
    IMAGE,
    NETWORKS,
    PREFIX,
    RULE_DEST,
    RULE_SOURCE,
    SCENARIO_LABEL,
    SCENARIOS,
    SPEC_LABEL,
    V6_A,
    V6_B,
    V6_SUBNET,
    ContainerSpec,
    NetworkSpec,
    labels,
)

__all__ = ["LabError", "LabObject", "LabReport", "lab_down", "lab_status", "lab_up"]


# --- public commands ------------------------------------------------------------------------------------


def lab_up(client: docker.DockerClient) -> LabReport:
    """Build every scenario; keep objects that are already as specified."""
    _require_root()
    _require_tools()
    two_hosts.require_tools()
    _ping(client)
    _require_image(client)
    _check_names_free(client)
    _check_subnet_free(client, CUSTOM_SUBNET, "dwlab-custom")
    _check_subnet_free(client, V6_SUBNET, "dwlab-v6")
    _check_subnet_free(client, outside.SUBNET, outside.NETNS)
    _check_subnet_free(client, second_host.LINK_SUBNET, second_host.NETNS)
    _check_subnet_free(client, second_host.B_SUBNET, second_host.NETNS)

    report = LabReport("up")
    replaced: set[str] = set()  # containers removed with a stale network
    fresh: set[str] = set()  # containers (re)created by this run
    for net_spec in NETWORKS:
        report.objects.append(_ensure_network(client, net_spec, replaced))
    for spec in CONTAINERS:
        report.objects.append(_ensure_container(client, spec, fresh, replaced))
    report.objects.append(_ensure_rule(client, report))
    report.objects.append(_ensure_rule6(report))
    report.objects.extend(outside.ensure_outside())
    report.objects.extend(_ensure_second_host(client))
    _sort(report)
    return report


def lab_down(client: docker.DockerClient) -> LabReport:
    """Remove exactly the lab's objects; whatever is already gone is reported as absent."""
    _require_root()
    _require_tools()
    _ping(client)
    report = LabReport("down")

    for family in (4, 6):
        if user_rule.chain_exists(family):
            report.objects.extend(user_rule.remove_rules(family))
        else:
            tool = user_rule.TOOLS[family]
            report.notes.append(f"no {tool} {user_rule.CHAIN} chain: no lab {tool} rule to remove")

    order = {spec.name: i for i, spec in enumerate(CONTAINERS)}
    containers = sorted(_lab_containers(client), key=lambda c: -order.get(c.name, len(order)))
    for container in containers:  # dependents (sidecar, linked) before what they depend on
        _call(container.remove, f"remove container {container.name}", force=True)
        report.objects.append(_removed("container", container.name, container.labels))
    for network in _lab_networks(client):
        _call(network.reload, f"inspect network {network.name}")
        users = sorted(str(ep.get("Name", "?")) for ep in (network.attrs.get("Containers") or {}).values())
        if users:
            in_use = f"in use by {', '.join(users)}"
            kept = LabObject("network", network.name, "kept", _scenario(network.attrs), in_use)
            report.objects.append(kept)
            report.notes.append(f"{network.name} kept: containers outside the lab still use it")
            continue
        _call(network.remove, f"remove network {network.name}")
        report.objects.append(_removed("network", network.name, network.attrs.get("Labels") or {}))

    touched = {(o.kind, o.name) for o in report.objects}
    for c_spec in CONTAINERS:
        if ("container", c_spec.name) not in touched:
            report.objects.append(LabObject("container", c_spec.name, "absent", c_spec.scenario))
    for n_spec in NETWORKS:
        if ("network", n_spec.name) not in touched:
            report.objects.append(LabObject("network", n_spec.name, "absent", n_spec.scenario))
    report.objects.extend(outside.remove_outside())
    report.objects.extend(_remove_second_host())
    _sort(report)
    return report


def lab_status(client: docker.DockerClient) -> LabReport:
    """Each scenario object and whether it exists and runs; needs no root except to read the rule."""
    _ping(client)
    report = LabReport("status")
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        report.notes.append(f"image {IMAGE} not found: run scripts/lab-engine to build it")

    add = report.objects.append
    nets = {n.name: n for n in _lab_networks(client, every_name=True)}
    for n_spec in NETWORKS:
        net = nets.pop(n_spec.name, None)
        if net is None:
            add(LabObject("network", n_spec.name, "missing", n_spec.scenario))
        elif not _is_lab(net.attrs.get("Labels")):
            add(LabObject("network", n_spec.name, "foreign", n_spec.scenario, "not a lab object"))
        else:
            state = "present" if _up_to_date(net.attrs.get("Labels"), n_spec) else "stale"
            add(LabObject("network", n_spec.name, state, n_spec.scenario, _network_detail(net)))
    for net in nets.values():
        if _is_lab(net.attrs.get("Labels")):
            add(LabObject("network", net.name, "extra", _scenario(net.attrs)))

    containers = {c.name: c for c in _lab_containers(client, every_name=True)}
    for spec in CONTAINERS:
        container = containers.pop(spec.name, None)
        if container is None:
            add(LabObject("container", spec.name, "missing", spec.scenario))
        elif not _is_lab(container.labels):
            add(LabObject("container", spec.name, "foreign", spec.scenario, "not a lab object"))
        else:
            state = container.status if _up_to_date(container.labels, spec) else f"stale ({container.status})"
            add(LabObject("container", spec.name, state, spec.scenario, _container_detail(client, container)))
    for container in containers.values():
        if _is_lab(container.labels):
            add(LabObject("container", container.name, "extra", _scenario(container.attrs)))

    if os.geteuid() != 0:
        add(LabObject("rule", user_rule.RULE_NAME, "unknown", "firewall", "reading it needs root"))
    elif shutil.which("iptables"):
        report.objects.append(user_rule.rule_status())
        report.objects.append(user_rule.rule_status(6))
    if shutil.which("ip"):
        report.objects.extend(outside.outside_status())
        report.objects.extend(_second_host_status(client))
    _sort(report)
    return report


# --- preflight ------------------------------------------------------------------------------------------


def _require_root() -> None:
    if os.geteuid() != 0:
        raise LabError("the lab needs root (network namespace, veth pair, iptables rule): run it as root")


def _require_tools() -> None:
    for tool, package in (("ip", "iproute2"), ("iptables", "iptables")):
        if shutil.which(tool) is None:
            raise LabError(f"the lab needs the `{tool}` command: install {package}")


def _ping(client: docker.DockerClient) -> None:
    try:
        client.ping()
    except docker.errors.DockerException as err:
        raise LabError(f"cannot reach the Docker engine: {_first_line(err)}") from err


def _require_image(client: docker.DockerClient) -> None:
    try:
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound as err:
        raise LabError(f"image {IMAGE} not found: run scripts/lab-engine to build it") from err


def _check_names_free(client: docker.DockerClient) -> None:
    """Refuse to touch an object that has a lab name but was not made by the lab."""
    for net in _lab_networks(client, every_name=True):
        if net.name in {s.name for s in NETWORKS} and not _is_lab(net.attrs.get("Labels")):
            raise LabError(f"network {net.name} exists but is not a lab network: remove or rename")
    for container in _lab_containers(client, every_name=True):
        if container.name in {s.name for s in CONTAINERS} and not _is_lab(container.labels):
            raise LabError(f"container {container.name} exists but is not a lab container: remove or rename")


def _check_subnet_free(client: docker.DockerClient, subnet: str, owner: str) -> None:
    """Fail when a Docker network other than the lab's own, or a host route, already uses `subnet`."""
    wanted = ipaddress.ip_network(subnet)
    skip_devs = {outside.HOST_IF, second_host.A_IF}
    for net in client.networks.list():
        if net.name == owner and _is_lab(net.attrs.get("Labels")):
            skip_devs.add(_bridge_name(net.attrs))
            continue
        for cfg in (net.attrs.get("IPAM") or {}).get("Config") or []:
            other = ipaddress.ip_network(cfg.get("Subnet") or "::/128", strict=False)
            if other.version == 4 and other.overlaps(wanted):
                raise LabError(f"{subnet} (for {owner}) overlaps Docker network {net.name} ({other})")
    routes = outside.overlapping_routes(subnet, skip_devs)
    if routes:
        raise LabError(f"{subnet} (for {owner}) overlaps the host route {routes[0]}")


# --- networks -------------------------------------------------------------------------------------------


def _ensure_network(client: docker.DockerClient, spec: NetworkSpec, replaced: set[str]) -> LabObject:
    existing = next((n for n in _lab_networks(client) if n.name == spec.name), None)
    if existing is not None and _up_to_date(existing.attrs.get("Labels"), spec):
        return LabObject("network", spec.name, "reused", spec.scenario, _network_detail(existing))
    if existing is not None:
        existing.reload()
        for container in existing.containers:  # only lab containers: _check_names_free ran, labels checked
            if not _is_lab(container.labels):
                raise LabError(f"network {spec.name} is stale but container {container.name} still uses it")
            _call(container.remove, f"remove container {container.name}", force=True)
            replaced.add(container.name)
        _call(existing.remove, f"remove network {spec.name}")
    pools = []
    if spec.subnet:
        pools.append(docker.types.IPAMPool(subnet=spec.subnet, gateway=spec.gateway or None))
    if spec.ipv6_subnet:
        pools.append(docker.types.IPAMPool(subnet=spec.ipv6_subnet))
    ipam = docker.types.IPAMConfig(pool_configs=pools) if pools else None
    net = _call(
        client.networks.create,
        f"create network {spec.name}",
        spec.name,
        driver="bridge",
        options=spec.options or None,
        ipam=ipam,
        enable_ipv6=bool(spec.ipv6_subnet),
        internal=spec.internal,
        labels=labels(spec),
    )
    net.reload()
    state = "recreated" if existing is not None else "created"
    return LabObject("network", spec.name, state, spec.scenario, _network_detail(net))


def _network_detail(net: Any) -> str:
    attrs = net.attrs
    parts = []
    for cfg in (attrs.get("IPAM") or {}).get("Config") or []:
        parts.append(cfg.get("Subnet", "") + (f" gw {cfg['Gateway']}" if cfg.get("Gateway") else ""))
    options = attrs.get("Options") or {}
    if attrs.get("Internal"):
        parts.append("internal")
    if options.get("com.docker.network.bridge.enable_icc") == "false":
        parts.append("icc off")
    if "com.docker.network.driver.mtu" in options:
        parts.append(f"mtu {options['com.docker.network.driver.mtu']}")
    for family in ("ipv4", "ipv6"):
        mode = options.get(f"com.docker.network.bridge.gateway_mode_{family}")
        if mode:
            parts.append(f"{family} gateway mode {mode}")
    return ", ".join(p for p in parts if p)


def _bridge_name(attrs: dict[str, Any]) -> str:
    options = attrs.get("Options") or {}
    return str(options.get("com.docker.network.bridge.name") or f"br-{attrs.get('Id', '')[:12]}")


# --- containers -----------------------------------------------------------------------------------------


def _ensure_container(
    client: docker.DockerClient, spec: ContainerSpec, fresh: set[str], replaced: set[str]
) -> LabObject:
    """Reuse a running, up-to-date container; recreate it when stale or when what it depends on is new."""
    existing = next((c for c in _lab_containers(client) if c.name == spec.name), None)
    if (
        existing is not None
        and existing.status == "running"
        and _up_to_date(existing.labels, spec)
        and not fresh.intersection(spec.depends_on)
    ):
        return LabObject("container", spec.name, "reused", spec.scenario, _container_detail(client, existing))
    if existing is not None:
        _call(existing.remove, f"remove container {spec.name}", force=True)

    kwargs: dict[str, Any] = {
        "name": spec.name,
        "command": spec.command(),
        "detach": True,
        "init": True,
        "labels": labels(spec),
    }
    if spec.network.startswith("container:"):
        owner = client.containers.get(spec.network.removeprefix("container:"))
        kwargs["network_mode"] = f"container:{owner.id}"
    elif spec.network in ("bridge", "none"):
        kwargs["network_mode"] = spec.network
    else:
        kwargs["network"] = spec.network
        if spec.ip or spec.ip6:
            endpoint = client.api.create_endpoint_config(
                ipv4_address=spec.ip or None, ipv6_address=spec.ip6 or None
            )
            kwargs["networking_config"] = {spec.network: endpoint}
    if spec.ports:
        kwargs["ports"] = {
            f"{p.container_port}/{p.proto}": (p.host_ip, p.host_port) if p.host_ip else p.host_port
            for p in spec.ports
        }
    if spec.links:
        kwargs["links"] = dict(spec.links)
    try:
        container = client.containers.run(IMAGE, **kwargs)
    except docker.errors.APIError as err:
        _discard(client, spec.name)
        raise LabError(f"cannot start {spec.name}: {_first_line(err)}") from err
    fresh.add(spec.name)
    container.reload()
    state = "recreated" if existing is not None or spec.name in replaced else "created"
    return LabObject("container", spec.name, state, spec.scenario, _container_detail(client, container))


def _discard(client: docker.DockerClient, name: str) -> None:
    """Remove a container left in "created" state by a failed start."""
    with contextlib.suppress(docker.errors.DockerException):
        client.containers.get(name).remove(force=True)


def _container_ip(client: docker.DockerClient, name: str, network: str = "bridge") -> str:
    container = client.containers.get(name)
    return str(container.attrs["NetworkSettings"]["Networks"].get(network, {}).get("IPAddress") or "")


def _container_detail(client: docker.DockerClient, container: Any) -> str:
    host_config = container.attrs.get("HostConfig") or {}
    mode = str(host_config.get("NetworkMode") or "")
    if mode.startswith("container:"):
        owner_id = mode.removeprefix("container:")
        try:
            return f"netns of {client.containers.get(owner_id).name}"
        except docker.errors.NotFound:
            return f"netns of {owner_id[:12]} (gone)"
    networks = (container.attrs.get("NetworkSettings") or {}).get("Networks") or {}
    parts = [
        f"{net} {ep.get('IPAddress') or '-'}"
        + (f" {ep['GlobalIPv6Address']}" if ep.get("GlobalIPv6Address") else "")
        for net, ep in networks.items()
        if net != "none"
    ]
    if mode == "none":
        parts.append("lo only")
    for port, bindings in sorted((host_config.get("PortBindings") or {}).items()):
        for b in bindings or []:
            host = f"{b['HostIp']}:" if b.get("HostIp") else ""
            parts.append(f"{host}{b.get('HostPort')}->{port}")
    for link in host_config.get("Links") or []:  # "/dwlab-default-a:/dwlab-linked/db"
        target, _, alias = link.partition(":")
        parts.append(f"link {alias.rsplit('/', 1)[-1]}={target.lstrip('/')}")
    return ", ".join(parts)


# --- the second host (two-hosts scenario) ---------------------------------------------------------------


def _ensure_second_host(client: docker.DockerClient) -> list[LabObject]:
    objects, client_b = two_hosts.ensure_host(client)
    try:
        fresh: set[str] = set()
        objects += [_ensure_container(client_b, spec, fresh, set()) for spec in second_host.CONTAINERS]
    finally:
        client_b.close()
    objects += two_hosts.ensure_wiring(_bridge_subnet(client))
    return objects


def _remove_second_host() -> list[LabObject]:
    objects = []
    client_b = two_hosts.client_if_up()
    if client_b is not None:
        try:
            for container in _lab_containers(client_b):
                _call(container.remove, f"remove container {container.name} on host B", force=True)
                objects.append(_removed("container", container.name, container.labels))
        finally:
            client_b.close()
    removed = {o.name for o in objects}
    objects += [
        LabObject("container", s.name, "absent", s.scenario)
        for s in second_host.CONTAINERS
        if s.name not in removed
    ]
    return objects + two_hosts.remove_host()


def _second_host_status(client: docker.DockerClient) -> list[LabObject]:
    objects = two_hosts.host_status(_bridge_subnet(client))
    client_b = two_hosts.client_if_up() if os.geteuid() == 0 else None
    found = {c.name: c for c in _lab_containers(client_b)} if client_b is not None else {}
    for spec in second_host.CONTAINERS:
        container = found.get(spec.name)
        if container is None:
            objects.append(LabObject("container", spec.name, "missing", spec.scenario, "on host B"))
        else:
            state = container.status if _up_to_date(container.labels, spec) else f"stale ({container.status})"
            objects.append(
                LabObject(
                    "container", spec.name, state, spec.scenario, _container_detail(client_b, container)
                )
            )
    if client_b is not None:
        client_b.close()
    return objects


def _bridge_subnet(client: docker.DockerClient) -> str:
    """The IPv4 subnet of this engine's default bridge (docker0)."""
    bridge = _call(client.networks.get, "inspect the default bridge network", "bridge")
    for cfg in (bridge.attrs.get("IPAM") or {}).get("Config") or []:
        subnet = ipaddress.ip_network(cfg.get("Subnet") or "::/128", strict=False)
        if subnet.version == 4:
            return str(subnet)
    raise LabError("the default bridge network has no IPv4 subnet")


# --- firewall rule --------------------------------------------------------------------------------------


def _ensure_rule(client: docker.DockerClient, report: LabReport) -> LabObject:
    if not user_rule.chain_exists():
        report.notes.append(
            f"no {user_rule.CHAIN} chain (Docker's nftables backend?): the firewall scenario is skipped"
        )
        return LabObject("rule", user_rule.RULE_NAME, "skipped", "firewall", f"no {user_rule.CHAIN} chain")
    source, dest = _container_ip(client, RULE_SOURCE), _container_ip(client, RULE_DEST)
    if not source or not dest:
        raise LabError(f"{RULE_SOURCE} or {RULE_DEST} has no address on the default bridge")
    note = user_rule.bridge_filtering_note()
    if note:
        report.notes.append(note)
    return user_rule.ensure_rule(source, dest)


def _ensure_rule6(report: LabReport) -> LabObject:
    """The ipv6 scenario's ip6tables DOCKER-USER rule (the two containers have fixed IPv6 addresses)."""
    if not user_rule.chain_exists(6):
        report.notes.append(
            f"no ip6tables {user_rule.CHAIN} chain (ip6tables off, or Docker's nftables backend): "
            "the ipv6 scenario's rule is skipped"
        )
        return LabObject("rule", user_rule.RULE_NAME6, "skipped", "ipv6", f"no ip6tables {user_rule.CHAIN}")
    return user_rule.ensure_rule(V6_A, V6_B, 6)


# --- lookups and small helpers --------------------------------------------------------------------------


def _lab_containers(client: docker.DockerClient, every_name: bool = False) -> list[Any]:
    """Lab containers (scenario label and `dwlab-` name); with every_name, all containers named `dwlab-*`.

    The scenario label, not `io.dockwire.lab`, marks a lab container: an image may carry that label and
    pass it on to every container made from it.
    """
    filters: dict[str, Any] = {"name": PREFIX} if every_name else {"label": SCENARIO_LABEL}
    found = _call(client.containers.list, "list containers", all=True, filters=filters)
    return [c for c in found if c.name.startswith(PREFIX)]


def _lab_networks(client: docker.DockerClient, every_name: bool = False) -> list[Any]:
    filters: dict[str, Any] = {"name": PREFIX} if every_name else {"label": SCENARIO_LABEL}
    found = _call(client.networks.list, "list networks", filters=filters)
    return [n for n in found if n.name.startswith(PREFIX)]


def _is_lab(object_labels: dict[str, str] | None) -> bool:
    return bool(object_labels) and SCENARIO_LABEL in (object_labels or {})


def _up_to_date(object_labels: dict[str, str] | None, spec: NetworkSpec | ContainerSpec) -> bool:
    return (object_labels or {}).get(SPEC_LABEL) == labels(spec)[SPEC_LABEL]


def _scenario(attrs: dict[str, Any]) -> str:
    object_labels = attrs.get("Labels") or (attrs.get("Config") or {}).get("Labels") or {}
    return str(object_labels.get(SCENARIO_LABEL, ""))


def _removed(kind: str, name: str, object_labels: dict[str, str]) -> LabObject:
    return LabObject(kind, name, "removed", object_labels.get(SCENARIO_LABEL, ""))


def _sort(report: LabReport) -> None:
    """Scenario order, then networks before containers, then the order of the specs."""
    scenarios = list(SCENARIOS)
    kinds = ["network", "netns", "veth", "dockerd", "image", "sshd", "container", "route", "rule"]
    names = (
        [s.name for s in NETWORKS] + [s.name for s in CONTAINERS] + [s.name for s in second_host.CONTAINERS]
    )

    def key(o: LabObject) -> tuple[int, int, int]:
        return (
            scenarios.index(o.scenario) if o.scenario in scenarios else len(scenarios),
            kinds.index(o.kind) if o.kind in kinds else len(kinds),
            names.index(o.name) if o.name in names else len(names),
        )

    report.objects.sort(key=key)


def _first_line(err: Exception) -> str:
    text = getattr(err, "explanation", None) or str(err)
    lines = str(text).strip().splitlines()
    return lines[0] if lines else type(err).__name__


def _call(func: Any, what: str, *args: Any, **kwargs: Any) -> Any:
    """Call a docker SDK function, turning its errors into a one-line LabError."""
    try:
        return func(*args, **kwargs)
    except docker.errors.DockerException as err:
        raise LabError(f"cannot {what}: {_first_line(err)}") from err
