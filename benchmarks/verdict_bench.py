"""Benchmark the verdict engine (a measurement, not a test): `python -m benchmarks.verdict_bench`.

1. One verdict on a host with 10,000 rules (100 containers, Docker 28.x rules + ~9,500 DOCKER-USER rules that
   every packet walks past, in both directions): cold (rules compiled on first use) and warm.
2. `dockwire matrix` on a 100-container host: every pair, ICMP plus each exposed port.

The matrix at the size of its target (200 containers, 10,000 extra rules) is `benchmarks/matrix_bench.py`.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.synthetic_host import rule_count, synthetic_host
from dockwire.verdict.context import context_for
from dockwire.verdict.matrix import build_matrix
from dockwire.verdict.verdict import evaluate


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def one_verdict(target_rules: int = 10_000, runs: int = 30) -> None:
    base = rule_count(synthetic_host(100))
    model = synthetic_host(100, user_rules=target_rules - base)
    total = rule_count(model)
    start = time.perf_counter()
    context_for(model)
    compile_time = time.perf_counter() - start
    flows = {
        "same bridge tcp/80": ("bench-000", "bench-005", "tcp", 80),
        "cross bridge icmp": ("bench-000", "bench-001", "icmp", None),
        "outside -> published port": ("outside:198.51.100.2", "192.0.2.2:8000", "tcp", None),
    }
    print(f"host: 100 containers, {total} rules; compiling them once: {_ms(compile_time)}")
    for label, (src, dst, proto, port) in flows.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            v = evaluate(model, src, dst, proto, port)
            times.append(time.perf_counter() - start)
        print(
            f"  {label:<28} {v.verdict:<8} median {_ms(statistics.median(times))}, max {_ms(max(times))} "
            f"({len(v.matched)} rules matched)"
        )


def matrix(containers: int = 100) -> None:
    model = synthetic_host(containers)
    start = time.perf_counter()
    result = build_matrix(model)
    elapsed = time.perf_counter() - start
    checks = sum(len(c.checks) for c in result.cells)
    print(
        f"matrix: {containers} containers, {len(result.cells)} pairs, {checks} verdicts, "
        f"{rule_count(model)} rules: {elapsed:.2f} s ({elapsed / checks * 1e6:.0f} us per verdict)"
    )


if __name__ == "__main__":
    one_verdict()
    matrix()
