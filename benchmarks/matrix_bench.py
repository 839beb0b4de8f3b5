"""Benchmark `dockwire matrix` (a measurement, not a test): `python -m benchmarks.matrix_bench`.

The target (the matrix performance issue): every pair of 200 containers, ICMP plus each published or
exposed port, on a host with 10,000 extra rules, in at most 10 s. The host is `benchmarks.synthetic_host`:
N containers over --networks bridges, every 4th publishing tcp/80, every 8th also udp/53, every 12th tcp/443
on 127.0.0.1, all exposing tcp/80, with Docker 28.x's rules plus K DOCKER-USER rules (--mix: "mixed" is a
busy host's assortment, "blocklist" the address blocklist of benchmarks/verdict_bench.py).

The time is for a fresh model, so it includes compiling the rules once. Prints the verdicts per second, the
peak RSS, and OK or MISS against the target (exit status 1 on a MISS). --profile shows where the time went.
`run()` returns the figures for `benchmarks.report`.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import statistics
import sys
import time

from benchmarks.result import Log, Result, spread
from benchmarks.synthetic_host import RULE_MIXES, rule_count, synthetic_host
from dockwire.verdict.context import context_for
from dockwire.verdict.matrix import build_matrix

TARGET_SECONDS = 10.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


def measure(
    containers: int = 200,
    rules: int = 10_000,
    *,
    networks: int = 10,
    mix: str = "mixed",
    target: float = TARGET_SECONDS,
    profile: bool = False,
    log: Log = print,
) -> tuple[float, float, float]:
    """One matrix on a fresh model: (total seconds, compile seconds, peak RSS MB); prints as it goes."""
    start = time.perf_counter()
    model = synthetic_host(containers, networks=networks, user_rules=rules, rule_mix=mix, extra_ports=True)
    built = time.perf_counter() - start
    rss_model = _rss_mb()
    log(
        f"host: {containers} containers on {networks} networks, {rule_count(model)} rules "
        f"({rules} extra, {mix}); built in {built:.2f} s, RSS {rss_model:.0f} MB"
    )

    profiler = cProfile.Profile() if profile else None
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    context_for(model)
    compiled = time.perf_counter() - start
    result = build_matrix(model)
    total = time.perf_counter() - start
    if profiler is not None:
        profiler.disable()

    checks = sum(len(c.checks) for c in result.cells)
    verdicts: dict[str, int] = {}
    for cell in result.cells:
        for check in cell.checks:
            verdicts[check.verdict] = verdicts.get(check.verdict, 0) + 1
    shown = ", ".join(f"{n} {v}" for v, n in sorted(verdicts.items()))
    log(f"matrix: {len(result.cells)} pairs, {checks} verdicts ({shown})")
    log(
        f"time: {total:.2f} s (compiling the rules {compiled:.2f} s, the pairs {total - compiled:.2f} s); "
        f"{checks / total:,.0f} verdicts/s ({total / checks * 1e6:.1f} us per verdict)"
    )
    log(f"peak RSS: {_rss_mb():.0f} MB ({rss_model:.0f} MB before the matrix)")
    log(f"target <= {target:g} s: {'OK' if total <= target else 'MISS'} ({total:.2f} s)")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return total, compiled, _rss_mb()


def run(containers: int = 200, rules: int = 10_000, runs: int = 3, log: Log = print) -> list[Result]:
    """The matrix `runs` times (a fresh model each): the median time and the peak RSS."""
    figures = [measure(containers, rules, log=log) for _ in range(runs)]
    times = [f[0] for f in figures]
    command = f"python -m benchmarks.matrix_bench --containers {containers} --rules {rules}"
    return [
        Result(
            what=f"matrix {containers}x{containers} (ICMP + published ports), {rules:,} extra rules",
            command=command,
            value=statistics.median(times),
            unit="s",
            target=TARGET_SECONDS,
            note=f"{spread(times)}; peak RSS {max(f[2] for f in figures):.0f} MB",
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.matrix_bench", description=(__doc__ or "").split("\n")[0]
    )
    parser.add_argument("--containers", type=int, default=200, help="containers (default 200)")
    parser.add_argument("--rules", type=int, default=10_000, help="extra DOCKER-USER rules (default 10,000)")
    parser.add_argument("--networks", type=int, default=10, help="bridge networks (default 10)")
    parser.add_argument("--mix", choices=RULE_MIXES, default="mixed", help="shape of the extra rules")
    parser.add_argument("--target", type=float, default=TARGET_SECONDS, help="seconds allowed (default 10)")
    parser.add_argument("--profile", action="store_true", help="run under cProfile and print the top 25")
    args = parser.parse_args(argv)
    total, _, _ = measure(
        args.containers,
        args.rules,
        networks=args.networks,
        mix=args.mix,
        target=args.target,
        profile=args.profile,
    )
    return 0 if total <= args.target else 1


if __name__ == "__main__":
    sys.exit(main())
