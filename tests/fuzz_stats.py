"""How many inputs the fuzz tests fed to each parser in this test session.

The property tests call `count(kind)` once per generated input; `counts` holds the totals per kind (e.g.
"iptables-save", "nft-json", "snapshot") for whoever reports them at the end of the session
(`summary()` is one printable line).
"""

from __future__ import annotations

from collections import Counter

counts: Counter[str] = Counter()


def count(kind: str, n: int = 1) -> None:
    """Record that `n` more inputs of this kind were fuzzed."""
    counts[kind] += n


def total() -> int:
    return sum(counts.values())


def summary() -> str:
    """E.g. "fuzzed 2,750 inputs: iptables-save 900, nft-json 850, snapshot 1,000"."""
    if not counts:
        return "fuzzed no inputs"
    parts = ", ".join(f"{kind} {n:,}" for kind, n in sorted(counts.items()))
    return f"fuzzed {total():,} inputs: {parts}"
