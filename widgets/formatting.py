"""Small text helpers shared by the panes: counters, owners, addresses, short ids, and host text.

Everything from the host reaches the screen through `clip`, `host_text` or `dockwire.text.safe`: escaped
(never a terminal control) and as `Text` (never markup).
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.style import StyleType
from rich.text import Text

from dockwire.model import Container, Network, PortBinding, Rule
from dockwire.text import safe

#: The most cells a name takes in a narrow place (a table cell, a tree label, a title, the status line);
#: longer ones end in an ellipsis there, and the detail pane shows them whole.
NAME_CELLS = 40

#: Who wrote a rule, as the firewall probe names it, and the short badge shown for it.
OWNER_BADGES: dict[str, str] = {
    "docker": "docker",
    "user": "user",
    "ufw": "ufw",
    "firewalld": "fwalld",
    "dockwire": "dwire",
    "kube": "kube",
    "other": "other",
}

#: Targets whose verdict ends a packet's journey badly / well.
DROPPING_TARGETS = frozenset({"DROP", "REJECT", "drop", "reject"})
ACCEPTING_TARGETS = frozenset({"ACCEPT", "accept"})


def clip(value: str, limit: int | None = NAME_CELLS) -> str:
    """A host string escaped and, beyond `limit` cells (None: no limit), cut with an ellipsis."""
    shown = safe(value)
    if limit is None or cell_len(shown) <= limit:
        return shown
    return set_cell_size(shown, limit - 1) + "…"


def host_text(*parts: str | tuple[str, StyleType], limit: int | None = None) -> Text:
    """`Text.assemble` for strings from the host: each part escaped (and clipped to `limit`), never markup."""
    text = Text()
    for part in parts:
        value, style = part if isinstance(part, tuple) else (part, "")
        text.append(clip(value, limit), style)
    return text


def cell(value: str, style: StyleType = "", limit: int | None = None) -> Text:
    """A table cell from a host string: escaped, plain text, on one line."""
    return Text(clip(value, limit), style=style, no_wrap=True, end="")


def human_count(value: int) -> str:
    """A counter in at most four characters: 999, 1.2K, 34M, 5.6G."""
    if value < 1000:
        return str(value)
    scaled = float(value)
    for unit in "KMGTP":
        scaled /= 1000
        if scaled < 9.95:
            return f"{scaled:.1f}{unit}"
        if scaled < 999.5:
            return f"{scaled:.0f}{unit}"
    return f"{scaled:.0f}E"


def owner_badge(owner: str) -> str:
    return OWNER_BADGES.get(owner, owner[:6] or "other")


def rule_body(rule: Rule) -> str:
    """The rule's text without the `-A CHAIN` that repeats the chain it sits in."""
    prefix = f"-A {rule.chain} "
    return rule.text[len(prefix) :] if rule.text.startswith(prefix) else rule.text


def rule_title(rule: Rule) -> str:
    """Where a rule lives, the way people name it: `filter/DOCKER-USER #1`."""
    return f"{rule.table}/{rule.chain} #{rule.position}"


def short_id(ident: str) -> str:
    return ident[:12]


def port_text(port: PortBinding) -> str:
    """`0.0.0.0:18080->80/tcp`, or `80/tcp` for a port that is not published on the host."""
    if port.host_port is None:
        return f"{port.container_port}/{port.proto}"
    host = f"{port.host_ip}:" if port.host_ip and port.host_ip not in ("0.0.0.0", "::") else ""
    return f"{host}{port.host_port}->{port.container_port}/{port.proto}"


def published_ports(container: Container) -> list[str]:
    """The container's published ports, once each (Docker lists IPv4 and IPv6 bindings separately)."""
    return list(dict.fromkeys(port_text(p) for p in container.ports if p.host_port is not None))


def container_ips(container: Container) -> list[str]:
    return [ep.ip for ep in container.endpoints if ep.ip]


def network_kind(network: Network) -> str:
    """A few words on what kind of network this is."""
    flags = []
    if network.internal:
        flags.append("internal")
    if not network.icc:
        flags.append("no-icc")
    if network.driver == "bridge" and not network.masquerade:
        flags.append("no-masq")
    return " ".join([network.driver, *flags])


def network_subnets(network: Network) -> str:
    return ", ".join(s.subnet for s in network.subnets) or "-"
