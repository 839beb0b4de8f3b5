"""The topology tree: host -> networks/bridges -> veth pairs -> containers -> addresses and ports.

Containers sit where their packets really leave from: on a bridge behind their veth, on the host's own stack
(`host` mode), inside another container's namespace (`container:X`), on a macvlan parent, or nowhere (`none`).
The tree is brought up to date in place: nodes are matched by stable keys, labels are updated, and a
branch is rebuilt only when its children changed, so expansion, cursor and scroll survive refreshes.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, ClassVar

from rich.text import Text
from textual.binding import Binding, BindingType
from textual.cache import LRUCache
from textual.message import Message
from textual.strip import Strip
from textual.widgets import Tree
from textual.widgets.tree import TreeNode

from dockwire.model import Container, Endpoint, HostModel, Network, VethPair
from dockwire.text import safe
from dockwire.widgets.containers import Marks
from dockwire.widgets.formatting import (
    NAME_CELLS,
    clip,
    host_text,
    network_kind,
    network_subnets,
    port_text,
    published_ports,
    short_id,
)
from dockwire.widgets.line_views import SteadyView, StyleKeptCaches, look_of
from dockwire.widgets.quick_focus import QuickFocus


@dataclass(frozen=True, slots=True)
class NodeRef:
    """What a tree node stands for: `kind` is host, network, veth, container, group, address or port."""

    kind: str
    ident: str = ""
    key: str = ""
    #: The host it is on, when the tree shows several ("" for one host).
    host: str = ""


@dataclass(slots=True)
class NodeSpec:
    key: str
    label: Text
    ref: NodeRef
    children: list[NodeSpec] = field(default_factory=list)
    expand: bool = False


def _container_label(container: Container, endpoint: Endpoint | None, marks: Marks) -> Text:
    running = container.state == "running"
    text = Text()
    badge = marks.badge(container.id)
    if badge.plain.strip():
        text.append_text(badge)
        text.append(" ")
    text.append("● " if running else "○ ", style="green" if running else "red")
    text.append(clip(container.name), style="bold" if running else "dim")
    if endpoint is not None and endpoint.ip:
        text.append(f"  {safe(endpoint.ip)}", style="cyan")
    published = published_ports(container)
    if published:
        text.append("  " + safe(" ".join(published)), style="magenta")
    if not running:
        text.append(f"  ({clip(container.state or 'unknown')})", style="dim")
    return text


class _Builder:
    """Computes the wanted tree from a model."""

    def __init__(self, model: HostModel, marks: Marks) -> None:
        self.model = model
        self.marks = marks
        self.sharers: dict[str, list[Container]] = {}
        known = {c.id for c in model.containers}
        for c in model.containers:
            # A sharer whose owner is not in the model is shown on its own, with the loose ones.
            if c.netns_owner and c.netns_owner in known and c.netns_owner != c.id:
                self.sharers.setdefault(c.netns_owner, []).append(c)
        self.shown_with_owner = {c.id for group in self.sharers.values() for c in group}
        self.veth_by_container: dict[tuple[str, str], VethPair] = {}
        for pair in model.veths:
            if pair.container_id:
                self.veth_by_container[(pair.container_id, pair.bridge)] = pair

    def container(self, container: Container, parent_key: str, endpoint: Endpoint | None) -> NodeSpec:
        key = f"{parent_key}/ctr:{container.id}"
        ref = NodeRef("container", container.id, key)
        children: list[NodeSpec] = []
        if endpoint is not None:
            if endpoint.ip:
                plen = f"/{endpoint.prefixlen}" if endpoint.prefixlen is not None else ""
                children.append(
                    self.leaf(key, "address", f"{endpoint.ip}{plen}", f"inet {endpoint.ip}{plen}")
                )
            if endpoint.ipv6:
                children.append(self.leaf(key, "address", endpoint.ipv6, f"inet6 {endpoint.ipv6}"))
            if endpoint.mac:
                children.append(self.leaf(key, "address", endpoint.mac, f"mac {endpoint.mac}"))
            names = sorted(
                set(endpoint.aliases + endpoint.dns_names) - {container.name, short_id(container.id)}
            )
            if names:
                children.append(self.leaf(key, "address", "dns", "dns " + " ".join(map(clip, names))))
        for text in dict.fromkeys(port_text(port) for port in container.ports):
            children.append(self.leaf(key, "port", text, f"port {text}"))
        return NodeSpec(key, _container_label(container, endpoint, self.marks), ref, children)

    def members(
        self,
        container: Container,
        parent_key: str,
        endpoint: Endpoint | None,
        seen: frozenset[str] = frozenset(),
    ) -> list[NodeSpec]:
        """The container's node, then (right under it, at its level) the containers that share its network
        namespace (`--network container:X`): their packets leave by the same interfaces."""
        nodes = [self.container(container, parent_key, endpoint)]
        seen = seen | {container.id}
        for sharer in sorted(self.sharers.get(container.id, []), key=lambda c: c.name):
            if sharer.id in seen:
                continue
            for node in self.members(sharer, parent_key, None, seen):
                if node.ref.ident == sharer.id:
                    node.label = Text.assemble(
                        node.label, (f"  (shares {clip(container.name)}'s network)", "dim")
                    )
                nodes.append(node)
        return nodes

    def leaf(self, parent_key: str, kind: str, ident: str, label: str) -> NodeSpec:
        key = f"{parent_key}/{kind}:{ident}"
        return NodeSpec(key, host_text((label, "dim")), NodeRef(kind, ident, key))

    def network(self, network: Network) -> NodeSpec:
        key = f"net:{network.id}"
        label = Text()
        label.append(clip(network.name), style="bold")
        kind_style = "yellow" if network.internal or not network.icc else "dim"
        label.append(f"  {safe(network_kind(network))}", style=kind_style)
        if network.bridge:
            label.append(f"  {clip(network.bridge)}", style="cyan")
        if network.parent:
            label.append(f"  parent {clip(network.parent)}", style="cyan")
        if network.subnets:
            label.append(f"  {safe(network_subnets(network))}", style="dim")
        members = [
            (c, ep)
            for c in self.model.containers
            for ep in c.endpoints
            if ep.network_id == network.id or (not ep.network_id and ep.network == network.name)
        ]
        children: list[NodeSpec] = []
        for container, endpoint in sorted(members, key=lambda m: (m[1].ip == "", m[0].name)):
            pair = self.veth_by_container.get((container.id, network.bridge)) if network.bridge else None
            if pair is None:
                children.extend(self.members(container, key, endpoint))
                continue
            veth_key = f"{key}/veth:{pair.host_ifname}"
            veth_label = host_text(
                (pair.host_ifname, "cyan"), (" ⇄ ", "dim"), (pair.container_ifname or "?", "cyan"),
                limit=NAME_CELLS,
            )  # fmt: skip
            children.append(
                NodeSpec(
                    veth_key,
                    veth_label,
                    NodeRef("veth", pair.host_ifname, veth_key),
                    self.members(container, veth_key, endpoint),
                    expand=True,
                )
            )
        return NodeSpec(key, label, NodeRef("network", network.id, key), children, expand=True)

    def group(self, ident: str, title: str, note: str, children: list[NodeSpec]) -> NodeSpec:
        key = f"group:{ident}"
        label = Text.assemble((title, "bold"), (f"  {note}", "dim"))
        return NodeSpec(key, label, NodeRef("group", ident, key), children, expand=True)

    def build(self) -> NodeSpec:
        model = self.model
        children: list[NodeSpec] = []
        placed: set[str] = set()
        special = {"host", "null", "none"}
        for network in sorted(
            model.networks, key=lambda n: (n.driver != "bridge", n.name != "bridge", n.name)
        ):
            if network.driver in special:
                continue
            spec = self.network(network)
            children.append(spec)
            placed |= {c.id for c in model.containers for ep in c.endpoints if ep.network_id == network.id}
        host_mode = [c for c in model.containers if c.network_mode == "host"]
        if host_mode:
            children.append(
                self.group(
                    "host", "host network", "share the host's stack",
                    [n for c in sorted(host_mode, key=lambda c: c.name)
                     for n in self.members(c, "group:host", None)],
                )
            )  # fmt: skip
        placed |= {c.id for c in host_mode} | self.shown_with_owner
        loose = [c for c in model.containers if c.id not in placed]
        no_net = [c for c in loose if c.network_mode == "none" or c.state == "running"]
        stopped = [c for c in loose if c not in no_net]
        if no_net:
            children.append(
                self.group(
                    "none", "no network", "loopback only",
                    [n for c in sorted(no_net, key=lambda c: c.name)
                     for n in self.members(c, "group:none", None)],
                )
            )  # fmt: skip
        if stopped:
            group = self.group(
                "stopped", "not running", "no namespace",
                [
                    n for c in sorted(stopped, key=lambda c: c.name)
                    for n in self.members(c, "group:stopped", None)
                ],
            )  # fmt: skip
            group.expand = False
            children.append(group)
        foreign = [p for p in model.veths if not p.container_id]
        if foreign:
            veths = [
                NodeSpec(
                    f"group:netns/veth:{p.host_ifname}",
                    host_text(
                        (p.host_ifname, "cyan"),
                        ("  on ", "dim") if p.bridge else ("  (no bridge)", "dim"),
                        (p.bridge, "dim"),
                        limit=NAME_CELLS,
                    ),
                    NodeRef("veth", p.host_ifname, f"group:netns/veth:{p.host_ifname}"),
                )
                for p in foreign
            ]
            group = self.group("netns", "other namespaces", "veths whose peer is not a container's", veths)
            group.expand = False
            children.append(group)
        engine = model.engine
        root_label = Text.assemble(
            (clip(model.hostname or "host"), "bold"),
            (f"  Docker {clip(engine.version)}" if engine and engine.version else "", "dim"),
            (f"  {len(model.containers)} containers", "dim"),
        )
        return NodeSpec("host", root_label, NodeRef("host", model.hostname, "host"), children, expand=True)


def build_topology(model: HostModel, marks: Marks | None = None) -> NodeSpec:
    """The tree the model should be shown as."""
    return _Builder(model, marks or Marks()).build()


def spec_matches(spec: NodeSpec, words: list[str]) -> bool:
    haystack = f"{spec.label.plain} {spec.ref.ident}".lower()
    return all(word in haystack for word in words)


def filter_specs(specs: list[NodeSpec], needle: str) -> tuple[list[NodeSpec], set[str], list[str]]:
    """The branches that lead to a node matching every word of `needle` (a matching node keeps its whole
    subtree), the keys of the nodes to open on the way there, and the matching nodes' keys in order."""
    words = needle.lower().split()
    opened: set[str] = set()
    hits: list[str] = []

    def prune(nodes: list[NodeSpec]) -> list[NodeSpec]:
        kept: list[NodeSpec] = []
        for spec in nodes:
            if spec_matches(spec, words):
                hits.append(spec.key)
                kept.append(spec)
                continue
            children = prune(spec.children)
            if children:
                opened.add(spec.key)
                kept.append(NodeSpec(spec.key, spec.label, spec.ref, children, expand=True))
        return kept

    return prune(specs), opened, hits


class TopologyTree(QuickFocus, SteadyView, Tree[NodeRef]):
    """Host, networks, veth pairs and containers as a tree, kept in sync with the model."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("j", "cursor_down", "Down", show=False),
        Binding("k", "cursor_up", "Up", show=False),
        # home/end/pageup/pagedown move the cursor already (Tree's own actions).
        Binding("g", "scroll_home", "First", show=False),
        Binding("G", "scroll_end", "Last", show=False),
    ]

    class RefHighlighted(Message):
        def __init__(self, ref: NodeRef | None) -> None:
            self.ref = ref
            super().__init__()

    def __init__(self, *, id: str | None = None, classes: str | None = None) -> None:
        super().__init__("host", data=NodeRef("host", "", "host"), id=id, classes=classes)
        self.guide_depth = 2
        self._looks: StyleKeptCaches[LRUCache[Any, Strip]] = StyleKeptCaches(lambda: LRUCache(1024))
        self._by_key: dict[str, TreeNode[NodeRef]] = {}
        #: Show only the branches leading to nodes that match every word of it ("" shows everything).
        self.filter_text = ""
        self._model = HostModel()
        #: The hosts shown, when there are several (`show_fleet`); empty for one host.
        self._hosts: list[tuple[str, HostModel]] = []
        self._marks: Marks | None = None
        self._jump_to_match = False

    @property
    def highlighted_ref(self) -> NodeRef | None:
        node = self.cursor_node
        return node.data if node is not None else None

    def show(self, model: HostModel, marks: Marks | None = None) -> None:
        self._model = model
        if marks is not None:
            self._marks = marks
        self._show(build_topology(model, self._marks))

    def show_fleet(self, hosts: Sequence[tuple[str, HostModel]], marks: Marks | None = None) -> None:
        """Several hosts: each a top-level node (the root is hidden) over its own tree."""
        from dockwire.widgets.topology_fleet import build_fleet_topology

        self._hosts = list(hosts)
        if marks is not None:
            self._marks = marks
        self.show_root = False
        self._show(build_fleet_topology(self._hosts, self._marks))

    def move_to_key(self, key: str) -> bool:
        """Put the cursor on the node of `key`; False when there is none."""
        node = self._by_key.get(key)
        if node is None:
            return False
        self.move_cursor(node, animate=False)
        return True

    def _show(self, spec: NodeSpec) -> None:
        children, opened, hits = spec.children, set[str](), list[str]()
        if self.filter_text.strip():
            children, opened, hits = filter_specs(spec.children, self.filter_text)
        cursor_key = self.highlighted_ref.key if self.highlighted_ref else None
        top = self.scroll_y
        self.root.set_label(spec.label)
        self.root.data = spec.ref
        if not self.root.is_expanded and not self._by_key:
            self.root.expand()
        self._sync(self.root, children)
        self._by_key = {node.data.key: node for node in self._walk(self.root) if node.data is not None}
        for key in opened:
            self._by_key[key].expand()
        jump, self._jump_to_match = self._jump_to_match, False
        if jump and hits and cursor_key not in hits:
            # A new filter: the cursor goes to the first match (unless it is on one already).
            self.call_after_refresh(self._restore, self._by_key[hits[0]], None)
        elif cursor_key and cursor_key in self._by_key:
            node = self._by_key[cursor_key]
            self.call_after_refresh(self._restore, node, top)

    def set_filter(self, text: str) -> None:
        self.filter_text = text
        self._jump_to_match = True
        if self._hosts:
            self.show_fleet(self._hosts)
        else:
            self.show(self._model)

    def _restore(self, node: TreeNode[NodeRef], top: float | None) -> None:
        if node.line >= 0 and node.line != self.cursor_line:
            self.move_cursor(node, animate=False)
        if top is not None:
            self.scroll_to(y=top, animate=False)

    def _walk(self, node: TreeNode[NodeRef]) -> Iterable[TreeNode[NodeRef]]:
        yield node
        for child in node.children:
            yield from self._walk(child)

    def _sync(self, parent: TreeNode[NodeRef], wanted: list[NodeSpec]) -> None:
        current = list(parent.children)
        if [c.data.key if c.data else "" for c in current] == [w.key for w in wanted]:
            for node, spec in zip(current, wanted, strict=True):
                if node.label != spec.label:
                    node.set_label(spec.label)
                node.data = spec.ref
                node.allow_expand = bool(spec.children)
                self._sync(node, spec.children)
            return
        expanded = {n.data.key for n in self._walk(parent) if n.data is not None and n.is_expanded}
        known = {n.data.key for n in self._walk(parent) if n.data is not None}
        parent.remove_children()
        for spec in wanted:
            self._add(parent, spec, expanded, known)

    def _add(self, parent: TreeNode[NodeRef], spec: NodeSpec, expanded: set[str], known: set[str]) -> None:
        expand = spec.key in expanded if spec.key in known else spec.expand
        node = parent.add(spec.label, data=spec.ref, expand=expand, allow_expand=bool(spec.children))
        for child in spec.children:
            self._add(node, child, expanded, known)

    def notify_style_update(self) -> None:
        """The Widget's: Tree's own empties its line cache and lays the screen out again on every style
        update (each focus change); the cache is kept per look instead (`_before_pass`)."""
        super(Tree, self).notify_style_update()
        self.refresh()

    def _before_pass(self) -> None:
        caches = self._looks.swap(look_of(self, self.COMPONENT_CLASSES), self._line_cache)
        if caches is not None:
            self._line_cache = caches

    def render_line(self, y: int) -> Strip:
        """Tree's, with the base style of the drawing pass."""
        scroll_x, scroll_y = self.scroll_offset
        return self._render_line(y + scroll_y, scroll_x, scroll_x + self.size.width, self.line_style)

    def on_tree_node_highlighted(self, event: Tree.NodeHighlighted[NodeRef]) -> None:
        event.stop()
        self.post_message(self.RefHighlighted(event.node.data))
