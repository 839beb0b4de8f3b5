"""How each cost grows with the host (a measurement, not a test): `python -m benchmarks.growth`.

On synthetic hosts (`benchmarks.synthetic_host`, as `benchmarks.matrix_bench` builds them) of 100 to 2,000
containers with 10,000 extra rules, and of 200 containers with 10,000 to 100,000: the parse of
`iptables-save -c` text and of `nft -j` JSON of that many rules (`benchmarks.parse_bench`'s generators),
the model build, the snapshot's JSON dump and load, the compile and index of the rules (`build_context`),
one `why` (warm), a fixed sample of matrix pairs (ICMP and each port), and the traced Python heap of the
model and of its engine context. Each time is the median of --runs. Prints a table per axis and each cost's
fitted growth exponent (the least-squares slope of log cost against log size): at most NEAR_LINEAR is
near-linear, over it is a MISS (exit status 1). `run()` returns the figures for `benchmarks.report`.
"""

from __future__ import annotations

import argparse
import gc
import math
import statistics
import sys
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass

from benchmarks.parse_bench import clear_caches, iptables_save_text, nft_json_text
from benchmarks.result import Log, Result
from benchmarks.synthetic_host import rule_count, synthetic_host
from dockwire import snapshot
from dockwire.model import HostModel
from dockwire.probes import iptables_save, nft_ruleset
from dockwire.verdict.context import build_context, context_for, forget_context
from dockwire.verdict.endpoints import FlowEnd
from dockwire.verdict.matrix import ports_of
from dockwire.verdict.verdict import evaluate, evaluate_in

COMMAND = "python -m benchmarks.growth"
CONTAINERS = (100, 200, 500, 1000, 2000)
RULES = (10_000, 30_000, 100_000)
BASE_CONTAINERS, BASE_RULES = 200, 10_000
#: Sources and destinations of the matrix sample, spread over the host (SAMPLE² pairs less the diagonal).
SAMPLE = 15
NEAR_LINEAR = 1.2
COSTS = (
    "parse iptables-save",
    "parse nft -j",
    "model build",
    "snapshot dump",
    "snapshot load",
    "compile + index",
    "one why",
    "matrix sample",
    "model heap",
    "context heap",
)
UNITS = {"model heap": "MB", "context heap": "MB", "one why": "ms", "matrix sample": "ms"}


@dataclass(frozen=True, slots=True)
class Point:
    containers: int
    rules: int  # every rule of the host (Docker's and the extra ones)
    costs: dict[str, float]  # seconds, MB for the heaps


def _median_time(step: Callable[[], object], runs: int, before: Callable[[], None] | None = None) -> float:
    times = []
    for _ in range(runs):
        if before is not None:
            before()
        start = time.perf_counter()
        step()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def _sample_pairs(model: HostModel) -> list[tuple[FlowEnd, FlowEnd, list[tuple[str, int | None]]]]:
    running = [c for c in model.containers if c.state == "running"]
    picked = [running[i * len(running) // SAMPLE] for i in range(min(SAMPLE, len(running)))]
    ends = [FlowEnd("container", c.name, container=c) for c in picked]
    wanted: list[list[tuple[str, int | None]]] = [[("icmp", None), *ports_of(c)] for c in picked]
    return [(s, d, w) for s in ends for d, w in zip(ends, wanted, strict=True) if s is not d]


def _sample(model: HostModel) -> None:
    ctx = context_for(model)
    for src, dst, wanted in _sample_pairs(model):
        for proto, port in wanted:
            evaluate_in(ctx, src, dst, proto, port, detail=False)


def _heap(build: Callable[[], object]) -> tuple[object, float]:
    """What `build` returns and the traced heap it holds (MB)."""
    gc.collect()
    tracemalloc.start()
    try:
        built = build()
        gc.collect()
        return built, tracemalloc.get_traced_memory()[0] / 2**20
    finally:
        tracemalloc.stop()


def _host(containers: int, rules: int) -> HostModel:
    return synthetic_host(containers, networks=10, user_rules=rules, rule_mix="mixed", extra_ports=True)


def measure(containers: int, rules: int, runs: int) -> Point:
    costs: dict[str, float] = {}
    costs["model build"] = _median_time(lambda: _host(containers, rules), runs, clear_caches)
    model = _host(containers, rules)
    total = rule_count(model)
    save, nft = iptables_save_text(total), nft_json_text(total)
    costs["parse iptables-save"] = _median_time(
        lambda: iptables_save.parse_iptables_save(save, "iptables-nft"), runs, clear_caches
    )
    costs["parse nft -j"] = _median_time(lambda: nft_ruleset.parse_nft_json(nft), runs, clear_caches)
    data = snapshot.dumps(model)
    costs["snapshot dump"] = _median_time(lambda: snapshot.dumps(model), runs)
    costs["snapshot load"] = _median_time(lambda: snapshot.loads(data), runs)
    costs["compile + index"] = _median_time(lambda: build_context(model), runs)
    context_for(model)
    why = _median_time(lambda: evaluate(model, "bench-000", "bench-005", "tcp", 80), max(runs, 20))
    costs["one why"] = why
    costs["matrix sample"] = _median_time(lambda: _sample(model), runs)
    forget_context(model)
    clear_caches()  # the parsers' caches are part of what the model costs
    heap_model, costs["model heap"] = _heap(lambda: _host(containers, rules))
    assert isinstance(heap_model, HostModel)
    _, costs["context heap"] = _heap(lambda: build_context(heap_model))
    return Point(containers, total, costs)


def slope(xs: list[float], ys: list[float]) -> float:
    """The least-squares slope of log y against log x (the growth exponent)."""
    lx, ly = [math.log(x) for x in xs], [math.log(max(y, 1e-9)) for y in ys]
    mx, my = statistics.fmean(lx), statistics.fmean(ly)
    return sum((a - mx) * (b - my) for a, b in zip(lx, ly, strict=True)) / sum((a - mx) ** 2 for a in lx)


def shown(cost: str, value: float) -> str:
    unit = UNITS.get(cost, "s")
    if unit == "ms":
        return f"{value * 1000:.2f} ms"
    if unit == "MB":
        return f"{value:.1f} MB"
    return f"{value:.3f} s"


def exponents(points: list[Point], axis: str) -> dict[str, float]:
    xs = [float(getattr(p, axis)) for p in points]
    return {cost: slope(xs, [p.costs[cost] for p in points]) for cost in COSTS}


def grade(exponent: float) -> str:
    return "near-linear" if exponent <= NEAR_LINEAR else f"MISS (> {NEAR_LINEAR:g})"


def table(points: list[Point], axis: str, log: Log) -> dict[str, float]:
    slopes = exponents(points, axis)
    log(f"{'':<20}" + "".join(f"{f'{p.containers} c / {p.rules:,} r':>22}" for p in points) + "  exponent")
    for cost in COSTS:
        cells = "".join(f"{shown(cost, p.costs[cost]):>22}" for p in points)
        log(f"{cost:<20}{cells}  {slopes[cost]:5.2f} {grade(slopes[cost])}")
    return slopes


@dataclass(frozen=True, slots=True)
class Growth:
    by_containers: list[Point]
    by_rules: list[Point]
    slopes: dict[str, dict[str, float]]  # axis -> cost -> exponent


def grow(
    containers: tuple[int, ...] = CONTAINERS, rules: tuple[int, ...] = RULES, runs: int = 3, log: Log = print
) -> Growth:
    cache: dict[tuple[int, int], Point] = {}

    def point(c: int, r: int) -> Point:
        if (c, r) not in cache:
            started = time.perf_counter()
            cache[(c, r)] = measure(c, r, runs)
            log(f"  measured {c} containers, {r:,} extra rules in {time.perf_counter() - started:.0f} s")
        return cache[(c, r)]

    base_rules = BASE_RULES if BASE_RULES in rules else rules[0]
    base_containers = BASE_CONTAINERS if BASE_CONTAINERS in containers else containers[0]
    by_containers = [point(c, base_rules) for c in containers]
    by_rules = [point(base_containers, r) for r in rules]
    log(f"\ngrowth with containers ({base_rules:,} extra rules), median of {runs}:")
    slopes = {"containers": table(by_containers, "containers", log)}
    log(f"\ngrowth with rules ({base_containers} containers), median of {runs}:")
    slopes["rules"] = table(by_rules, "rules", log)
    return Growth(by_containers, by_rules, slopes)


def markdown(growth: Growth) -> list[str]:
    """The README's short growth table: each cost at both ends of each axis and its exponent."""
    c0, c1 = growth.by_containers[0], growth.by_containers[-1]
    r0, r1 = growth.by_rules[0], growth.by_rules[-1]
    lines = [
        f"| cost | {c0.containers:,} → {c1.containers:,} containers | exponent | "
        f"{r0.rules:,} → {r1.rules:,} rules | exponent |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cost in COSTS:
        ec, er = growth.slopes["containers"][cost], growth.slopes["rules"][cost]
        lines.append(
            f"| {cost} | {shown(cost, c0.costs[cost])} → {shown(cost, c1.costs[cost])} | {ec:.2f} "
            f"{'' if ec <= NEAR_LINEAR else '**MISS**'} | {shown(cost, r0.costs[cost])} → "
            f"{shown(cost, r1.costs[cost])} | {er:.2f} {'' if er <= NEAR_LINEAR else '**MISS**'} |"
        )
    return [line.replace("  |", " |") for line in lines]


def results(growth: Growth, command: str = COMMAND) -> list[Result]:
    """One figure per axis: the steepest exponent, against NEAR_LINEAR."""
    out = []
    for axis, points in (("containers", growth.by_containers), ("rules", growth.by_rules)):
        slopes = growth.slopes[axis]
        worst = max(slopes, key=lambda cost: slopes[cost])
        low, high = getattr(points[0], axis), getattr(points[-1], axis)
        out.append(
            Result(
                what=f"growth of every cost over {low:,} to {high:,} {axis}: the steepest log-log slope",
                command=command,
                value=round(slopes[worst], 2),
                unit="",
                target=NEAR_LINEAR,
                note=f"{worst}; see the growth table",
            )
        )
    return out


def run(
    containers: tuple[int, ...] = CONTAINERS, rules: tuple[int, ...] = RULES, runs: int = 3, log: Log = print
) -> tuple[list[Result], Growth]:
    growth = grow(containers, rules, runs, log)
    return results(growth), growth


def _sizes(text: str) -> tuple[int, ...]:
    return tuple(int(part.replace("_", "")) for part in text.split(","))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog=COMMAND, description=(__doc__ or "").split("\n")[0])
    parser.add_argument("--containers", type=_sizes, default=CONTAINERS, help="sizes, e.g. 100,200,500")
    parser.add_argument("--rules", type=_sizes, default=RULES, help="extra rules, e.g. 10000,30000")
    parser.add_argument("--runs", type=int, default=3, help="runs of each timing (default 3)")
    args = parser.parse_args(argv)
    found, _ = run(args.containers, args.rules, args.runs)
    return 0 if all(r.met for r in found) else 1


if __name__ == "__main__":
    sys.exit(main())
