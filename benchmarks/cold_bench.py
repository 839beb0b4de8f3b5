"""Benchmark cold commands against the floor (a measurement, not a test): `python -m benchmarks.cold_bench`.

On the live host as it is (grow it first with `python -m dockwire.lab.scale up --containers 100`):
- `dockwire snapshot` as a new process, against the floor: the raw reads it needs run one after another as
  commands (`iptables-save -c` of both families, the host's netlink dumps, `docker inspect` of every container
  and network, the netlink dumps inside each running container's namespace). Runs alternate (snapshot, floor,
  snapshot, ...) and the ratio is taken pair by pair, so a drift of the machine's speed does not move it.
  Target: at most 1.5 times the floor, on a host of 100 containers or more.
- `dockwire why --cold SRC DST` as a new process (default: the lab's dwlab-default-a → dwlab-default-b): it
  reads the host itself. Target: at most 0.5 s.
- the same `dockwire why SRC DST` answered by `dockwire serve` (started for the measurement, in a runtime
  directory of its own, and stopped after): a new process per question, its answer from the resident's live
  model. Target: at most 0.5 s. Then the same again while counters move (SRC pings DST five times a second),
  each question after a firewall poll has made a new model.

The installed package's bytecode is brought up to date first (as `scripts/bootstrap-venv` leaves it, and as a
first run does where Python may write it): otherwise, under PYTHONDONTWRITEBYTECODE, every run would time the
compiling of dockwire's own modules too.

Prints medians and OK or MISS per target; exit status 1 on a MISS. Needs root and the local Docker engine.
`run()` returns the figures for `benchmarks.report`.
"""

from __future__ import annotations

import argparse
import compileall
import importlib.util
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from benchmarks.result import Log, Result, spread

COMMAND = "python -m benchmarks.cold_bench"
SNAPSHOT_RATIO_TARGET = 1.5
#: The fewest running containers the snapshot's ratio target is for.
RATIO_TARGET_FROM = 100
WHY_TARGET_S = 0.5
#: Seconds between two questions while counters move (the resident polls every second while they do), and
#: the longest the ping that moves them runs.
BUSY_PAUSE_S = 1.2
PING_LIMIT_S = 120

FLOOR_SCRIPT = r"""
set -e
iptables-save -c >/dev/null
ip6tables-save -c >/dev/null
ip -d -j link show >/dev/null
ip -j addr show >/dev/null
ip -j route show table all >/dev/null
ip -j -6 route show table all >/dev/null
ip -j rule show >/dev/null
docker inspect $(docker ps -aq) >/dev/null
docker network inspect $(docker network ls -q) >/dev/null
for pid in $(docker inspect -f '{{.State.Pid}}' $(docker ps -q)); do
    nsenter -t "$pid" -n ip -d -j addr show >/dev/null
    nsenter -t "$pid" -n ip -j route show table all >/dev/null
done
"""


def _dockwire() -> str:
    found = shutil.which("dockwire", path=os.path.dirname(sys.executable)) or shutil.which("dockwire")
    if found is None:
        raise SystemExit("cold_bench: the dockwire command is not installed next to this Python")
    return found


def _compile_installed(log: Log) -> None:
    """Write the bytecode of dockwire's source folders (the package and its mapped probes, tui, widgets)."""
    folders = []
    for name in ("dockwire", "dockwire.probes", "dockwire.tui", "dockwire.widgets"):
        spec = importlib.util.find_spec(name)
        if spec is not None and spec.submodule_search_locations:
            folders.extend(spec.submodule_search_locations)
    for folder in dict.fromkeys(folders):
        if not compileall.compile_dir(folder, quiet=1):
            raise SystemExit(f"cold_bench: compiling {folder} failed")
    log(f"bytecode up to date in {len(folders)} folders")


def _time(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False, env=env)
    took = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # why exits 1 for "blocked": a verdict, not a failure
        why = proc.stderr.decode(errors="replace").strip()[:200]
        raise SystemExit(f"cold_bench: {argv[0]} failed: {why}")
    return took


@contextmanager
def _resident(dockwire: str) -> Iterator[dict[str, str]]:
    """`dockwire serve` in a runtime directory of its own while the block runs: the environment to ask it."""
    with tempfile.TemporaryDirectory(prefix="dwbench-") as folder:
        env = {**os.environ, "DOCKWIRE_RUNTIME_DIR": folder}
        proc = subprocess.Popen([dockwire, "serve"], env=env, stderr=subprocess.PIPE)
        try:
            deadline = time.monotonic() + 120
            while not (Path(folder) / "local.sock").exists():
                if proc.poll() is not None or time.monotonic() > deadline:
                    raise SystemExit("cold_bench: dockwire serve did not start")
                time.sleep(0.1)
            yield env
        finally:
            proc.terminate()
            proc.wait(30)


def _address(container: str) -> str:
    """The container's first IPv4 address, as Docker has it."""
    fmt = "{{range .NetworkSettings.Networks}}{{.IPAddress}} {{end}}"
    out = subprocess.run(
        ["docker", "inspect", "-f", fmt, container], capture_output=True, text=True, check=True
    )
    addresses = out.stdout.split()
    if not addresses:
        raise SystemExit(f"cold_bench: {container} has no IPv4 address")
    return addresses[0]


@contextmanager
def _pinging(src: str, dst: str) -> Iterator[None]:
    """`src` pings `dst` (two lab containers of this machine) while the block runs, so counters move: every
    firewall poll of the resident then makes a new model. The ping ends by itself after PING_LIMIT_S."""
    ping = ["ping", "-q", "-i", "0.2", "-w", str(PING_LIMIT_S), _address(dst)]
    subprocess.run(["docker", "exec", "-d", src, *ping], check=True)
    try:
        yield
    finally:
        subprocess.run(["docker", "exec", src, "killall", "ping"], capture_output=True, check=False)


def _report(name: str, value: float, target: float, unit: str, log: Log = print) -> bool:
    ok = value <= target
    log(f"{name:<44} {value:8.3f} {unit:<2} target ≤ {target:g} {unit}  {'OK' if ok else 'MISS'}")
    return ok


def run(
    runs: int = 7, src: str = "dwlab-default-a", dst: str = "dwlab-default-b", log: Log = print
) -> list[Result]:
    """Measure on the host as it is (needs root and the engine); the figures for `benchmarks.report`."""
    dockwire = _dockwire()
    ps = subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True, check=True)
    running = len(ps.stdout.split())
    log(f"host: {running} running containers, {os.cpu_count()} cores")
    _compile_installed(log)

    _time([dockwire, "snapshot", "-o", os.devnull])  # warm the page cache, not the process
    snaps, floors, ratios = [], [], []
    for _ in range(runs):
        snap = _time([dockwire, "snapshot", "-o", os.devnull])
        floor = _time(["bash", "-c", FLOOR_SCRIPT])
        snaps.append(snap)
        floors.append(floor)
        ratios.append(snap / floor)
    snap, floor = statistics.median(snaps), statistics.median(floors)
    log(f"dockwire snapshot median {snap:.3f} s, floor {floor:.3f} s")
    ratio = statistics.median(ratios)
    # The target is set for a busy host (100 and 200 containers): on a small one the fixed start-up costs
    # are most of a read, and the ratio is only a figure.
    ratio_target = SNAPSHOT_RATIO_TARGET if running >= RATIO_TARGET_FROM else None
    if ratio_target is None:
        log(
            f"snapshot / floor (median of pair ratios) {ratio:8.3f} x  "
            f"(the target is for {RATIO_TARGET_FROM}+ containers)"
        )
    else:
        _report("snapshot / floor (median of pair ratios)", ratio, ratio_target, "x", log)

    whys = [_time([dockwire, "why", "--cold", src, dst]) for _ in range(runs)]
    why = statistics.median(whys)
    _report(f"why --cold {src} {dst} (median)", why, WHY_TARGET_S, "s", log)
    with _resident(dockwire) as env:
        _time([dockwire, "why", src, dst], env)  # the resident's first answer compiles its rules
        answered = [_time([dockwire, "why", src, dst], env) for _ in range(runs)]
        with _pinging(src, dst):
            busy = []
            for _ in range(runs):
                time.sleep(BUSY_PAUSE_S)  # the next poll reads moved counters: a new model
                busy.append(_time([dockwire, "why", src, dst], env))
    resident = statistics.median(answered)
    _report(f"why {src} {dst}, dockwire serve running (median)", resident, WHY_TARGET_S, "s", log)
    _report("  the same while counters move (median)", statistics.median(busy), WHY_TARGET_S, "s", log)
    return [
        Result(
            what=f"cold `dockwire snapshot`, {running} running containers, against the floor (the raw reads "
            "as sequential commands; ratio: median of pair ratios)",
            command=COMMAND,
            value=snap,
            unit="s",
            floor=floor,
            target=ratio_target,
            ratio_target=True,
            measured_ratio=ratio,
            note=spread(snaps),
        ),
        _why_result(
            f"cold `dockwire why --cold {src} {dst}` (reads the host), {running} running containers", whys
        ),
        _why_result(
            f"`dockwire why {src} {dst}` answered by `dockwire serve`, {running} running containers", answered
        ),
        _why_result(
            f"the same while counters move ({src} pings {dst} 5 times a second; a question every "
            f"{BUSY_PAUSE_S:g} s), {running} running containers",
            busy,
        ),
    ]


def _why_result(what: str, times: list[float]) -> Result:
    return Result(
        what=what,
        command=COMMAND,
        value=statistics.median(times),
        unit="s",
        target=WHY_TARGET_S,
        note=spread(times),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--src", default="dwlab-default-a")
    parser.add_argument("--dst", default="dwlab-default-b")
    args = parser.parse_args(argv)
    results = run(args.runs, args.src, args.dst)
    return 0 if all(r.met for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
