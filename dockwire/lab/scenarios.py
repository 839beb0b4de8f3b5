"""The lab's scenarios as data: which networks and containers exist, and what each one teaches.

Every Docker object is named `dwlab-...` and labelled `io.dockwire.lab=1`, `io.dockwire.lab.scenario=<name>`
and `io.dockwire.lab.spec=<fingerprint>`, so `lab up` can tell an up-to-date object from a stale one.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import asdict, dataclass, field

PREFIX = "dwlab-"
LAB_LABEL = "io.dockwire.lab"
SCENARIO_LABEL = "io.dockwire.lab.scenario"
SPEC_LABEL = "io.dockwire.lab.spec"
IMAGE = os.environ.get("DOCKWIRE_LAB_IMAGE", "dockwire-lab/busybox:latest")

# scenario -> what it shows, in the order `lab up` builds them.
SCENARIOS: dict[str, str] = {
    "default": "two containers on the default bridge: they ping each other, no embedded DNS",
    "isolation": "two user-defined bridges: a container on one cannot reach the other",
    "noicc": "a network with enable_icc=false: its containers cannot talk to each other",
    "internal": "an --internal network: containers reach each other, nothing outside",
    "custom": "a custom subnet, gateway and MTU 1400, with a container on a fixed IP",
    "published": "dwlab-web publishes 18080->80/tcp and 127.0.0.1:15353->5353/udp (a UDP echo)",
    "sidecar": "a container sharing dwlab-web's network namespace (container:dwlab-web)",
    "none": "a container with --network none: loopback only",
    "link": "a legacy --link to dwlab-default-a under the alias db",
    "firewall": "a DOCKER-USER rule dropping tcp/80 from dwlab-default-a to dwlab-default-b (ICMP passes)",
    "outside": "network namespace dwlab-outside (198.51.100.2) reaching published ports via the host",
    "ipv6": "dual-stack network dwlab-v6 (ULA fd00:d0c:6::/64): an ip6tables DOCKER-USER rule drops tcp/80 "
    "from dwlab-v6-a to dwlab-v6-b over IPv6 (IPv4 and ICMPv6 pass)",
    "ipv6-routed": "network dwlab-v6r (2001:db8:6:1::/64, gateway_mode_ipv6=routed): dwlab-outside reaches "
    "dwlab-v6r-web over IPv6 without NAT, on ICMPv6 and its published port 80 only",
    "two-hosts": "a second Docker host (netns dwlab-hostb, ssh to 198.51.100.242) with classic static routes",
}

CUSTOM_SUBNET = "10.123.0.0/24"
CUSTOM_GATEWAY = "10.123.0.254"
CUSTOM_IP = "10.123.0.10"
CUSTOM_MTU = 1400
WEB_HOST_PORT = 18080
WEB_UDP_HOST_PORT = 15353
WEB_UDP_PORT = 5353
V6_SUBNET = "fd00:d0c:6::/64"
V6_A = "fd00:d0c:6::10"
V6_B = "fd00:d0c:6::11"
# A routed IPv6 network (no NAT) in the documentation prefix, reached from the outside namespace.
V6R_SUBNET = "2001:db8:6:1::/64"
V6R_WEB = "2001:db8:6:1::10"
V6R_WEB_HOST_PORT = 18082


@dataclass(frozen=True)
class NetworkSpec:
    name: str
    scenario: str
    internal: bool = False
    subnet: str = ""
    gateway: str = ""
    options: dict[str, str] = field(default_factory=dict)
    # An IPv6 subnet turns IPv6 on (--ipv6); IPv4 still comes from the engine's pools unless `subnet` says.
    ipv6_subnet: str = ""


@dataclass(frozen=True)
class PortSpec:
    container_port: int
    proto: str
    host_port: int
    host_ip: str = ""


@dataclass(frozen=True)
class ContainerSpec:
    name: str
    scenario: str
    # "bridge", "none", a lab network name, or "container:<lab container name>".
    network: str = "bridge"
    ip: str = ""
    ip6: str = ""
    ports: tuple[PortSpec, ...] = ()
    # (target container, alias)
    links: tuple[tuple[str, str], ...] = ()
    # "httpd": an HTTP listener on :80 serving its own name; "sleep": nothing but a long sleep.
    service: str = "httpd"
    # A UDP echo (the lab image's /bin/udp-echo) on this port, 0 for none.
    udp_echo: int = 0

    @property
    def depends_on(self) -> list[str]:
        """Lab containers that must exist first; recreating one of them recreates this one."""
        deps = [target for target, _ in self.links]
        if self.network.startswith("container:"):
            deps.append(self.network.removeprefix("container:"))
        return deps

    def command(self) -> list[str]:
        if self.service == "sleep":
            return ["sleep", "2147483647"]
        # busybox httpd serves /www; its index is the container's name, so a probe knows whom it reached.
        script = f"mkdir -p /www && echo {self.name} > /www/index.html && exec httpd -f -p 80 -h /www"
        if self.udp_echo:
            script = f"udp-echo {self.udp_echo} & {script}"
        return ["sh", "-c", script]


def fingerprint(spec: NetworkSpec | ContainerSpec) -> str:
    """A short stable hash of a spec (and the lab image), stored as a label to notice changed specs."""
    text = json.dumps([asdict(spec), IMAGE], sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def labels(spec: NetworkSpec | ContainerSpec) -> dict[str, str]:
    return {LAB_LABEL: "1", SCENARIO_LABEL: spec.scenario, SPEC_LABEL: fingerprint(spec)}


NETWORKS: tuple[NetworkSpec, ...] = (
    NetworkSpec("dwlab-net-a", "isolation"),
    NetworkSpec("dwlab-net-b", "isolation"),
    NetworkSpec("dwlab-noicc", "noicc", options={"com.docker.network.bridge.enable_icc": "false"}),
    NetworkSpec("dwlab-internal", "internal", internal=True),
    NetworkSpec(
        "dwlab-custom",
        "custom",
        subnet=CUSTOM_SUBNET,
        gateway=CUSTOM_GATEWAY,
        options={"com.docker.network.driver.mtu": str(CUSTOM_MTU)},
    ),
    NetworkSpec("dwlab-v6", "ipv6", ipv6_subnet=V6_SUBNET),
    NetworkSpec(
        "dwlab-v6r",
        "ipv6-routed",
        ipv6_subnet=V6R_SUBNET,
        options={"com.docker.network.bridge.gateway_mode_ipv6": "routed"},
    ),
)

CONTAINERS: tuple[ContainerSpec, ...] = (
    ContainerSpec("dwlab-default-a", "default"),
    ContainerSpec("dwlab-default-b", "default"),
    ContainerSpec("dwlab-iso-a", "isolation", network="dwlab-net-a"),
    ContainerSpec("dwlab-iso-b", "isolation", network="dwlab-net-b"),
    ContainerSpec("dwlab-noicc-a", "noicc", network="dwlab-noicc"),
    ContainerSpec("dwlab-noicc-b", "noicc", network="dwlab-noicc"),
    ContainerSpec("dwlab-internal-a", "internal", network="dwlab-internal"),
    ContainerSpec("dwlab-internal-b", "internal", network="dwlab-internal"),
    ContainerSpec("dwlab-custom-a", "custom", network="dwlab-custom", ip=CUSTOM_IP),
    ContainerSpec(
        "dwlab-web",
        "published",
        ports=(
            PortSpec(80, "tcp", WEB_HOST_PORT),
            PortSpec(WEB_UDP_PORT, "udp", WEB_UDP_HOST_PORT, host_ip="127.0.0.1"),
        ),
        udp_echo=WEB_UDP_PORT,
    ),
    ContainerSpec("dwlab-sidecar", "sidecar", network="container:dwlab-web", service="sleep"),
    ContainerSpec("dwlab-none", "none", network="none"),
    ContainerSpec("dwlab-linked", "link", links=(("dwlab-default-a", "db"),)),
    ContainerSpec("dwlab-v6-a", "ipv6", network="dwlab-v6", ip6=V6_A),
    ContainerSpec("dwlab-v6-b", "ipv6", network="dwlab-v6", ip6=V6_B),
    ContainerSpec(
        "dwlab-v6r-web",
        "ipv6-routed",
        network="dwlab-v6r",
        ip6=V6R_WEB,
        ports=(PortSpec(80, "tcp", V6R_WEB_HOST_PORT),),
    ),
)

# The firewall scenario: traffic between these two is cut on this port.
RULE_SOURCE = "dwlab-default-a"
RULE_DEST = "dwlab-default-b"
RULE_PORT = 80
