"""The host's network model: plain typed records, shared by probes, verdict engine, snapshots and the TUI.

Every record is a frozen msgspec Struct, so a model is cheap to compare, to diff and to write as JSON.
Field order is the JSON key order, so snapshots are stable.
"""

from __future__ import annotations

from msgspec import Struct, field

SCHEMA_VERSION = 1

# Docker's embedded DNS server, inside every container on a user-defined network.
EMBEDDED_DNS = "127.0.0.11"
# The networks every engine has, which cannot be removed or given aliases.
DEFAULT_NETWORKS = ("bridge", "host", "none")
# What names dockwire's own temporary trace tables and marks its trace rules (comment) on the host.
TRACE_PREFIX = "dockwire-trace-"


class Record(Struct, frozen=True, kw_only=True, omit_defaults=False, forbid_unknown_fields=True):
    """Base of every model record."""


# --- Docker -------------------------------------------------------------------------------------------


class Engine(Record, frozen=True):
    """The Docker engine and how it programs the firewall."""

    version: str = ""
    api_version: str = ""
    kernel: str = ""
    operating_system: str = ""
    # "iptables" or "nftables" as Docker reports it (empty before 28.1, which does not say).
    docker_firewall_backend: str = ""
    userland_proxy: bool | None = None
    # Chain layout generation, from the version and confirmed by the rules: "<=27", "28", "29", "unknown".
    layout: str = "unknown"
    icc_default: bool | None = None
    ip_forward_managed: bool | None = None


class Subnet(Record, frozen=True):
    subnet: str
    gateway: str = ""
    ip_range: str = ""


class Network(Record, frozen=True):
    id: str
    name: str
    driver: str
    scope: str = "local"
    subnets: list[Subnet] = field(default_factory=list)
    internal: bool = False
    icc: bool = True
    masquerade: bool = True
    enable_ipv6: bool = False
    mtu: int | None = None
    # Linux bridge behind a bridge network (docker0, br-<id12>); empty for other drivers.
    bridge: str = ""
    # macvlan/ipvlan parent interface.
    parent: str = ""
    options: dict[str, str] = field(default_factory=dict)
    labels: dict[str, str] = field(default_factory=dict)


class PortBinding(Record, frozen=True):
    container_port: int
    proto: str
    host_ip: str = ""
    host_port: int | None = None


class Endpoint(Record, frozen=True):
    """A container's attachment to one network."""

    network_id: str
    network: str
    ip: str = ""
    prefixlen: int | None = None
    gateway: str = ""
    ipv6: str = ""
    mac: str = ""
    # The IPv6 side (Docker's GlobalIPv6PrefixLen, IPv6Gateway); 0/"" without IPv6.
    ipv6_prefixlen: int | None = None
    ipv6_gateway: str = ""
    aliases: list[str] = field(default_factory=list)
    dns_names: list[str] = field(default_factory=list)
    links: list[str] = field(default_factory=list)


class HostEntry(Record, frozen=True):
    ip: str
    names: list[str]


class DnsConfig(Record, frozen=True):
    """What the container's resolver is told: its own /etc/resolv.conf and /etc/hosts."""

    nameservers: list[str] = field(default_factory=list)
    search: list[str] = field(default_factory=list)
    options: list[str] = field(default_factory=list)
    hosts: list[HostEntry] = field(default_factory=list)


# --- Links, addresses, routes ---------------------------------------------------------------------------


class Address(Record, frozen=True):
    address: str
    prefixlen: int
    family: int = 4


class Interface(Record, frozen=True):
    """A network interface in some namespace."""

    name: str
    ifindex: int
    kind: str = ""
    mtu: int | None = None
    state: str = ""
    mac: str = ""
    addresses: list[Address] = field(default_factory=list)
    # Bridge this interface is a port of (by name, host namespace only).
    master: str = ""
    # For veth: the ifindex of the peer (IFLA_LINK), and the peer's namespace id as seen from here.
    peer_ifindex: int | None = None
    peer_netnsid: int | None = None
    # macvlan/ipvlan/vlan parent ifindex.
    parent_ifindex: int | None = None

    def first_address(self, family: int = 4) -> str | None:
        """The interface's first address of that family (4 or 6), as text; None when it has none."""
        return next((a.address for a in self.addresses if a.family == family), None)


class Route(Record, frozen=True):
    dst: str
    dev: str = ""
    gateway: str = ""
    table: int = 254
    protocol: str = ""
    scope: str = ""
    prefsrc: str = ""
    metric: int | None = None
    type: str = "unicast"
    family: int = 4


class RoutingRule(Record, frozen=True):
    priority: int
    table: int
    src: str = ""
    dst: str = ""
    iif: str = ""
    oif: str = ""
    fwmark: str = ""
    action: str = "lookup"
    family: int = 4


class Bridge(Record, frozen=True):
    name: str
    ifindex: int
    ports: list[str] = field(default_factory=list)
    network_id: str = ""


class VethPair(Record, frozen=True):
    """A veth pair matched across namespaces: the host side on a bridge, the other side in a container."""

    host_ifname: str
    host_ifindex: int
    bridge: str = ""
    container_id: str = ""
    container_ifname: str = ""
    container_ifindex: int | None = None


class Container(Record, frozen=True):
    id: str
    name: str
    image: str = ""
    state: str = ""
    # "bridge", a network name, "host", "none", "container:<id>" (resolved to the owner's id).
    network_mode: str = ""
    # Container whose namespace this one shares (container:X mode), by id.
    netns_owner: str = ""
    pid: int | None = None
    netns_inode: int | None = None
    endpoints: list[Endpoint] = field(default_factory=list)
    ports: list[PortBinding] = field(default_factory=list)
    exposed: list[str] = field(default_factory=list)
    dns: DnsConfig | None = None
    interfaces: list[Interface] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)
    links: list[str] = field(default_factory=list)


class Sysctls(Record, frozen=True):
    """Kernel settings that decide whether packets flow."""

    ip_forward: int | None = None
    ipv6_forwarding: int | None = None
    br_netfilter_loaded: bool = False
    bridge_nf_call_iptables: int | None = None
    bridge_nf_call_ip6tables: int | None = None
    rp_filter: dict[str, int] = field(default_factory=dict)
    route_localnet: dict[str, int] = field(default_factory=dict)
    # net.ipv6.conf.<interface|all|default>.*: an interface with disable_ipv6=1 has no IPv6 at all;
    # accept_ra says whether it takes router advertisements (2: also while forwarding).
    disable_ipv6: dict[str, int] = field(default_factory=dict)
    accept_ra: dict[str, int] = field(default_factory=dict)

    def ipv6_disabled(self, dev: str) -> bool:
        """Whether IPv6 is off on `dev` (its own setting when recorded, else `all`'s)."""
        value = self.disable_ipv6.get(dev, self.disable_ipv6.get("all", 0))
        return value == 1


class HostNet(Record, frozen=True):
    interfaces: list[Interface] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    rules: list[RoutingRule] = field(default_factory=list)


# --- Firewall -------------------------------------------------------------------------------------------


class Match(Record, frozen=True):
    """One condition of a rule.

    For iptables: `module` is the `-m` module ("" for the built-in -s/-d/-i/-o/-p/-f), `option` the flag
    ("-s", "--dport", "--ctstate"), `args` its arguments. For nftables: module "nft", option a normalized
    left-hand side ("meta iifname", "ip saddr", "tcp dport", "ct state"), `op` the operator,
    `args` the right side.
    `known` is False for anything dockwire does not understand; such a match is kept verbatim in `args`.
    """

    module: str
    option: str
    args: list[str] = field(default_factory=list)
    negated: bool = False
    op: str = "=="
    known: bool = True


class Target(Record, frozen=True):
    """What a rule does when it matches: a verdict (ACCEPT, DROP, RETURN), a jump/goto, or an extension."""

    name: str
    kind: str = "jump"  # "verdict", "jump", "goto", "extension", "none"
    args: list[str] = field(default_factory=list)


class Rule(Record, frozen=True):
    table: str
    chain: str
    # 1-based position in the chain, as `iptables -L --line-numbers` counts.
    position: int
    text: str
    matches: list[Match] = field(default_factory=list)
    target: Target | None = None
    packets: int = 0
    bytes: int = 0
    owner: str = "other"
    comment: str = ""
    # nftables rule handle, where there is one.
    handle: int | None = None
    # True when at least one match or the target is not understood.
    unknown: bool = False


class Chain(Record, frozen=True):
    name: str
    # Policy of a built-in (base) chain: "ACCEPT"/"DROP"; None for user chains.
    policy: str | None = None
    packets: int = 0
    bytes: int = 0
    builtin: bool = False
    owner: str = "other"
    rules: list[Rule] = field(default_factory=list)
    # nftables base chain hook/priority ("forward", 0), None for iptables or regular chains.
    hook: str = ""
    priority: int | None = None
    # nftables base chain type: "filter", "nat", "route"; empty for iptables or regular chains.
    type: str = ""


class Table(Record, frozen=True):
    # Where the rules were read from: "iptables-nft", "iptables-legacy", "nftables".
    source: str
    family: str  # "ip", "ip6", "inet", "bridge", ...
    name: str
    chains: list[Chain] = field(default_factory=list)
    owner: str = "other"
    # nftables named sets and maps of this table: name -> elements in nft syntax
    # ("10.0.0.0/24", map entries as '"docker0" : jump filter-forward-in__docker0').
    sets: dict[str, list[str]] = field(default_factory=dict)


class Firewall(Record, frozen=True):
    # The backend the `iptables` command uses: "nft", "legacy", or "" when no iptables is installed.
    iptables_backend: str = ""
    tables: list[Table] = field(default_factory=list)
    # e.g. "legacy and nf_tables iptables rules both present".
    warnings: list[str] = field(default_factory=list)
    # name -> members, for ipset-based rules.
    ipsets: dict[str, list[str]] = field(default_factory=dict)

    def iptables_sources_with_rules(self) -> set[str]:
        """The iptables backends ("iptables-nft", "iptables-legacy") holding at least one rule: two means the
        kernel applies both, while the `iptables` command shows only one."""
        holding = (t for t in self.tables if any(c.rules for c in t.chains))
        return {t.source for t in holding if t.source.startswith("iptables")}


# --- The whole host -------------------------------------------------------------------------------------


class RuleRef(Record, frozen=True, kw_only=True):
    """A rule (or a base chain's policy) as the host prints it: what a verdict blames, a trace names and the
    firewall pane lights. One type for the verdict engine, the active probes and the UI."""

    # "request", "reply", ... when a verdict met the rule on a flow; "" otherwise.
    direction: str = ""
    # The host whose firewall holds the rule, when a verdict crosses several hosts; "" for one host.
    host: str = ""
    hook: str = ""
    # "iptables-nft", "iptables-legacy", "nftables"; "" when only the kernel's text is known (any backend).
    source: str = ""
    family: str = "ip"
    table: str
    chain: str
    # 1-based position as `iptables -L --line-numbers` counts; None for a policy or a rule the model lacks.
    position: int | None = None
    text: str = ""
    # What it did to the packet: "DROP", "ACCEPT", "jump DOCKER", "policy DROP", ...
    effect: str = ""
    packets: int = 0
    bytes: int = 0
    owner: str = "other"
    handle: int | None = None
    # True when the rule has a condition dockwire could not evaluate.
    unknown: bool = False
    # "rule", or "policy" for a base chain's policy.
    kind: str = "rule"

    @property
    def is_policy(self) -> bool:
        return self.kind == "policy"

    @property
    def title(self) -> str:
        """`filter/DOCKER-USER #1`, `filter/FORWARD policy`; other families than IPv4's named first
        (`ip6 filter/DOCKER-USER #1`, `inet fw/forward #2`)."""
        where = "policy" if self.is_policy else (f"#{self.position}" if self.position is not None else "")
        family = "" if self.family == "ip" else f"{self.family} "
        return f"{family}{self.table}/{self.chain} {where}".rstrip()

    @property
    def body(self) -> str:
        """The rule text without its `-A CHAIN ` prefix."""
        prefix = f"-A {self.chain} "
        return self.text[len(prefix) :] if self.text.startswith(prefix) else self.text

    def same_rule(self, other: RuleRef) -> bool:
        """True when both name the same rule by identity — family, table, chain, then the nft handle or the
        rule text (positions may come from different reads and are compared only when nothing else is
        known); an empty source matches any backend."""
        if (self.family, self.table, self.chain) != (other.family, other.table, other.chain):
            return False
        if self.source and other.source and self.source != other.source:
            return False
        if self.is_policy or other.is_policy:
            return self.is_policy and other.is_policy
        if self.handle is not None and other.handle is not None:
            return self.handle == other.handle
        if self.text and other.text:
            return self.text == other.text
        return self.position == other.position

    def label(self) -> str:
        """`filter/DOCKER #3: -A DOCKER ...`, or `filter/FORWARD policy DROP`; other families than IPv4's
        named first, as in `title`."""
        family = "" if self.family == "ip" else f"{self.family} "
        where = f"{family}{self.table}/{self.chain}"
        if self.is_policy:
            return f"{where} policy {self.text}"
        pos = f" #{self.position}" if self.position is not None else ""
        return f"{where}{pos}: {self.text}".rstrip(": ")


class HostModel(Record, frozen=True):
    schema_version: int = SCHEMA_VERSION
    taken_at: str = ""
    hostname: str = ""
    engine: Engine | None = None
    networks: list[Network] = field(default_factory=list)
    containers: list[Container] = field(default_factory=list)
    host: HostNet = field(default_factory=HostNet)
    bridges: list[Bridge] = field(default_factory=list)
    veths: list[VethPair] = field(default_factory=list)
    sysctls: Sysctls = field(default_factory=Sysctls)
    firewall: Firewall = field(default_factory=Firewall)
    # part ("docker", "netlink", "firewall", "sysctls", "container:<name>") -> why it is missing or old.
    stale: dict[str, str] = field(default_factory=dict)

    # Lookups used everywhere; linear scans are fine at Docker-host sizes (hundreds of objects).
    def container(self, ident: str) -> Container | None:
        """Find a container by exact name, id, or unique id prefix."""
        ident = ident.lstrip("/")
        for c in self.containers:
            if ident in (c.name, c.id):
                return c
        matches = [c for c in self.containers if len(ident) >= 3 and c.id.startswith(ident)]
        return matches[0] if len(matches) == 1 else None

    def network(self, ident: str) -> Network | None:
        for n in self.networks:
            if ident in (n.name, n.id) or (len(ident) >= 3 and n.id.startswith(ident)):
                return n
        return None

    def network_by_bridge(self, bridge: str) -> Network | None:
        return next((n for n in self.networks if n.bridge and n.bridge == bridge), None)
