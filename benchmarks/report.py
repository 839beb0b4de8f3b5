"""Run the benchmarks and regenerate the README's performance table: `python -m benchmarks.report`.

    python -m benchmarks.report [--only NAME ...] [--offline] [--write-readme]

Names: parse, verdict, matrix, tui, growth (no Docker needed) and cold, live (the live host: grow the lab
first with `python -m dockwire.lab.scale up ...`, and run the report under `flock /tmp/dwlab.lock`).
`--offline` runs only the first kind; a live benchmark is also skipped, and says so, when the engine does
not answer. The table has one row per figure: its value, its floor and the ratio to it (where there is one),
its target, met or MISS, and the date it was measured. With `--write-readme` it replaces what is between
`<!-- perf-table:start -->` and `<!-- perf-table:end -->` in README.md (and the growth table between
`<!-- growth-table:start -->` and `<!-- growth-table:end -->` when growth ran); the rows of every benchmark
not run this time are kept as they were, with their dates, and so are a benchmark's rows that describe
something not measured this time (a run on a host of another size). Without it the tables are printed.

Each benchmark runs in a process of its own (`--child NAME`, which prints its figures as JSON), as its own
command would: no figure carries the memory or the warm caches another benchmark left behind.
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import re
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import msgspec

from benchmarks.result import Result

#: The multiplication sign of a ratio (written as an escape: it looks like an x).
TIMES = "\u00d7"
README = Path(__file__).resolve().parent.parent / "README.md"
PERF = ("<!-- perf-table:start -->", "<!-- perf-table:end -->")
GROWTH = ("<!-- growth-table:start -->", "<!-- growth-table:end -->")
HEADER = (
    "| what | command | value | floor (ratio) | target | met | measured |",
    "| --- | --- | --- | --- | --- | --- | --- |",
)


def _log(line: str) -> None:
    print(line, file=sys.stderr, flush=True)


@dataclass(frozen=True, slots=True)
class Bench:
    name: str
    module: str  # benchmarks.<module>: how a kept README row is told apart
    live: bool  # needs the local Docker engine and the scale lab
    run: Callable[[], list[Result]]


def _parse() -> list[Result]:
    from benchmarks import parse_bench

    return parse_bench.run(_log)


def _verdict() -> list[Result]:
    from benchmarks import verdict_bench

    return verdict_bench.run(_log)


def _matrix() -> list[Result]:
    from benchmarks import matrix_bench

    return matrix_bench.run(log=_log)


def _tui() -> list[Result]:
    from benchmarks import tui_bench

    return tui_bench.run([], _log)


_growth_lines: list[str] = []
#: `--growth-runs N`: runs of each growth timing (the full curve with 3 runs takes a while).
_growth_runs = [3]


def _growth() -> list[Result]:
    from benchmarks import growth

    found, measured = growth.run(runs=_growth_runs[0], log=_log)
    _growth_lines[:] = growth.markdown(measured)
    return found


def _cold() -> list[Result]:
    from benchmarks import cold_bench

    return cold_bench.run(log=_log)


def _live() -> list[Result]:
    from benchmarks import live_bench

    return live_bench.run(log=_log)


BENCHES = (
    Bench("parse", "parse_bench", False, _parse),
    Bench("verdict", "verdict_bench", False, _verdict),
    Bench("matrix", "matrix_bench", False, _matrix),
    Bench("tui", "tui_bench", False, _tui),
    Bench("growth", "growth", False, _growth),
    Bench("cold", "cold_bench", True, _cold),
    Bench("live", "live_bench", True, _live),
)


class ChildOutput(msgspec.Struct):
    """What `--child NAME` prints: the figures, and the growth table's lines when it was growth."""

    results: list[Result]
    growth_lines: list[str] = []


def run_in_own_process(bench: Bench) -> list[Result]:
    """`bench` run by a fresh interpreter (its progress lines go to this one's stderr)."""
    command = [sys.executable, "-m", "benchmarks.report", "--child", bench.name]
    command += ["--growth-runs", str(_growth_runs[0])]
    done = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    if done.returncode != 0:
        raise SystemExit(f"report: {bench.name} failed (exit status {done.returncode})")
    output = msgspec.json.decode(done.stdout, type=ChildOutput)
    if output.growth_lines:
        _growth_lines[:] = output.growth_lines
    return output.results


def engine_problem() -> str:
    """Why the live benchmarks cannot run here ("" when the engine answers)."""
    try:
        import docker

        docker.from_env(timeout=10).ping()
    except Exception as exc:  # the engine is absent, stopped or refuses: every way says the same
        return f"the Docker engine does not answer ({type(exc).__name__})"
    return ""


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def heading() -> str:
    return (
        f"Measured on {os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, "
        f"{platform.system()}; each row dated the day it was measured (a kept row keeps its date):"
    )


def number(value: float) -> str:
    if abs(value) >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if abs(value) >= 10 else f"{value:.2f}"


def with_unit(value: float, unit: str) -> str:
    if not unit:
        return number(value)
    return f"{number(value)} {unit}" if unit not in ("%", TIMES) else f"{number(value)}{unit}"


def row(result: Result, date: str) -> str:
    value = with_unit(result.value, result.unit) + (f" ({result.note})" if result.note else "")
    floor = ""
    if result.floor is not None and result.ratio is not None:
        floor = f"{with_unit(result.floor, result.unit)} ({result.ratio:.2f}{TIMES})"
    target = ""
    if result.target is not None:
        target = (
            f"≤ {number(result.target)}{TIMES} the floor"
            if result.ratio_target
            else f"≤ {with_unit(result.target, result.unit)}"
        )
    met = {None: "", True: "met", False: "**MISS**"}[result.met]
    return f"| {result.what} | `{result.command}` | {value} | {floor} | {target} | {met} | {date} |"


def kept_rows(text: str) -> dict[str, list[str]]:
    """The table rows now between the markers, by the benchmark module their command names."""
    found: dict[str, list[str]] = {}
    for line in _between(text, PERF).splitlines():
        match = re.search(r"benchmarks\.(\w+)", line)
        if line.startswith("| ") and match and line not in HEADER:
            found.setdefault(match.group(1), []).append(line)
    return found


def _what(line: str) -> str:
    """A row's first cell: what it measures (its host size included)."""
    return line.split(" | ")[0]


def _between(text: str, markers: tuple[str, str]) -> str:
    start, end = text.find(markers[0]), text.find(markers[1])
    if start < 0 or end < start:
        raise SystemExit(f"report: README.md has no {markers[0]} ... {markers[1]} block")
    return text[start + len(markers[0]) : end]


def replace_block(text: str, markers: tuple[str, str], lines: list[str]) -> str:
    _between(text, markers)  # present, in order
    start, end = text.index(markers[0]), text.index(markers[1])
    return text[:start] + "\n".join([markers[0], *lines, markers[1]]) + text[end + len(markers[1]) :]


def table(measured: dict[str, list[Result]], kept: dict[str, list[str]], date: str) -> list[str]:
    lines = [heading(), "", *HEADER]
    for bench in BENCHES:
        if bench.name in measured:
            fresh = [row(r, date) for r in measured[bench.name]]
            whats = {_what(line) for line in fresh}
            lines += [line for line in kept.get(bench.module, []) if _what(line) not in whats] + fresh
        else:
            lines += kept.get(bench.module, [])
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.report", description=__doc__.split("\n")[0])
    names = [b.name for b in BENCHES]
    parser.add_argument(
        "--only", nargs="+", choices=names, metavar="NAME", help=f"some of: {', '.join(names)}"
    )
    parser.add_argument("--offline", action="store_true", help="only the benchmarks that need no Docker")
    parser.add_argument("--write-readme", action="store_true", help="write the tables into README.md")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    parser.add_argument("--growth-runs", type=int, default=3, help="runs of each growth timing (default 3)")
    parser.add_argument("--child", choices=names, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    _growth_runs[0] = max(1, args.growth_runs)
    if args.child:
        results = next(b for b in BENCHES if b.name == args.child).run()
        sys.stdout.buffer.write(msgspec.json.encode(ChildOutput(results, _growth_lines)))
        return 0

    chosen = [b for b in BENCHES if not args.only or b.name in args.only]
    problem = "" if args.offline or not any(b.live for b in chosen) else engine_problem()
    measured: dict[str, list[Result]] = {}
    for bench in chosen:
        if bench.live and (args.offline or problem):
            why = "--offline" if args.offline else problem
            _log(f"report: {bench.name} skipped ({why}): its rows are kept from the README as they were")
            continue
        _log(f"report: running {bench.name}")
        measured[bench.name] = run_in_own_process(bench)

    text = args.readme.read_text()
    date = datetime.date.today().isoformat()
    lines = table(measured, kept_rows(text), date)
    growth = [
        f"Growth on synthetic hosts, measured {date} (`python -m benchmarks.growth`):",
        "",
        *_growth_lines,
    ]
    if args.write_readme:
        text = replace_block(text, PERF, lines)
        if _growth_lines:
            text = replace_block(text, GROWTH, growth)
        args.readme.write_text(text)
        _log(f"report: {args.readme} written")
    else:
        print("\n".join(lines))
        if _growth_lines:
            print("\n" + "\n".join(growth))
    missed = [r.what for rs in measured.values() for r in rs if r.met is False]
    return 1 if missed else 0


if __name__ == "__main__":
    sys.exit(main())
