"""Benchmark cold commands against the floor (a measurement, not a test): `python -m benchmarks.cold_bench`.

On the live host as it is (grow it first with `python -m dockwire.lab.scale up --containers 100`):
- `dockwire snapshot` as a new process, against the floor: the raw reads it needs run one after another as
  commands (`iptables-save -c` of both families, the host's netlink dumps, `docker inspect` of every container
  and network, the netlink dumps inside each running container's namespace). Runs alternate (snapshot, floor,
  snapshot, ...) and the ratio is taken pair by pair, so a drift of the machine's speed does not move it.
  Target: at most 1.5 times the floor.
- `dockwire why SRC DST` as a new process (default: the lab's dwlab-default-a → dwlab-default-b).
  Target: at most 0.5 s.

Prints medians and OK or MISS per target; exit status 1 on a MISS. Needs root and the local Docker engine.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

SNAPSHOT_RATIO_TARGET = 1.5
WHY_TARGET_S = 0.5

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


def _time(argv: list[str]) -> float:
    started = time.perf_counter()
    proc = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False)
    took = time.perf_counter() - started
    if proc.returncode not in (0, 1):  # why exits 1 for "blocked": a verdict, not a failure
        why = proc.stderr.decode(errors="replace").strip()[:200]
        raise SystemExit(f"cold_bench: {argv[0]} failed: {why}")
    return took


def _report(name: str, value: float, target: float, unit: str) -> bool:
    ok = value <= target
    print(f"{name:<44} {value:8.3f} {unit:<2} target ≤ {target:g} {unit}  {'OK' if ok else 'MISS'}")
    return ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--src", default="dwlab-default-a")
    parser.add_argument("--dst", default="dwlab-default-b")
    args = parser.parse_args(argv)
    dockwire = _dockwire()
    ps = subprocess.run(["docker", "ps", "-q"], capture_output=True, text=True, check=True)
    running = ps.stdout.split()
    print(f"host: {len(running)} running containers, {os.cpu_count()} cores")

    _time([dockwire, "snapshot", "-o", os.devnull])  # warm the page cache, not the process
    snaps, floors, ratios = [], [], []
    for _ in range(args.runs):
        snap = _time([dockwire, "snapshot", "-o", os.devnull])
        floor = _time(["bash", "-c", FLOOR_SCRIPT])
        snaps.append(snap)
        floors.append(floor)
        ratios.append(snap / floor)
    snap, floor = statistics.median(snaps), statistics.median(floors)
    print(f"dockwire snapshot median {snap:.3f} s, floor {floor:.3f} s")
    ok = _report(
        "snapshot / floor (median of pair ratios)", statistics.median(ratios), SNAPSHOT_RATIO_TARGET, "x"
    )

    whys = [_time([dockwire, "why", args.src, args.dst]) for _ in range(args.runs)]
    ok &= _report(f"why {args.src} {args.dst} (median)", statistics.median(whys), WHY_TARGET_S, "s")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
