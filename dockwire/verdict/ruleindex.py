"""Which rules of a chain a packet can match at all: an index on the fields rules name most.

Each rule is filed under its most selective guard (`dockwire.verdict.matches.Guard`): a source or destination
address or prefix, a destination port, an interface name or wildcard, a protocol. A rule whose guard does not
let a packet through has a test that answers False, so it cannot match and the walk may skip it: the walk over
the candidates meets exactly the rules the full walk would match, in the same order. Rules without a guard are
always candidates.

A chain of 10,000 `-s ADDR -j DROP` rules then costs a packet a few dictionary look-ups, not 10,000 tests; and
since the candidates depend only on which index entries a packet hits, packets of different container pairs
share one candidate list whenever they hit the same entries (most pairs hit none).
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import chain as chained

from dockwire.verdict.matches import IPV6_KEY, Guard
from dockwire.verdict.packet import Packet
from dockwire.verdict.where import Where

# A chain is indexed only when this many of its rules have a guard (shorter chains are walked as they are).
MIN_GUARDED = 8
# Candidate lists kept per chain (one per distinct combination of index entries hit); cleared when full.
MAX_CACHED = 4096
ALL32 = 0xFFFFFFFF
ALL128 = (1 << 128) - 1

Positions = tuple[int, ...]


class RuleIndex:
    """The rules of one chain by guard; `candidates(pkt, where)` lists the positions a packet may match."""

    __slots__ = (
        "_cache",
        "always",
        "dport",
        "dst",
        "dst_lengths",
        "dst_lengths6",
        "iif",
        "iif_lengths",
        "iif_prefixes",
        "oif",
        "oif_lengths",
        "oif_prefixes",
        "proto",
        "src",
        "src_lengths",
        "src_lengths6",
    )

    def __init__(self, guards: Sequence[Guard | None]) -> None:
        always: list[int] = []
        self.src: dict[object, list[int]] = {}
        self.dst: dict[object, list[int]] = {}
        self.iif: dict[object, list[int]] = {}
        self.oif: dict[object, list[int]] = {}
        self.iif_prefixes: dict[str, list[int]] = {}
        self.oif_prefixes: dict[str, list[int]] = {}
        self.proto: dict[object, list[int]] = {}
        self.dport: dict[object, list[int]] = {}
        prefix_tables = {"iif": self.iif_prefixes, "oif": self.oif_prefixes}
        tables = {
            "src": self.src,
            "dst": self.dst,
            "iif": self.iif,
            "oif": self.oif,
            "proto": self.proto,
            "dport": self.dport,
        }
        for position, guard in enumerate(guards):
            if guard is None:
                always.append(position)
                continue
            table = tables[guard.field]
            for key in guard.keys:
                table.setdefault(key, []).append(position)
            for prefix in guard.prefixes:
                prefix_tables[guard.field].setdefault(prefix, []).append(position)
        self.always: Positions = tuple(always)
        self.src_lengths = _lengths(self.src, 4)
        self.dst_lengths = _lengths(self.dst, 4)
        self.src_lengths6 = _lengths(self.src, 6)
        self.dst_lengths6 = _lengths(self.dst, 6)
        self.iif_lengths = tuple(sorted({len(p) for p in self.iif_prefixes}))
        self.oif_lengths = tuple(sorted({len(p) for p in self.oif_prefixes}))
        self._cache: dict[tuple[int, ...], Positions] = {}

    def candidates(self, pkt: Packet, where: Where) -> Positions:
        """Positions (ascending) of the rules `pkt` at `where` may match; the others have a False test."""
        hits: list[list[int]] = []
        v4 = pkt.src.version == 4
        src_lengths = self.src_lengths if v4 else self.src_lengths6
        if src_lengths:
            addr = int(pkt.src)
            for length, mask in src_lengths:
                found = self.src.get((length, addr & mask))
                if found:
                    hits.append(found)
        dst_lengths = self.dst_lengths if v4 else self.dst_lengths6
        if dst_lengths:
            addr = int(pkt.dst)
            for length, mask in dst_lengths:
                found = self.dst.get((length, addr & mask))
                if found:
                    hits.append(found)
        if self.iif:
            found = self.iif.get(where.iif)
            if found:
                hits.append(found)
        if self.oif:
            found = self.oif.get(where.oif)
            if found:
                hits.append(found)
        if self.proto:
            found = self.proto.get(pkt.proto)
            if found:
                hits.append(found)
        if self.dport:
            found = self.dport.get(pkt.dport)
            if found:
                hits.append(found)
        if self.iif_lengths:
            _prefixed(hits, self.iif_prefixes, self.iif_lengths, where.iif)
        if self.oif_lengths:
            _prefixed(hits, self.oif_prefixes, self.oif_lengths, where.oif)
        if not hits:
            return self.always
        key = tuple(id(h) for h in hits)
        cached = self._cache.get(key)
        if cached is None:
            cached = tuple(sorted(set(chained(self.always, *hits))))
            if len(self._cache) >= MAX_CACHED:
                self._cache.clear()
            self._cache[key] = cached
        return cached


def _prefixed(
    hits: list[list[int]], prefixes: dict[str, list[int]], lengths: tuple[int, ...], name: str
) -> None:
    """Add the rules whose wildcard patterns `name` matches (a wildcard matches only a non-empty name)."""
    if not name:
        return
    for length in lengths:
        if length <= len(name):
            found = prefixes.get(name[:length])
            if found:
                hits.append(found)


def _lengths(table: dict[object, list[int]], family: int) -> tuple[tuple[int, int], ...]:
    """(key length, netmask) of every prefix length the address keys of `family` use, longest first; IPv6
    keys carry their prefix length plus IPV6_KEY (see `dockwire.verdict.matches._address_guard`)."""
    keys = {key[0] for key in table}  # type: ignore[index]
    if family == 4:
        four = sorted((k for k in keys if k < IPV6_KEY), reverse=True)
        return tuple((n, (ALL32 << (32 - n)) & ALL32) for n in four)
    six = sorted((k - IPV6_KEY for k in keys if k >= IPV6_KEY), reverse=True)
    return tuple((n + IPV6_KEY, (ALL128 << (128 - n)) & ALL128) for n in six)


def build_index(guards: Sequence[Guard | None]) -> RuleIndex | None:
    """An index for a chain whose rules have these guards, or None when walking it whole is as cheap."""
    if sum(g is not None for g in guards) < MIN_GUARDED:
        return None
    return RuleIndex(guards)
