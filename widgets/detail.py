"""The detail pane: everything known about whatever is selected (host, network, veth, container or rule).

Every value here comes from the host, so `section` and `lines` turn strings into escaped plain `Text`
(never markup); names are shown whole (the narrow panes clip them).
"""

from __future__ import annotations

import ipaddress
import re
from collections import OrderedDict
from collections.abc import Hashable, Iterable, Iterator, Sequence
from typing import ClassVar

from rich.console import Group, RenderableType
from rich.table import Table as RichTable
from rich.text import Text
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dockwire.model import Container, Endpoint, Firewall, HostModel, Network, Rule, Table
from dockwire.text import safe
from dockwire.widgets.firewall import FirewallRow
from dockwire.widgets.formatting import (
    human_count,
    network_kind,
    owner_badge,
    port_text,
    rule_title,
    short_id,
)
from dockwire.widgets.line_views import SteadyView
from dockwire.widgets.quick_focus import QuickFocus
from dockwire.widgets.topology import NodeRef

Pairs = Iterable[tuple[str, RenderableType | str]]


def yes_no(value: bool | None, good: bool = True) -> Text:
    """`yes`/`no`, red when it is the value that breaks things."""
    if value is None:
        return Text("?", style="dim")
    bad = value != good
    return Text("yes" if value else "no", style="bold red" if bad else "green")


def plain(value: RenderableType | str) -> RenderableType:
    """A string as escaped plain text (a Rich grid would read a string as markup); renderables as they are."""
    return Text(safe(value)) if isinstance(value, str) else value


def section(title: str, pairs: Pairs) -> RenderableType:
    grid = RichTable.grid(padding=(0, 1))
    grid.add_column(style="bold cyan", no_wrap=True)
    grid.add_column()
    for key, value in pairs:
        grid.add_row(plain(key), plain(value))
    return Group(Text(safe(title), style="bold reverse"), grid, Text(""))


def lines(title: str, items: list[str], empty: str = "none") -> RenderableType:
    """One item a line; a newline inside an item is shown escaped, like every other control."""
    body = Text("\n".join(map(safe, items)) if items else empty, style="" if items else "dim")
    return Group(Text(safe(title), style="bold reverse"), body, Text(""))


def host_detail(model: HostModel) -> RenderableType:
    engine = model.engine
    pairs: list[tuple[str, RenderableType | str]] = [
        ("host", model.hostname or "?"),
        ("snapshot", model.taken_at),
    ]
    if engine is not None:
        pairs += [
            ("engine", f"Docker {engine.version} (API {engine.api_version})"),
            ("kernel", engine.kernel or "?"),
            ("os", engine.operating_system or "?"),
            ("firewall", engine.docker_firewall_backend or "not reported"),
            ("rule layout", engine.layout),
            ("userland proxy", yes_no(engine.userland_proxy)),
        ]
    pairs.append(("iptables", model.firewall.iptables_backend or "not installed"))
    parts: list[RenderableType] = [section("Host", pairs)]
    if model.firewall.warnings:
        parts.append(lines("Firewall warnings", model.firewall.warnings))
    if model.stale:
        parts.append(lines("Not read", [f"{k}: {v}" for k, v in model.stale.items()]))
    routes = [
        f"{r.dst} via {r.gateway} dev {r.dev}" if r.gateway else f"{r.dst} dev {r.dev}"
        for r in model.host.routes
    ]
    parts.append(lines("Host routes (main)", routes))
    return Group(*parts)


def network_detail(model: HostModel, network: Network) -> RenderableType:
    bridge_iface = (
        next((i for i in model.host.interfaces if i.name == network.bridge), None) if network.bridge else None
    )
    mtu = network.mtu or (bridge_iface.mtu if bridge_iface else None)
    subnets = [
        (
            f"subnet {s.subnet}",
            f"gateway {s.gateway or '-'}" + (f", range {s.ip_range}" if s.ip_range else ""),
        )
        for s in network.subnets
    ]
    pairs: list[tuple[str, RenderableType | str]] = [
        ("name", network.name),
        ("id", short_id(network.id)),
        ("driver", network_kind(network)),
        *subnets,
        ("icc", yes_no(network.icc)),
        ("internal", yes_no(network.internal, good=False)),
        ("masquerade", yes_no(network.masquerade)),
        ("MTU", str(mtu) if mtu else "default"),
        ("bridge", network.bridge or "-"),
    ]
    if bridge_iface is not None:
        pairs.append(("bridge state", f"{bridge_iface.state or '?'} mac {bridge_iface.mac or '?'}"))
    if network.parent:
        pairs.append(("parent", network.parent))
    if network.enable_ipv6:
        pairs.append(("ipv6", yes_no(True)))
    members = [
        f"{c.name:<24} {ep.ip or '-'}"
        for c in model.containers
        for ep in c.endpoints
        if ep.network_id == network.id
    ]
    opts = [f"{k}={v}" for k, v in sorted(network.options.items())]
    return Group(section("Network", pairs), lines("Containers", members), lines("Options", opts))


def container_pairs(model: HostModel, container: Container) -> list[tuple[str, RenderableType | str]]:
    """The container's own fields: name, id, image, state, network mode, namespace."""
    owner = model.container(container.netns_owner) if container.netns_owner else None
    pairs: list[tuple[str, RenderableType | str]] = [
        ("name", container.name),
        ("id", short_id(container.id)),
        ("image", container.image or "?"),
        ("state", container.state or "?"),
        ("network mode", container.network_mode or "?"),
    ]
    if owner is not None:
        pairs.append(("netns of", owner.name))
    if container.pid:
        pairs.append(("pid", str(container.pid)))
    if container.netns_inode:
        pairs.append(("netns", f"net:[{container.netns_inode}]"))
    return pairs


def endpoint_section(model: HostModel, container: Container, ep: Endpoint) -> RenderableType:
    """One network attachment: address, gateway, mac, the veth behind it and the names it answers to."""
    veth = next((v for v in model.veths if v.container_id == container.id), None)
    network = model.network(ep.network_id) if ep.network_id else model.network(ep.network)
    if network is not None and network.bridge:
        veth = next(
            (v for v in model.veths if v.container_id == container.id and v.bridge == network.bridge),
            veth,
        )
    ep_pairs: list[tuple[str, RenderableType | str]] = [
        ("address", f"{ep.ip}/{ep.prefixlen}" if ep.ip and ep.prefixlen is not None else ep.ip or "-"),
        ("gateway", ep.gateway or "-"),
        ("mac", ep.mac or "-"),
    ]
    if ep.ipv6:
        plen = f"/{ep.ipv6_prefixlen}" if ep.ipv6_prefixlen is not None else ""
        ep_pairs.append(("ipv6", f"{ep.ipv6}{plen}"))
        ep_pairs.append(("ipv6 gateway", ep.ipv6_gateway or "-"))
    if veth is not None:
        ep_pairs.append(
            ("veth", f"{veth.host_ifname} (host, on {veth.bridge or '-'}) ⇄ {veth.container_ifname}")
        )
    names = sorted(set(ep.aliases) | set(ep.dns_names))
    if names:
        ep_pairs.append(("names", " ".join(names)))
    if ep.links:
        ep_pairs.append(("links", " ".join(ep.links)))
    return section(f"Endpoint on {ep.network}", ep_pairs)


def namespace_sections(container: Container) -> list[RenderableType]:
    """What is inside the container's namespace: ports, interfaces and routes."""
    parts: list[RenderableType] = []
    if container.ports:
        parts.append(lines("Ports", [port_text(p) for p in container.ports]))
    if container.interfaces:
        ifaces = [
            f"{i.name:<8} {i.state or '?':<5} mtu {i.mtu or '?':<5} "
            + " ".join(f"{a.address}/{a.prefixlen}" for a in i.addresses)
            for i in container.interfaces
        ]
        parts.append(lines("Interfaces", ifaces))
    if container.routes:
        routes = [
            " ".join(
                x
                for x in (r.dst, f"via {r.gateway}" if r.gateway else "", f"dev {r.dev}" if r.dev else "")
                if x
            )
            for r in container.routes
        ]
        parts.append(lines("Routes", routes))
    return parts


def dns_sections(container: Container) -> list[RenderableType]:
    """The container's resolv.conf and /etc/hosts extras (or why they were not read)."""
    dns = container.dns
    if dns is None:
        running = container.state == "running"
        return [lines("resolv.conf", [], empty="not read (needs root)")] if running else []
    return [
        section(
            "resolv.conf",
            [
                ("nameserver", " ".join(dns.nameservers) or "-"),
                ("search", " ".join(dns.search) or "-"),
                ("options", " ".join(dns.options) or "-"),
            ],
        ),
        lines("/etc/hosts extras", [f"{h.ip:<16} {' '.join(h.names)}" for h in dns.hosts]),
    ]


def container_detail(model: HostModel, container: Container) -> RenderableType:
    parts: list[RenderableType] = [section("Container", container_pairs(model, container))]
    parts.extend(endpoint_section(model, container, ep) for ep in container.endpoints)
    parts.extend(namespace_sections(container))
    parts.extend(dns_sections(container))
    if container.links:
        parts.append(lines("Links", container.links))
    return Group(*parts)


def veth_detail(model: HostModel, name: str) -> RenderableType:
    pair = next((v for v in model.veths if v.host_ifname == name), None)
    iface = next((i for i in model.host.interfaces if i.name == name), None)
    pairs: list[tuple[str, RenderableType | str]] = [("host side", name)]
    if pair is not None:
        owner = model.container(pair.container_id) if pair.container_id else None
        pairs += [
            ("bridge", pair.bridge or "-"),
            ("peer", f"{pair.container_ifname or '?'} in {owner.name if owner else 'another namespace'}"),
            ("peer ifindex", str(pair.container_ifindex or "?")),
        ]
    if iface is not None:
        pairs += [("state", iface.state or "?"), ("mtu", str(iface.mtu or "?")), ("mac", iface.mac or "?")]
    return section("veth pair", pairs)


def rule_detail(row: FirewallRow) -> RenderableType:
    table = row.table
    if row.rule is None:
        chain = row.chain
        pairs: list[tuple[str, RenderableType | str]] = [
            ("table", f"{table.family} {table.name} ({table.source})"),
        ]
        if chain is not None:
            pairs += [
                ("chain", chain.name),
                ("policy", chain.policy or "- (user chain)"),
                ("rules", str(len(chain.rules))),
                ("owner", owner_badge(chain.owner)),
            ]
            if chain.hook:
                pairs.append(("hook", f"{chain.hook} priority {chain.priority}"))
        return section("Chain" if chain else "Table", pairs)
    rule: Rule = row.rule
    pairs = [
        ("rule", rule_title(rule)),
        ("source", f"{table.family} {table.source}"),
        ("owner", owner_badge(rule.owner)),
        ("counters", f"{rule.packets} packets, {human_count(rule.bytes)} bytes"),
        ("target", rule.target.name if rule.target else "-"),
    ]
    if rule.comment:
        pairs.append(("comment", rule.comment))
    if rule.handle is not None:
        pairs.append(("handle", str(rule.handle)))
    matches = [
        f"{'! ' if m.negated else ''}{m.module + ' ' if m.module and m.module != 'nft' else ''}{m.option} "
        f"{m.op + ' ' if m.module == 'nft' else ''}{' '.join(m.args)}"
        + ("" if m.known else "  (not understood)")
        for m in rule.matches
    ]
    return Group(
        section("Rule", pairs), lines("Text", [rule.text]), lines("Matches", matches, empty="every packet")
    )


def describe_ref(model: HostModel, ref: NodeRef | None) -> RenderableType:
    """The detail for a tree node or a container row."""
    if ref is None or ref.kind in ("host", "group", "route"):
        return host_detail(model)
    if ref.kind == "network":
        network = model.network(ref.ident)
        return network_detail(model, network) if network else Text("network gone", style="dim")
    if ref.kind == "veth":
        return veth_detail(model, ref.ident)
    container_id = ref.ident
    if ref.kind in ("address", "port"):
        container_id = ref.key.rsplit("/ctr:", 1)[-1].split("/", 1)[0] if "/ctr:" in ref.key else ""
    container = model.container(container_id) if container_id else None
    if container is None:
        return Text("container gone", style="dim")
    return container_detail(model, container)


# --- the rules that name a container's addresses ------------------------------------------------------------

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

_V4 = r"\d{1,3}(?:\.\d{1,3}){3}"
_V6 = r"[0-9A-Fa-f]{0,4}(?::[0-9A-Fa-f]{0,4}){2,7}"
#: An address, a CIDR or a range, never part of a longer number or name (`10.0.0.7` is not in `10.0.0.70`).
_ADDRESS = re.compile(
    rf"(?<![\w.:])(?:(?P<v4>{_V4})(?:/(?P<p4>\d{{1,2}}))?(?:-(?P<e4>{_V4}))?(?![\w.])"
    rf"|(?P<v6>{_V6})(?:/(?P<p6>\d{{1,3}}))?(?![\w.:]))"
)
#: An nft named set (`@name`) or an ipset (`--match-set NAME`).
_SET = re.compile(r"@(?P<nft>[\w.-]+)|--match-set\s+(?P<ipset>\S+)")


def named_ranges(text: str) -> Iterator[tuple[IPAddress, IPAddress]]:
    """Every address, CIDR (but /0, which names everything) and range in `text`, as (first, last)."""
    for m in _ADDRESS.finditer(text):
        try:
            if m["v4"]:
                first = ipaddress.ip_address(m["v4"])
                if m["e4"]:
                    last = ipaddress.ip_address(m["e4"])
                    if last.version == first.version and int(first) <= int(last):
                        yield first, last
                    continue
                net: IPNetwork = ipaddress.ip_network(f"{m['v4']}/{m['p4'] or 32}", strict=False)
            else:
                net = ipaddress.ip_network(f"{m['v6']}/{m['p6'] or 128}", strict=False)
        except ValueError:
            continue  # a MAC, a time, anything else that looks like one
        if net.prefixlen:
            yield net.network_address, net.broadcast_address


def rule_names(text: str, addresses: Sequence[IPAddress], sets: dict[str, list[str]]) -> bool:
    """Whether a rule's text names one of `addresses`: the address itself, a CIDR or range containing it,
    or a named set (nft) or ipset holding such an element."""
    texts = [text]
    for m in _SET.finditer(text):
        texts.extend(sets.get(m["nft"] or m["ipset"], []))
    for item in texts:
        for first, last in named_ranges(item):
            if any(a.version == first.version and int(first) <= int(a) <= int(last) for a in addresses):
                return True
    return False


def rules_naming(firewall: Firewall, addresses: Sequence[IPAddress]) -> list[tuple[Table, Rule]]:
    """The rules of every table that name one of `addresses`, in the firewall's order."""
    found: list[tuple[Table, Rule]] = []
    if not addresses:
        return found
    for table in firewall.tables:
        sets = {**firewall.ipsets, **table.sets}
        for chain in table.chains:
            found += [(table, rule) for rule in chain.rules if rule_names(rule.text, addresses, sets)]
    return found


def netns_of(model: HostModel, container: Container) -> Container:
    """The container whose network namespace `container` uses (itself, unless `container:X`)."""
    owner = model.container(container.netns_owner) if container.netns_owner else None
    return owner if owner is not None and owner.id != container.id else container


def own_addresses(model: HostModel, container: Container) -> list[IPAddress]:
    """The addresses of the container's network namespace: its endpoints' and interfaces' (no loopback or
    link-local ones, which every namespace has)."""
    netns = netns_of(model, container)
    texts = [ep.ip for ep in netns.endpoints] + [ep.ipv6 for ep in netns.endpoints]
    texts += [a.address for i in netns.interfaces for a in i.addresses]
    found: list[IPAddress] = []
    for value in texts:
        try:
            address = ipaddress.ip_address(value.split("%", 1)[0])
        except ValueError:
            continue
        if (
            not (address.is_loopback or address.is_link_local or address.is_unspecified)
            and address not in found
        ):
            found.append(address)
    return found


def rules_section(model: HostModel, container: Container) -> RenderableType:
    addresses = own_addresses(model, container)
    if not addresses:
        mode = container.network_mode or "?"
        return lines(
            "Firewall rules naming its addresses", [], empty=f"no address of its own (network {mode})"
        )
    found = rules_naming(model.firewall, addresses)
    shown = [
        f"{table.family} {rule_title(rule):<28} {owner_badge(rule.owner):<6} "
        f"{human_count(rule.packets):>4} pkts  {rule.text}"
        for table, rule in found
    ]
    title = f"Firewall rules naming {', '.join(map(str, addresses))} ({len(found)})"
    return lines(title, shown, empty="none: no rule names these addresses or a range holding them")


def container_screen_body(model: HostModel, container: Container) -> RenderableType:
    """Everything about one container, for its own screen: the detail pane's sections (networks and veths,
    ports, interfaces, DNS), the namespace owner's networks for a `container:X` one, and the firewall rules
    that name its addresses."""
    parts: list[RenderableType] = [section("Container", container_pairs(model, container))]
    netns = netns_of(model, container)
    if netns is not container:
        parts.append(lines("Network", [f"shares {netns.name}'s network namespace (--network container:…)"]))
    parts.extend(endpoint_section(model, netns, ep) for ep in netns.endpoints)
    if not netns.endpoints:
        parts.append(lines("Networks", [], empty=f"none (network mode {netns.network_mode or '?'})"))
    published = [port_text(p) for p in container.ports if p.host_port is not None]
    parts.append(lines("Published ports", list(dict.fromkeys(published))))
    parts.extend(namespace_sections(container))
    parts.extend(dns_sections(container))
    if container.links:
        parts.append(lines("Links", container.links))
    parts.append(rules_section(model, container))
    return Group(*parts)


#: Scrolling keys of the read-only panes (the detail pane, the container screen).
SCROLL_BINDINGS: list[BindingType] = [
    Binding("j", "scroll_down", "Down", show=False),
    Binding("k", "scroll_up", "Up", show=False),
    Binding("g", "scroll_home", "First", show=False),
    Binding("G", "scroll_end", "Last", show=False),
]


class DetailPane(QuickFocus, SteadyView, ScrollView, can_focus=True):
    """Shows the detail of the selection; keeps the scroll position while the same thing is shown.

    A Line-API view: `show` renders the body to lines once (again only when the width changes), and the
    pane draws the lines in view. Nothing else on the screen moves, so a new body costs no layout of the
    screen (a `Static` in a scrolling container asked for one on every cursor move). The lines of the last
    few bodies are kept by subject, edition (the model shown) and width: moving back to a row draws it
    without rendering it again."""

    DEFAULT_CSS = """
    DetailPane { height: 1fr; overflow-x: hidden; overflow-y: auto; }
    """

    BINDINGS: ClassVar[list[BindingType]] = SCROLL_BINDINGS
    #: How many rendered bodies are kept.
    KEPT = 64

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(id=id, classes=classes)
        self.subject: tuple[str, str] = ("", "")
        #: What the pane shows (a Rich renderable, plain text from the host).
        self.content: RenderableType = Text("")
        self._lines: list[Strip] = []
        self._rendered_width = -1
        self._edition: Hashable = None
        self._kept: OrderedDict[Hashable, list[Strip]] = OrderedDict()

    def redraw_focus(self) -> None:
        """The focus shows nowhere inside the pane: only in its border, which its restyle redraws."""

    def show(self, subject: tuple[str, str], body: RenderableType, edition: Hashable = None) -> None:
        """Show `body`; when `subject` changed, scroll back to the top. With an `edition` (not None), the
        same subject and edition are the same body: its lines may be reused."""
        self.content = body
        self._edition = edition
        self._render_body(subject)
        if subject != self.subject:
            self.scroll_home(animate=False, immediate=True)
            self.subject = subject

    def _render_body(self, subject: tuple[str, str] | None = None) -> None:
        """Render the body at the pane's width (less the scrollbar's when it does not fit the height)."""
        width, height = self.size
        if width <= 0:
            self._rendered_width = -1  # not laid out yet: rendered on the first resize
            return
        key = None if self._edition is None else (subject or self.subject, self._edition, width, height)
        lines = self._kept.get(key) if key is not None else None
        if lines is None:
            lines = self._render_at(width)
            bar = self.styles.scrollbar_size_vertical
            if len(lines) > height and bar and width > bar:
                lines = self._render_at(width - bar)
            if key is not None:
                self._kept[key] = lines
                while len(self._kept) > self.KEPT:
                    self._kept.popitem(last=False)
        else:
            self._kept.move_to_end(key)
        self._lines = lines
        self._rendered_width = width
        size = Size(max((line.cell_length for line in lines), default=0), len(lines))
        if size != self.virtual_size:
            # Not `self.virtual_size = size`: that lays the whole screen out again. Only the scrollbar
            # depends on it (and a layout follows only when the scrollbar appears or goes).
            self.set_reactive(DetailPane.virtual_size, size)
            self._scroll_update(size)
        self.refresh()

    def _render_at(self, width: int) -> list[Strip]:
        console = self.app.console
        options = console.options.update(width=width, height=None, highlight=False)
        return [Strip(line) for line in console.render_lines(self.content, options, pad=False)]

    def on_resize(self) -> None:
        if self.size.width != self._rendered_width:
            self._render_body()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.scrollable_content_region.width
        index = scroll_y + y
        base = self.line_style
        if index >= len(self._lines):
            return Strip.blank(width, base)
        return self._lines[index].crop_extend(scroll_x, scroll_x + width, base).apply_style(base)
