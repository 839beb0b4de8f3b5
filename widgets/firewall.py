"""The firewall pane: tables -> chains -> rules with live packet/byte counters.

A Line-API view: only the visible lines are rendered, so ten thousand rules scroll as smoothly as ten.
A refresh swaps in the new rules and compares counters by stable row keys; the cursor and scroll position
stay on the same rule, counters that moved are lit for a moment, and a rule named by a verdict (the
"culprit") is marked until another verdict replaces it. The culprit's row always shows "◀ dropped here": its
text is shortened in the middle to the width in view (its start and its target stay), in colours that read in
both themes (`$foreground` on `$error-muted`; with the cursor on it, white on `$error-darken-1`).
"""

from __future__ import annotations

import time
from collections.abc import Hashable, Iterable
from dataclasses import dataclass
from typing import ClassVar, Literal

from rich.cells import cell_len
from rich.segment import Segment
from rich.style import Style
from textual import events
from textual.binding import Binding, BindingType
from textual.geometry import Size
from textual.message import Message
from textual.reactive import reactive
from textual.scroll_view import ScrollView
from textual.strip import Strip

from dockwire.model import Chain, Firewall, Rule, RuleRef, Table
from dockwire.text import safe
from dockwire.widgets.formatting import (
    ACCEPTING_TARGETS,
    DROPPING_TARGETS,
    OWNER_CELLS,
    human_count,
    owner_name,
    rule_body,
    shorten_middle,
)
from dockwire.widgets.line_views import SteadyView
from dockwire.widgets.quick_focus import FocusRedraw

RowKey = tuple[str, ...]
RowKind = Literal["table", "chain", "rule"]

#: How long a moved counter stays lit, in seconds.
MOVED_GLOW = 2.5
#: Drawn lines kept (a few screens' worth at every scroll offset in use); past it they are drawn anew.
MAX_KEPT_LINES = 4000
#: Width of the fixed columns in front of a rule's text: gutter, indent, position, owner (as wide as the
#: longest owner's name: "firewalld", "dockwire"), packets, bytes, and the gap before the text.
RULE_PREFIX = 1 + 4 + 4 + 1 + OWNER_CELLS + 1 + 5 + 1 + 5 + 2
#: What follows the culprit's text, always in view.
DROPPED_HERE = "  ◀ dropped here"
POLICY_DROPPED = "  ◀ the policy dropped it"
PARTLY_UNKNOWN = "  (partly not understood)"
#: The fewest cells of a culprit's text kept when the pane is too narrow for more.
CULPRIT_MIN_CELLS = 12
#: Owners with a colour of their own (`firewall--owner-*`); the rest are drawn as "other".
OWNER_STYLES = frozenset({"docker", "user", "ufw", "firewalld", "dockwire"})


@dataclass(slots=True)
class FirewallRow:
    kind: RowKind
    key: RowKey
    table: Table
    chain: Chain | None = None
    rule: Rule | None = None


def plural(count: int, noun: str) -> str:
    return f"{count} {noun}" if count == 1 else f"{count} {noun}s"


def table_key(table: Table) -> RowKey:
    return ("t", table.source, table.family, table.name)


def chain_key(table: Table, chain: Chain) -> RowKey:
    return ("c", table.source, table.family, table.name, chain.name)


def rule_keys(table: Table, chain: Chain) -> list[RowKey]:
    """Stable keys for a chain's rules: the nftables handle, else the text and its occurrence number,
    so a rule inserted above another does not change the other's key."""
    seen: dict[str, int] = {}
    keys: list[RowKey] = []
    base = ("r", table.source, table.family, table.name, chain.name)
    for rule in chain.rules:
        if rule.handle is not None:
            keys.append((*base, f"#{rule.handle}"))
            continue
        nth = seen.get(rule.text, 0)
        seen[rule.text] = nth + 1
        keys.append((*base, rule.text, str(nth)))
    return keys


def key_for_spot(firewall: Firewall, spot: RuleRef) -> RowKey | None:
    """The row key of the rule a verdict or a probe names, found by identity: family, table and chain
    (an empty source matches any backend), then the nft handle or the rule's text, never by a position
    taken from another read of the ruleset; among identical texts the nearest position wins. A chain's
    policy is its chain row."""
    for table in firewall.tables:
        if (table.family, table.name) != (spot.family, spot.table) or spot.source not in ("", table.source):
            continue
        for chain in table.chains:
            if chain.name != spot.chain:
                continue
            if spot.is_policy or (spot.position is None and not spot.text and spot.handle is None):
                return chain_key(table, chain)
            keyed = list(zip(chain.rules, rule_keys(table, chain), strict=True))
            if spot.handle is not None:
                found = [key for rule, key in keyed if rule.handle == spot.handle]
            elif spot.text:
                same = [(rule, key) for rule, key in keyed if rule.text == spot.text]
                same.sort(key=lambda pair: abs(pair[0].position - (spot.position or pair[0].position)))
                found = [key for _, key in same]
            else:
                found = [key for rule, key in keyed if rule.position == spot.position]
            if found:
                return found[0]
    return None


#: Tables in the order people look at them: filtering first, then address rewriting, then the rest.
TABLE_ORDER = {"filter": 0, "nat": 1, "raw": 2, "mangle": 3, "security": 4}
FAMILY_ORDER = {"ip": 0, "inet": 1, "ip6": 2}


def table_rank(table: Table) -> tuple[int, int, str]:
    return (FAMILY_ORDER.get(table.family, 3), TABLE_ORDER.get(table.name, 5), table.name)


def flatten(firewall: Firewall) -> list[FirewallRow]:
    rows: list[FirewallRow] = []
    for table in sorted(firewall.tables, key=table_rank):
        rows.append(FirewallRow("table", table_key(table), table))
        for chain in table.chains:
            rows.append(FirewallRow("chain", chain_key(table, chain), table, chain))
            rows.extend(
                FirewallRow("rule", key, table, chain, rule)
                for rule, key in zip(chain.rules, rule_keys(table, chain), strict=True)
            )
    return rows


def row_matches(row: FirewallRow, needle: str) -> bool:
    if row.rule is not None:
        rule = row.rule
        return (
            needle in rule.text.lower()
            or needle in rule.comment.lower()
            or needle in rule.owner.lower()
            or needle in rule.chain.lower()
        )
    return False


class FirewallView(FocusRedraw, SteadyView, ScrollView, can_focus=True):
    """Every firewall table, chain and rule, with counters that update in place."""

    BINDINGS: ClassVar[list[BindingType]] = [
        Binding("up,k", "cursor_up", "Up", show=False),
        Binding("down,j", "cursor_down", "Down", show=False),
        Binding("pageup", "page_up", "Page up", show=False),
        Binding("pagedown", "page_down", "Page down", show=False),
        Binding("home,g", "first", "First", show=False),
        Binding("end,G", "last", "Last", show=False),
        Binding("enter", "toggle_fold", "Fold", tooltip="Fold or unfold the table or chain under the cursor"),
        Binding("h", "scroll_left", "Left", show=False),
        Binding("l", "scroll_right", "Right", show=False),
        Binding("n", "next_moved", "Next hit", tooltip="Jump to the next rule whose counters moved"),
        Binding("c", "jump_culprit", "Culprit", tooltip="Jump to the rule the last verdict blamed"),
    ]

    COMPONENT_CLASSES: ClassVar[set[str]] = {
        "firewall--header",
        "firewall--table",
        "firewall--chain",
        "firewall--cursor",
        "firewall--cursor-blurred",
        "firewall--moved",
        "firewall--culprit",
        "firewall--culprit-cursor",
        "firewall--drop",
        "firewall--accept",
        "firewall--jump",
        "firewall--dim",
        "firewall--owner-docker",
        "firewall--owner-user",
        "firewall--owner-ufw",
        "firewall--owner-firewalld",
        "firewall--owner-dockwire",
        "firewall--owner-other",
    }

    DEFAULT_CSS = """
    FirewallView {
        background: $surface;
        & > .firewall--header { color: $text-muted; text-style: bold; }
        & > .firewall--table { color: $text-warning; text-style: bold; }
        & > .firewall--chain { color: $text-accent; text-style: bold; }
        & > .firewall--cursor { background: $block-cursor-background 60%; }
        & > .firewall--cursor-blurred { background: $block-cursor-blurred-background; }
        & > .firewall--moved { color: $warning; text-style: bold reverse; }
        & > .firewall--culprit { color: $foreground; background: $error-muted; }
        & > .firewall--culprit-cursor { color: auto 100%; background: $error-darken-1; }
        & > .firewall--drop { color: $text-error; text-style: bold; }
        & > .firewall--accept { color: $text-success; }
        & > .firewall--jump { color: $text-primary; }
        & > .firewall--dim { color: $text-muted; }
        & > .firewall--owner-docker { color: $text-primary; }
        & > .firewall--owner-user { color: $text-warning; text-style: bold; }
        & > .firewall--owner-ufw { color: $text-accent; }
        & > .firewall--owner-firewalld { color: $text-accent; }
        & > .firewall--owner-dockwire { color: $text-success; text-style: bold; }
        & > .firewall--owner-other { color: $text-muted; }
    }
    """

    cursor_row: reactive[int] = reactive(0, repaint=False, init=False)
    filter_text: reactive[str] = reactive("", init=False)

    class RuleHighlighted(Message):
        """The cursor is on a row; `rule` is None on a table or chain row."""

        def __init__(self, row: FirewallRow) -> None:
            self.row = row
            super().__init__()

    def __init__(self, *, name: str | None = None, id: str | None = None, classes: str | None = None) -> None:
        super().__init__(name=name, id=id, classes=classes)
        self.firewall = Firewall()
        self._all_rows: list[FirewallRow] = []
        self._rows: list[FirewallRow] = []
        self._index: dict[RowKey, int] = {}
        self._collapsed: set[RowKey] = set()
        self._counters: dict[RowKey, int] = {}
        self._moved_at: dict[RowKey, float] = {}
        self._culprit: RowKey | None = None
        self._max_width = 0
        #: Each rule's drawn width, by (chain, text): measured once, not on every read of the firewall.
        self._widths: dict[tuple[str, str], int] = {}
        #: Why there are no rules to show (the firewall could not be read), or "".
        self.empty_reason = ""
        self._rule_count = 0
        self._shown_rule_count = 0
        #: Drawn row lines by what they depend on (`_line_key`): a redraw of the pane (a scroll back, a focus
        #: change, the border's restyle) takes them from here. Emptied when the rows, the culprit or the
        #: styles change.
        self._lines: dict[Hashable, Strip] = {}

    # --- data ---------------------------------------------------------------------------------------

    @property
    def rows(self) -> list[FirewallRow]:
        """The rows as shown (folded chains and the filter applied)."""
        return self._rows

    @property
    def rule_count(self) -> int:
        return self._rule_count

    @property
    def culprit_row(self) -> FirewallRow | None:
        if self._culprit is None:
            return None
        index = self._index.get(self._culprit)
        return self._rows[index] if index is not None else None

    @property
    def highlighted(self) -> FirewallRow | None:
        return self._rows[self.cursor_row] if 0 <= self.cursor_row < len(self._rows) else None

    def show(self, firewall: Firewall) -> set[RowKey]:
        """Show a new firewall; returns the keys of rules whose counters moved since the last one."""
        first = not self._all_rows
        cursor_key = self.highlighted.key if self.highlighted else None
        offset = self.cursor_row - round(self.scroll_y)
        self.firewall = firewall
        self._all_rows = flatten(firewall)
        self._rule_count = sum(1 for row in self._all_rows if row.kind == "rule")
        if len(self._widths) > 2 * self._rule_count + 1000:  # rules long gone: start again
            self._widths.clear()
        if first:
            # IPv6 tables start folded: they rarely matter and would push the IPv4 rules apart.
            self._collapsed |= {
                row.key for row in self._all_rows if row.kind == "table" and row.table.family == "ip6"
            }
        now = time.monotonic()
        counters: dict[RowKey, int] = {}
        moved: set[RowKey] = set()
        for row in self._all_rows:
            item = row.rule or row.chain
            if item is None:
                continue
            counters[row.key] = item.packets
            previous = self._counters.get(row.key)
            if previous is not None and previous != item.packets:
                moved.add(row.key)
                self._moved_at[row.key] = now
        self._counters = counters
        self._moved_at = {k: t for k, t in self._moved_at.items() if k in counters and now - t < MOVED_GLOW}
        if moved and not first:
            self.set_timer(MOVED_GLOW + 0.05, self.refresh)
        self._relayout(cursor_key, offset)
        return moved

    def show_other(self, firewall: Firewall) -> None:
        """Show another host's firewall: nothing of the last one (counters, folds, culprit) carries over."""
        self._all_rows, self._counters, self._moved_at = [], {}, {}
        self._collapsed, self._culprit = set(), None
        self.show(firewall)
        self.move_to(0)

    def _relayout(self, cursor_key: RowKey | None = None, offset: int | None = None) -> None:
        """Recompute the visible rows, keeping the cursor on the same row (and at the same screen line)."""
        if cursor_key is None and self.highlighted is not None:
            cursor_key = self.highlighted.key
        if offset is None:
            offset = self.cursor_row - round(self.scroll_y)
        needle = self.filter_text.lower().strip()
        rows: list[FirewallRow] = []
        if needle:
            wanted_chains: set[RowKey] = set()
            wanted_tables: set[RowKey] = set()
            hits = [row for row in self._all_rows if row_matches(row, needle)]
            for row in hits:
                assert row.chain is not None
                wanted_chains.add(chain_key(row.table, row.chain))
                wanted_tables.add(table_key(row.table))
            keep = {row.key for row in hits} | wanted_chains | wanted_tables
            rows = [row for row in self._all_rows if row.key in keep]
        else:
            hidden_tables: set[RowKey] = set()
            hidden_chains: set[RowKey] = set()
            for row in self._all_rows:
                if row.kind == "table":
                    rows.append(row)
                    if row.key in self._collapsed:
                        hidden_tables.add(row.key)
                    continue
                if table_key(row.table) in hidden_tables:
                    continue
                if row.kind == "chain":
                    rows.append(row)
                    if row.key in self._collapsed:
                        hidden_chains.add(row.key)
                    continue
                assert row.chain is not None
                if chain_key(row.table, row.chain) not in hidden_chains:
                    rows.append(row)
        self._rows = rows
        self._lines.clear()
        self._shown_rule_count = sum(1 for row in rows if row.kind == "rule")
        self._index = {row.key: i for i, row in enumerate(rows)}
        self._max_width = max((self._row_width(row) for row in rows), default=0)
        self.virtual_size = Size(self._max_width, len(rows) + 1)
        new_cursor = self._index.get(cursor_key, self.cursor_row) if cursor_key else self.cursor_row
        new_cursor = max(0, min(new_cursor, len(rows) - 1))
        if new_cursor != self.cursor_row:
            self.set_reactive(FirewallView.cursor_row, new_cursor)
        if offset is not None and 0 <= offset < max(1, self.size.height - 1):
            self.scroll_to(y=max(0, new_cursor - offset), animate=False, immediate=True)
        self.refresh()

    def _row_width(self, row: FirewallRow) -> int:
        rule = row.rule
        if rule is None:
            return 80
        key = (rule.chain, rule.text)
        width = self._widths.get(key)
        if width is None:
            width = RULE_PREFIX + cell_len(safe(rule_body(rule))) + len(PARTLY_UNKNOWN) + len(DROPPED_HERE)
            self._widths[key] = width
        return width

    # --- verdicts -------------------------------------------------------------------------------------

    def mark_culprit(self, spot: RuleRef | None) -> bool:
        """Mark the rule a verdict blamed (None clears it) and bring it into view; False if it is not here."""
        self._culprit = key_for_spot(self.firewall, spot) if spot is not None else None
        self._lines.clear()
        if self._culprit is None:
            self.refresh()
            return spot is None
        if self.filter_text and self._culprit not in self._index:
            self.filter_text = ""
        table_k, chain_k = ("t", *self._culprit[1:4]), ("c", *self._culprit[1:5])
        if table_k in self._collapsed or (chain_k in self._collapsed and self._culprit != chain_k):
            self._collapsed -= {table_k, chain_k}
            self._relayout()
        self.action_jump_culprit()
        return True

    def action_jump_culprit(self) -> None:
        if self._culprit is not None and self._culprit in self._index:
            self.move_to(self._index[self._culprit], center=True)

    def action_next_moved(self) -> None:
        """Move to the next rule (after the cursor, wrapping) whose counters moved recently."""
        now = time.monotonic()
        lit = [i for i, row in enumerate(self._rows) if now - self._moved_at.get(row.key, -1e9) < MOVED_GLOW]
        if not lit:
            self.app.bell()
            return
        after = [i for i in lit if i > self.cursor_row]
        self.move_to((after or lit)[0], center=True)

    # --- cursor ---------------------------------------------------------------------------------------

    def move_to(self, index: int, center: bool = False) -> None:
        if not self._rows:
            return
        index = max(0, min(index, len(self._rows) - 1))
        self.cursor_row = index
        self._scroll_cursor_into_view(center)

    def _scroll_cursor_into_view(self, center: bool = False) -> None:
        visible = max(1, self.size.height - 1)
        top = round(self.scroll_y)
        if center:
            self.scroll_to(y=max(0, self.cursor_row - visible // 2), animate=False)
        elif self.cursor_row < top:
            self.scroll_to(y=self.cursor_row, animate=False)
        elif self.cursor_row >= top + visible:
            self.scroll_to(y=self.cursor_row - visible + 1, animate=False)

    def watch_cursor_row(self, old: int, new: int) -> None:
        # Only the two rows the cursor left and reached change (a scroll that follows redraws the rest).
        # A row's line in the pane's virtual space is its index + 1: the header is the first line.
        self.refresh_line(old + 1)
        self.refresh_line(new + 1)
        row = self.highlighted
        if row is not None:
            self.post_message(self.RuleHighlighted(row))

    def watch_filter_text(self) -> None:
        self._relayout()

    def action_cursor_up(self) -> None:
        self.move_to(self.cursor_row - 1)

    def action_cursor_down(self) -> None:
        self.move_to(self.cursor_row + 1)

    def action_page_up(self) -> None:
        self.move_to(self.cursor_row - max(1, self.size.height - 2))

    def action_page_down(self) -> None:
        self.move_to(self.cursor_row + max(1, self.size.height - 2))

    def action_first(self) -> None:
        self.move_to(0)

    def action_last(self) -> None:
        self.move_to(len(self._rows) - 1)

    def _fold_key(self) -> RowKey | None:
        row = self.highlighted
        if row is None:
            return None
        if row.kind == "rule":
            assert row.chain is not None
            return chain_key(row.table, row.chain)
        return row.key

    def action_toggle_fold(self) -> None:
        key = self._fold_key()
        if key is not None:
            self._collapsed ^= {key}
            self._relayout(cursor_key=key)
            self._scroll_cursor_into_view()

    def on_click(self, event: events.Click) -> None:
        offset = event.get_content_offset(self)
        if offset is None or offset.y == 0:
            return
        index = round(self.scroll_y) + offset.y - 1
        if 0 <= index < len(self._rows):
            if index == self.cursor_row and event.chain == 2:
                self.action_toggle_fold()
            self.move_to(index)

    # --- rendering ------------------------------------------------------------------------------------

    def watch_has_focus(self, has_focus: bool) -> None:
        """No rule of this pane's CSS depends on its focus (the cursor's colour is picked as a line is drawn:
        `_style`, and only the cursor's line keeps the focus in its key), so a focus change only redraws the
        cursor's line (`redraw_focus`; the box's border is `MainScreen.watch_focused`'s) instead of restyling
        the pane, its 18 component styles and its scrollbars (Textual's watcher: 3 ms per pane switch)."""

    def redraw_focus(self) -> None:
        """The focus shows in the cursor's line alone (`render_line`)."""
        self.refresh_line(self.cursor_row + 1)

    def notify_style_update(self) -> None:
        super().notify_style_update()
        self._lines.clear()

    def redraw(self) -> None:
        """Draw every line again from the rows (not from the drawn lines kept)."""
        self._lines.clear()
        self.refresh()

    def render_line(self, y: int) -> Strip:
        scroll_x, scroll_y = self.scroll_offset
        width = self.size.width
        base = self.line_style
        if y == 0:
            segments = self._header_segments()
            return Strip(Segment.apply_style(segments, base)).crop_extend(scroll_x, scroll_x + width, base)
        index = scroll_y + y - 1
        if index >= len(self._rows):
            return Strip.blank(width, base)
        # The culprit's row fits what is in view (up to the right edge), so its marker is never off it.
        row = self._rows[index]
        fit = scroll_x + self.scrollable_content_region.width if row.key == self._culprit else None
        is_cursor = index == self.cursor_row
        key = (index, is_cursor, self._lit(row.key), fit, scroll_x, width, base, is_cursor and self.has_focus)
        strip = self._lines.get(key)
        if strip is None:
            if len(self._lines) > MAX_KEPT_LINES:
                self._lines.clear()
            strip = self._lines[key] = self._row_line(row, is_cursor, fit, base)
        return strip

    def _row_line(self, row: FirewallRow, is_cursor: bool, fit: int | None, base: Style) -> Strip:
        scroll_x, width = self.scroll_offset.x, self.size.width
        segments = self._row_segments(row, is_cursor, fit=fit)
        strip = Strip(Segment.apply_style(segments, base)).crop_extend(scroll_x, scroll_x + width, base)
        if is_cursor:
            overlay = self._style("culprit-cursor" if row.key == self._culprit else "cursor")
            strip = Strip(Segment.apply_style(strip, post_style=overlay), strip.cell_length)
        return strip

    def _header_segments(self) -> list[Segment]:
        style = self.get_component_rich_style("firewall--header")
        total, shown = self._rule_count, self._shown_rule_count
        if not total and self.empty_reason:
            return [Segment(f" firewall not read: {safe(self.empty_reason)}", self._style("drop"))]
        needle = safe(self.filter_text)
        count = f"{shown} of {total} rules match /{needle}" if needle else f"{total} rules"
        text = f"{' ' * 5}{'#':>4} {'owner':<{OWNER_CELLS}} {'pkts':>5} {'bytes':>5}  rule · {count}"
        return [Segment(text, style)]

    def _style(self, name: str) -> Style:
        """A component style ("auto" colours resolved on the pane's background). The cursor's overlay only
        carries its background; the culprit's two are their own colour on their own background."""
        if name == "cursor":
            # Blended on the pane's background: a partial style drops the alpha, which made the cursor of a
            # pane without the focus as bright as the focused one's.
            cursor = "firewall--cursor" if self.has_focus else "firewall--cursor-blurred"
            return Style(bgcolor=self.get_component_rich_style(cursor).bgcolor)
        full = self.get_component_rich_style(f"firewall--{name}")
        if name in ("culprit", "culprit-cursor"):
            return Style(color=full.color, bgcolor=full.bgcolor, bold=full.bold)
        return full

    def _row_segments(self, row: FirewallRow, is_cursor: bool, fit: int | None = None) -> list[Segment]:
        """The segments of one row; a culprit's row fits `fit` cells (when given) with its marker at the
        end, its text shortened in the middle."""
        folded = row.key in self._collapsed
        arrow = "▸" if folded else "▾"
        dim = self._style("dim")
        if row.kind == "table":
            table = row.table
            rules = sum(len(c.rules) for c in table.chains)
            return [
                Segment(f" {arrow} {safe(table.family)} {safe(table.name)}", self._style("table")),
                Segment(
                    f"  {safe(table.source)} · {plural(len(table.chains), 'chain')}, {plural(rules, 'rule')}",
                    dim,
                ),
            ]
        if row.kind == "chain":
            chain = row.chain
            assert chain is not None
            culprit = row.key == self._culprit
            if culprit:
                # One readable style for the whole row; the bar, the chain, the policy and the marker bold.
                base, strong = self._culprit_styles()
                chain_style = drop_style = accept_style = strong
                dim = counter_style = base
            else:
                chain_style, drop_style = self._style("chain"), self._style("drop")
                accept_style, counter_style = self._style("accept"), self._counter_style(row.key, dim)
            segs = [
                Segment("▌" if culprit else " ", drop_style),
                Segment(f"  {arrow} {safe(chain.name)}", chain_style),
            ]
            if chain.policy:
                policy_style = drop_style if chain.policy in DROPPING_TARGETS else accept_style
                segs += [Segment("  policy ", dim), Segment(safe(chain.policy), policy_style)]
                segs.append(Segment(f" [{human_count(chain.packets)} pkts]", counter_style))
            detail = f"  · {plural(len(chain.rules), 'rule')}"
            if chain.hook:
                detail += f" · hook {safe(chain.hook)} prio {chain.priority}"
            segs.append(Segment(detail, dim))
            if culprit:
                segs.append(Segment(POLICY_DROPPED, drop_style))
            return segs
        rule = row.rule
        assert rule is not None
        body = safe(rule_body(rule))
        owner = rule.owner if rule.owner in OWNER_STYLES else "other"
        if row.key == self._culprit:
            return self._culprit_segments(row.key, rule, body, fit)
        counter_style = self._counter_style(row.key, Style())
        segs = [
            Segment(" "),
            Segment(f"    {rule.position:>4} ", dim),
            Segment(f"{owner_name(rule.owner):<{OWNER_CELLS}} ", self._style(f"owner-{owner}")),
            Segment(f"{human_count(rule.packets):>5} ", counter_style),
            Segment(f"{human_count(rule.bytes):>5}", counter_style),
            Segment("  "),
        ]
        segs.extend(self._body_segments(rule, body))
        if rule.unknown:
            segs.append(Segment(PARTLY_UNKNOWN, dim))
        return segs

    def _culprit_styles(self) -> tuple[Style, Style]:
        """The culprit row's one style (every cell the same readable colours), and its bold form for the
        ✘, the target and the marker."""
        base = self._style("culprit")
        return base, base + Style(bold=True)

    def _culprit_segments(self, key: RowKey, rule: Rule, body: str, fit: int | None) -> list[Segment]:
        base, strong = self._culprit_styles()
        tail = (PARTLY_UNKNOWN if rule.unknown else "") + DROPPED_HERE
        target = f"-j {safe(rule.target.name)}" if rule.target is not None else ""
        if fit is not None:
            body = shorten_middle(body, max(fit - RULE_PREFIX - len(tail), CULPRIT_MIN_CELLS), target)
        counter_style = self._counter_style(key, base)
        if counter_style is not base:
            counter_style = base + counter_style
        segs = [
            Segment("✘", strong),
            Segment(f"    {rule.position:>4} ", base),
            Segment(f"{owner_name(rule.owner):<{OWNER_CELLS}} ", base),
            Segment(f"{human_count(rule.packets):>5} ", counter_style),
            Segment(f"{human_count(rule.bytes):>5}", counter_style),
            Segment("  ", base),
        ]
        at = body.rfind(target) if target else -1
        if at >= 0:
            segs += [
                Segment(body[:at], base),
                Segment(target, strong),
                Segment(body[at + len(target) :], base),
            ]
        else:
            segs.append(Segment(body, base))
        if rule.unknown:
            segs.append(Segment(PARTLY_UNKNOWN, base))
        segs.append(Segment(DROPPED_HERE, strong))
        return segs

    def _lit(self, key: RowKey) -> bool:
        """Whether the row's counters moved a moment ago (they are drawn lit)."""
        moved_at = self._moved_at.get(key)
        return moved_at is not None and time.monotonic() - moved_at < MOVED_GLOW

    def _counter_style(self, key: RowKey, default: Style) -> Style:
        return self._style("moved") if self._lit(key) else default

    def _body_segments(self, rule: Rule, body: str) -> Iterable[Segment]:
        """The rule text (escaped) with its target coloured by what it does."""
        name = safe(rule.target.name) if rule.target is not None else ""
        marker = f"-j {name}" if name else ""
        at = body.rfind(marker) if marker else -1
        if at < 0:
            yield Segment(body)
            return
        if name in DROPPING_TARGETS:
            style = self._style("drop")
        elif name in ACCEPTING_TARGETS:
            style = self._style("accept")
        else:
            style = self._style("jump")
        yield Segment(body[:at])
        yield Segment(marker, style)
        yield Segment(body[at + len(marker) :])
