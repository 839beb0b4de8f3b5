"""Read the engine, networks and containers from the Docker API into model records.

The docker SDK blocks, so these functions are plain and the collector runs them in a worker thread.
"""

from __future__ import annotations

import contextlib
import json
import re
from collections.abc import Callable, Collection
from pathlib import Path
from typing import Any

from dockwire.model import Container, Endpoint, Engine, Network, PortBinding, Subnet

BRIDGE_NAME_OPT = "com.docker.network.bridge.name"
ICC_OPT = "com.docker.network.bridge.enable_icc"
MASQ_OPT = "com.docker.network.bridge.enable_ip_masquerade"
MTU_OPT = "com.docker.network.driver.mtu"
DAEMON_JSON = Path("/etc/docker/daemon.json")
DOCKERD_PIDFILE = Path("/var/run/docker.pid")


def _flag(options: dict[str, str], key: str, default: bool) -> bool:
    value = options.get(key)
    return default if value is None else value.strip().lower() in ("true", "1", "yes")


def layout_for_version(version: str) -> str:
    """The firewall layout generation a Docker version programs ("<=27", "28", "29")."""
    m = re.match(r"(\d+)\.", version)
    if not m:
        return "unknown"
    major = int(m.group(1))
    if major <= 27:
        return "<=27"
    return "28" if major == 28 else "29"


def _daemon_settings() -> dict[str, Any]:
    """dockerd's own configuration: daemon.json overlaid by its command-line flags, where readable."""
    settings: dict[str, Any] = {}
    with contextlib.suppress(OSError, ValueError):
        settings.update(json.loads(DAEMON_JSON.read_text()))
    try:
        pid = DOCKERD_PIDFILE.read_text().strip()
        argv = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    except OSError:
        return settings
    for raw in argv:
        arg = raw.decode(errors="replace")
        for key in ("userland-proxy", "icc", "ip-forward"):
            if arg == f"--{key}":
                settings[key] = True
            elif arg.startswith(f"--{key}="):
                settings[key] = arg.split("=", 1)[1].lower() in ("true", "1")
    return settings


def read_engine(version: dict[str, Any], info: dict[str, Any]) -> Engine:
    """Build the Engine record from `GET /version` and `GET /info`."""
    settings = _daemon_settings()
    backend = info.get("FirewallBackend") or {}
    return Engine(
        version=str(version.get("Version", "")),
        api_version=str(version.get("ApiVersion", "")),
        kernel=str(version.get("KernelVersion") or info.get("KernelVersion", "")),
        operating_system=str(info.get("OperatingSystem", "")),
        docker_firewall_backend=str(backend.get("Driver", "")) if isinstance(backend, dict) else "",
        userland_proxy=bool(settings.get("userland-proxy", True)),
        layout=layout_for_version(str(version.get("Version", ""))),
        icc_default=bool(settings.get("icc", True)),
        ip_forward_managed=bool(settings.get("ip-forward", True)),
    )


def read_network(raw: dict[str, Any]) -> Network:
    """Build a Network record from one `docker network inspect` document."""
    options: dict[str, str] = dict(raw.get("Options") or {})
    driver = str(raw.get("Driver", ""))
    net_id = str(raw.get("Id", ""))
    bridge = ""
    if driver == "bridge":
        bridge = options.get(BRIDGE_NAME_OPT) or f"br-{net_id[:12]}"
    ipam = raw.get("IPAM") or {}
    subnets = [
        Subnet(subnet=cfg.get("Subnet", ""), gateway=cfg.get("Gateway", ""), ip_range=cfg.get("IPRange", ""))
        for cfg in ipam.get("Config") or []
        if cfg.get("Subnet")
    ]
    mtu = options.get(MTU_OPT)
    return Network(
        id=net_id,
        name=str(raw.get("Name", "")),
        driver=driver,
        scope=str(raw.get("Scope", "local")),
        subnets=subnets,
        internal=bool(raw.get("Internal", False)),
        icc=_flag(options, ICC_OPT, True),
        masquerade=_flag(options, MASQ_OPT, True),
        enable_ipv6=bool(raw.get("EnableIPv6", False)),
        mtu=int(mtu) if mtu and mtu.isdigit() and int(mtu) > 0 else None,
        bridge=bridge,
        parent=options.get("parent", ""),
        options=options,
        labels=dict(raw.get("Labels") or {}),
    )


def _ports(settings: dict[str, Any]) -> list[PortBinding]:
    bindings: list[PortBinding] = []
    for key, hosts in sorted((settings.get("Ports") or {}).items()):
        port, _, proto = key.partition("/")
        for host in hosts or []:
            host_port = host.get("HostPort")
            bindings.append(
                PortBinding(
                    container_port=int(port),
                    proto=proto or "tcp",
                    host_ip=host.get("HostIp", ""),
                    host_port=int(host_port) if host_port else None,
                )
            )
    return bindings


def _endpoints(settings: dict[str, Any]) -> list[Endpoint]:
    endpoints = []
    for name, ep in sorted((settings.get("Networks") or {}).items()):
        prefix = ep.get("IPPrefixLen")
        endpoints.append(
            Endpoint(
                network_id=str(ep.get("NetworkID", "")),
                network=name,
                ip=ep.get("IPAddress", "") or "",
                prefixlen=int(prefix) if prefix else None,
                gateway=ep.get("Gateway", "") or "",
                ipv6=ep.get("GlobalIPv6Address", "") or "",
                mac=ep.get("MacAddress", "") or "",
                ipv6_prefixlen=int(prefix6) if (prefix6 := ep.get("GlobalIPv6PrefixLen")) else None,
                ipv6_gateway=ep.get("IPv6Gateway", "") or "",
                aliases=list(ep.get("Aliases") or []),
                dns_names=list(ep.get("DNSNames") or []),
                links=list(ep.get("Links") or []),
            )
        )
    return endpoints


def read_container(raw: dict[str, Any], names_to_ids: dict[str, str]) -> Container:
    """Build a Container record (without namespace data) from one `docker inspect` document.

    `names_to_ids` resolves the target of `--network container:NAME` to the owning container's id.
    """
    state = raw.get("State") or {}
    host_config = raw.get("HostConfig") or {}
    config = raw.get("Config") or {}
    mode = str(host_config.get("NetworkMode", ""))
    owner = ""
    if mode.startswith("container:"):
        target = mode.split(":", 1)[1]
        owner = names_to_ids.get(target.lstrip("/"), target)
        mode = f"container:{owner}"
    pid = state.get("Pid") or None
    return Container(
        id=str(raw.get("Id", "")),
        name=str(raw.get("Name", "")).lstrip("/"),
        image=str(config.get("Image", "")),
        state=str(state.get("Status", "")),
        network_mode=mode,
        netns_owner=owner,
        pid=int(pid) if pid else None,
        endpoints=_endpoints(raw.get("NetworkSettings") or {}),
        ports=_ports(raw.get("NetworkSettings") or {}),
        exposed=sorted((config.get("ExposedPorts") or {}).keys()),
        labels=dict(config.get("Labels") or {}),
        links=list(host_config.get("Links") or []),
    )


def read_networks(client: Any) -> list[Network]:
    """Every network as Docker has it now, by name. Blocking."""
    found = read_networks_by_id(client, [summary["Id"] for summary in client.api.networks()])
    return sorted((n for n in found.values() if n is not None), key=lambda n: n.name)


def read_networks_by_id(client: Any, ids: Collection[str]) -> dict[str, Network | None]:
    """The networks with these ids as Docker has them now (None: gone). Blocking."""
    found: dict[str, Network | None] = {}
    for network_id in ids:
        try:
            found[network_id] = read_network(client.api.inspect_network(network_id))
        except Exception as exc:  # removed since it was listed or announced
            if getattr(exc, "status_code", None) != 404:
                raise
            found[network_id] = None
    return found


def _inspect(api: Any, container_id: str) -> dict[str, Any] | None:
    try:
        raw: dict[str, Any] = api.inspect_container(container_id)
    except Exception as exc:  # removed since it was listed or announced
        if getattr(exc, "status_code", None) != 404:
            raise
        return None
    return raw


def _names_to_ids(raws: list[dict[str, Any]], known: dict[str, str]) -> dict[str, str]:
    names = dict(known)
    for raw in raws:
        names[str(raw.get("Name", "")).lstrip("/")] = raw["Id"]
        names[raw["Id"]] = raw["Id"]
    return names


def read_containers(client: Any, ids: list[str], known: dict[str, str]) -> dict[str, Container | None]:
    """The containers with these ids as Docker has them now (None: gone). `known` maps the names of the
    containers already read to their ids, for `--network container:NAME`. Blocking."""
    found = {i: _inspect(client.api, i) for i in ids}
    names = _names_to_ids([raw for raw in found.values() if raw], known)
    return {i: read_container(raw, names) if raw else None for i, raw in found.items()}


def read_docker(
    client: Any, on_inspected: Callable[[Container], None] | None = None
) -> tuple[Engine, list[Network], list[Container]]:
    """Read everything the Docker API knows about networking. Blocking: call from a worker thread.

    `on_inspected` is given each container as soon as it is inspected (its `container:NAME` owner not yet
    resolved to an id), so that its namespace can be read while the others are inspected."""
    api = client.api
    engine = read_engine(api.version(), api.info())
    networks = read_networks(client)
    raws = []
    for summary in api.containers(all=True):
        raw = _inspect(api, summary["Id"])
        if raw:
            raws.append(raw)
            if on_inspected is not None:
                on_inspected(read_container(raw, {}))
    names_to_ids = _names_to_ids(raws, {})
    containers = [read_container(raw, names_to_ids) for raw in raws]
    containers.sort(key=lambda c: c.name)
    return engine, networks, containers
