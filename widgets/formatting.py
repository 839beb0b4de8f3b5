"""Small text helpers shared by the panes: counters, owners, addresses, short ids, and host text.

Everything from the host reaches the screen through `clip`, `host_text` or `dockwire.text.safe`: escaped
(never a terminal control) and as `Text` (never markup).
"""

from __future__ import annotations

from rich.cells import cell_len, set_cell_size
from rich.console import Console, ConsoleOptions, RenderResult
from rich.measure import Measurement
from rich.style import StyleType
from rich.text import Text

from dockwire.model import Container, Network, PortBinding, Rule
from dockwire.text import safe

#: The most cells a name takes in a narrow place (a table cell, a tree label, a title, the status line);
#: longer ones end in an ellipsis there, and the detail pane shows them whole.
NAME_CELLS = 40

#: Who wrote a rule, as the firewall probe names it (probes/firewall_owner.py). Every pane shows these words
#: as they are, never an abbreviation ("dockwire", not "dwire"): the firewall pane's owner column is as wide
#: as the longest of them.
OWNERS = ("docker", "user", "ufw", "firewalld", "dockwire", "kube", "other")
OWNER_CELLS = max(len(owner) for owner in OWNERS)

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


def owner_name(owner: str) -> str:
    """Who wrote a rule, the same word in every pane: the probe's own name, escaped (an unknown one is cut
    to the owner column, `OWNER_CELLS`)."""
    return clip(owner or "other", OWNER_CELLS)


#: The name the other panes import; the same function (there is no short form any more).
owner_badge = owner_name


def _head(text: str, cells: int) -> str:
    """The longest start of `text` that fits in `cells` cells."""
    taken = 0
    for i, char in enumerate(text):
        taken += cell_len(char)
        if taken > cells:
            return text[:i]
    return text


def _tail(text: str, cells: int) -> str:
    """The longest end of `text` that fits in `cells` cells."""
    taken = 0
    for i in range(len(text) - 1, -1, -1):
        taken += cell_len(text[i])
        if taken > cells:
            return text[i + 1 :]
    return text


def middle_cut(text: str, cells: int, keep_end: str = "") -> tuple[int, int] | None:
    """Where to cut `text` so that its start, "…" and its end fit in `cells` cells: (end of the start,
    beginning of the end) as indexes into `text`, or None when it fits whole. The end is never cut off.
    With a `keep_end` clause ("-j DROP") in the text, the start (what a rule matches) gets two thirds of the
    room and the end at least that whole clause (while it leaves the start a third); else half each."""
    if cell_len(text) <= cells:
        return None
    room = max(cells - 1, 0)
    tail_cells = (room + 1) // 2
    at = text.rfind(keep_end) if keep_end else -1
    if at >= 0:
        tail_cells = max(room // 3, min(cell_len(text[at:]), room - room // 3))
    tail = _tail(text, tail_cells)
    head = _head(text, room - cell_len(tail))
    # Cut at the spaces next to the cut: "-p tcp…-j DROP", not "-p tcp …  -j DROP".
    return len(head.rstrip()), len(text) - len(tail.lstrip())


def shorten_middle(text: str, cells: int, keep_end: str = "") -> str:
    """`text` (already escaped) in at most `cells` cells, its MIDDLE replaced by "…": the start (what a rule
    matches) and the end (its target) stay, the end is never cut off (see `middle_cut`)."""
    cut = middle_cut(text, cells, keep_end)
    return text if cut is None else f"{text[: cut[0]]}…{text[cut[1] :]}"


class FitLine:
    """One line that fits the width it is drawn at: `before`, then `body` shortened in its middle as far as
    needed, then `after` (a marker such as "◀ dropped here" that must stay visible). A Rich renderable, so
    the width is the pane's at the moment it is drawn."""

    def __init__(self, before: Text, body: Text, after: Text, keep_end: str = "") -> None:
        self.before = before
        self.body = body
        self.after = after
        self.keep_end = keep_end

    def fitted(self, width: int) -> Text:
        before = self.before if width - self.after.cell_len - self.before.cell_len >= 8 else Text("")
        room = width - before.cell_len - self.after.cell_len
        body = self.body
        cut = middle_cut(body.plain, max(room, 1), self.keep_end)
        if cut is not None:
            body = Text.assemble(body[: cut[0]], ("…", body.style), body[cut[1] :], style=body.style)
        return Text.assemble(before, body, self.after, no_wrap=True, overflow="crop")

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.fitted(options.max_width)

    def __rich_measure__(self, console: Console, options: ConsoleOptions) -> Measurement:
        whole = self.before.cell_len + self.body.cell_len + self.after.cell_len
        least = self.after.cell_len + 2
        return Measurement(min(least, options.max_width), min(whole, options.max_width))


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
    """The container's IPv4 addresses, then its IPv6 ones."""
    return [ep.ip for ep in container.endpoints if ep.ip] + [ep.ipv6 for ep in container.endpoints if ep.ipv6]


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
