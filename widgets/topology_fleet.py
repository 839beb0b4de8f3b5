"""The topology of several hosts: each host a top-level node over its own tree, with its routes to the others.

A host's subtree is `build_topology`'s, its keys prefixed `h:NAME/` and its refs naming the host, so nodes
of different hosts never share a key. A route whose gateway is an address of another known host is shown
under the host as `→ host b via 198.51.100.242 (10.199.0.0/16)`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from rich.text import Text

from dockwire.model import HostModel
from dockwire.widgets.containers import Marks
from dockwire.widgets.formatting import clip, host_text
from dockwire.widgets.topology import NodeRef, NodeSpec, build_topology


def host_key(name: str) -> str:
    """The key of host `name`'s node."""
    return f"h:{name}"


def inter_host_routes(name: str, hosts: Sequence[tuple[str, HostModel]]) -> list[tuple[str, str, str]]:
    """(other host, gateway, destination) for each of host `name`'s routes via an address of another host."""
    owner = {
        a.address: other
        for other, model in hosts
        if other != name
        for i in model.host.interfaces
        for a in i.addresses
    }
    model = dict(hosts)[name]
    return [(owner[r.gateway], r.gateway, r.dst) for r in model.host.routes if r.gateway in owner]


def _prefixed(spec: NodeSpec, prefix: str, host: str) -> NodeSpec:
    key = f"{prefix}/{spec.key}"
    ref = replace(spec.ref, key=key, host=host)
    children = [_prefixed(child, prefix, host) for child in spec.children]
    return NodeSpec(key, spec.label, ref, children, spec.expand)


def _stale_note(model: HostModel) -> Text:
    reasons = list(dict.fromkeys(model.stale.values()))
    if not reasons:
        return Text()
    more = f" (+{len(reasons) - 1} more)" if len(reasons) > 1 else ""
    return host_text(("  ⚠ ", "bold yellow"), (reasons[0], "yellow"), (more, "dim"))


def host_node(name: str, hosts: Sequence[tuple[str, HostModel]], marks: Marks) -> NodeSpec:
    """Host `name`'s node: its tree under it, then its routes to the other hosts."""
    model = dict(hosts)[name]
    tree = build_topology(model, marks)
    prefix = host_key(name)
    children = [_prefixed(child, prefix, name) for child in tree.children]
    for other, gateway, dst in inter_host_routes(name, hosts):
        ident = f"{dst} via {gateway}"
        key = f"{prefix}/route:{ident}"
        label = host_text(("→ host ", "bold"), (other, "bold cyan"), (f" via {gateway} ({dst})", "cyan"))
        children.append(NodeSpec(key, label, NodeRef("route", other, key, name)))
    label = Text.assemble(("host ", "dim"), (clip(name), "bold"))
    if model.hostname and model.hostname != name:
        label.append(f"  {clip(model.hostname)}", style="dim")
    engine = model.engine
    if engine and engine.version:
        label.append(f"  Docker {clip(engine.version)}", style="dim")
    label.append(f"  {len(model.containers)} containers", style="dim")
    label.append_text(_stale_note(model))
    return NodeSpec(prefix, label, NodeRef("host", name, prefix, name), children, expand=True)


def build_fleet_topology(hosts: Sequence[tuple[str, HostModel]], marks: Marks | None = None) -> NodeSpec:
    """The tree of several hosts: a root (hidden) over one node per host."""
    shown = marks or Marks()
    children = [host_node(name, hosts, shown) for name, _ in hosts]
    label = Text(f"{len(hosts)} hosts", style="bold")
    return NodeSpec("fleet", label, NodeRef("fleet", "", "fleet"), children, expand=True)
