"""Benchmark `dockwire matrix` (a measurement, not a test): `python -m benchmarks.matrix_bench`.

The target (the matrix performance issue): every pair of 200 containers, ICMP plus each published or
exposed port, on a host with 10,000 extra rules, in at most 10 s. The host is `benchmarks.synthetic_host`:
N containers over --networks bridges, every 4th publishing tcp/80, every 8th also udp/53, every 12th tcp/443
on 127.0.0.1, all exposing tcp/80, with Docker 28.x's rules plus K DOCKER-USER rules (--mix: "mixed" is a
busy host's assortment, "blocklist" the address blocklist of benchmarks/verdict_bench.py).

The time is for a fresh model, so it includes compiling the rules once. Prints the verdicts per second, the
peak RSS, and OK or MISS against the target (exit status 1 on a MISS). --profile shows where the time went.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import resource
import sys
import time

from benchmarks.synthetic_host import RULE_MIXES, rule_count, synthetic_host
from dockwire.verdict.context import context_for
from dockwire.verdict.matrix import build_matrix

TARGET_SECONDS = 10.0


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: kilobytes


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

    start = time.perf_counter()
    model = synthetic_host(
        args.containers, networks=args.networks, user_rules=args.rules, rule_mix=args.mix, extra_ports=True
    )
    built = time.perf_counter() - start
    rss_model = _rss_mb()
    print(
        f"host: {args.containers} containers on {args.networks} networks, {rule_count(model)} rules "
        f"({args.rules} extra, {args.mix}); built in {built:.2f} s, RSS {rss_model:.0f} MB"
    )

    profiler = cProfile.Profile() if args.profile else None
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
    print(f"matrix: {len(result.cells)} pairs, {checks} verdicts ({shown})")
    print(
        f"time: {total:.2f} s (compiling the rules {compiled:.2f} s, the pairs {total - compiled:.2f} s); "
        f"{checks / total:,.0f} verdicts/s ({total / checks * 1e6:.1f} us per verdict)"
    )
    print(f"peak RSS: {_rss_mb():.0f} MB ({rss_model:.0f} MB before the matrix)")
    met = total <= args.target
    print(f"target <= {args.target:g} s: {'OK' if met else 'MISS'} ({total:.2f} s)")
    if profiler is not None:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(25)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
