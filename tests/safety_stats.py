"""What the safety tests did in this session: faults injected, host states compared (and whether equal).

The live safety tests record here; tests/conftest.py prints one line of it at the end of the run, beside
the fuzz figures (tests/fuzz_stats.py).
"""

from __future__ import annotations

from collections import Counter

faults: Counter[str] = Counter()
compared: Counter[str] = Counter()
unequal: Counter[str] = Counter()


def fault(kind: str) -> None:
    faults[kind] += 1


def compare(kind: str, equal: bool) -> bool:
    """Record one before/after comparison; returns `equal` so a test can assert on it."""
    compared[kind] += 1
    if not equal:
        unequal[kind] += 1
    return equal


def summary() -> str:
    if not faults and not compared:
        return "no faults injected, no host states compared"
    injected = ", ".join(f"{k} {n}" for k, n in sorted(faults.items())) or "none"
    states = sum(compared.values())
    verdict = "all equal" if not unequal else f"{sum(unequal.values())} NOT equal"
    return f"faults injected: {sum(faults.values())} ({injected}); host states compared: {states}, {verdict}"
