"""Benchmark the verdict engine (a measurement, not a test): `python -m benchmarks.verdict_bench`.

1. One verdict on a host with 10,000 rules (100 containers, Docker 28.x rules + ~9,500 DOCKER-USER rules that
   every packet walks past, in both directions): cold (rules compiled on first use) and warm.
2. `dockwire matrix` on a 100-container host: every pair, ICMP plus each exposed port.

The matrix at the size of its target (200 containers, 10,000 extra rules) is `benchmarks/matrix_bench.py`.
`run()` returns the figures (`benchmarks.result.Result`) for `benchmarks.report`.
"""

from __future__ import annotations

import statistics
import time

from benchmarks.result import Log, Result, spread
from benchmarks.synthetic_host import rule_count, synthetic_host
from dockwire.verdict.context import build_context, context_for, forget_context
from dockwire.verdict.matrix import build_matrix
from dockwire.verdict.verdict import evaluate
from tests.verdict_models import with_counters_moved

COMMAND = "python -m benchmarks.verdict_bench"
FLOWS = {
    "same bridge tcp/80": ("bench-000", "bench-005", "tcp", 80),
    "cross bridge icmp": ("bench-000", "bench-001", "icmp", None),
    "outside -> published port": ("outside:198.51.100.2", "192.0.2.2:8000", "tcp", None),
}


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def one_verdict(target_rules: int = 10_000, runs: int = 30, log: Log = print) -> list[Result]:
    base = rule_count(synthetic_host(100))
    model = synthetic_host(100, user_rules=target_rules - base)
    total = rule_count(model)
    start = time.perf_counter()
    context_for(model)
    compile_time = time.perf_counter() - start
    compiles = [compile_time]
    for _ in range(2):
        forget_context(model)  # else the cached context's compiled rules are taken over
        start = time.perf_counter()
        build_context(model)
        compiles.append(time.perf_counter() - start)
    log(f"host: 100 containers, {total} rules; compiling them once: {_ms(compile_time)}")
    context_for(model)
    takeovers = []
    for packets in range(1, 4):
        polled = with_counters_moved(model, packets)
        start = time.perf_counter()
        context_for(polled)
        takeovers.append(time.perf_counter() - start)
        forget_context(polled)
    log(f"  the next poll's model (counters moved, the same rules): its context in {_ms(min(takeovers))}")
    medians = []
    for label, (src, dst, proto, port) in FLOWS.items():
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            v = evaluate(model, src, dst, proto, port)
            times.append(time.perf_counter() - start)
        medians.append(statistics.median(times))
        log(
            f"  {label:<28} {v.verdict:<8} median {_ms(statistics.median(times))}, max {_ms(max(times))} "
            f"({len(v.matched)} rules matched)"
        )
    return [
        Result(
            what=f"one `why` verdict, 100 containers, {total:,} rules (slowest of {len(FLOWS)} flows)",
            command=COMMAND,
            value=max(medians) * 1000,
            unit="ms",
            note=f"median of {runs}; fastest flow {min(medians) * 1000:.2f} ms",
        ),
        Result(
            what=f"compiling and indexing those {total:,} rules (once per model)",
            command=COMMAND,
            value=statistics.median(compiles),
            unit="s",
            note=spread(compiles),
        ),
        Result(
            what="a context for the next poll's model (counters moved, same rules: compiled rules reused)",
            command=COMMAND,
            value=statistics.median(takeovers) * 1000,
            unit="ms",
            note=spread(takeovers, 1000),
        ),
    ]


def matrix(containers: int = 100, runs: int = 3, log: Log = print) -> list[Result]:
    times = []
    for _ in range(runs):
        model = synthetic_host(containers)
        start = time.perf_counter()
        result = build_matrix(model)
        elapsed = time.perf_counter() - start
        times.append(elapsed)
        checks = sum(len(c.checks) for c in result.cells)
        log(
            f"matrix: {containers} containers, {len(result.cells)} pairs, {checks} verdicts, "
            f"{rule_count(model)} rules: {elapsed:.2f} s ({elapsed / checks * 1e6:.0f} us per verdict)"
        )
    return [
        Result(
            what=f"`dockwire matrix`, {containers} containers, {rule_count(model)} rules",
            command=COMMAND,
            value=statistics.median(times),
            unit="s",
            note=spread(times),
        )
    ]


def run(log: Log = print) -> list[Result]:
    return one_verdict(log=log) + matrix(log=log)


if __name__ == "__main__":
    run()
