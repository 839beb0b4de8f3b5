"""Benchmark the live model on the real host (a measurement, not a test): `python -m benchmarks.live_bench`.

Grow the host first (`python -m dockwire.lab.scale up --containers 200 --rules 10000`), then this runs the
live model as the dashboard does and measures:
- a container start, a network create and a firewall rule insert: the time from the change (Docker's own
  event time for the first two; the return of `iptables -I` for the rule) until the live model yields an
  update that holds it. Target: ≤ 250 ms each (median of --runs changes).
- idle: CPU of this process and its children (the firewall commands) over --idle seconds with nothing
  changing, as a share of one core. Target: ≤ 5 %.
- the RSS of this process with the model live;
- the same three changes on the dashboard (`--screen`, or `run(screen=True)`): the app runs headless on the
  live host (`App.run_test`), and the time is taken when the pane that shows the change holds it (the
  containers table its row, the topology tree the network, the firewall pane the rule) and the screen has
  drawn the frame after it (no layout, scroll or repaint left pending). Target: ≤ 500 ms each.

Everything it adds carries the scale lab's label or comment and is removed before it exits.
`run()` returns the figures for `benchmarks.report`.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable
from functools import partial
from typing import Any

import docker

from benchmarks.result import Log, Result, spread
from dockwire.lab.scale import CHAIN, LABEL, PREFIX
from dockwire.lab.scenarios import IMAGE
from dockwire.live import LiveModel, ModelUpdate
from dockwire.model import HostModel

CHANGE_TARGET_MS = 250.0
SCREEN_TARGET_MS = 500.0
#: Seconds between two looks at the panes while no model arrives (see `measure_screen`).
RECHECK = 0.05
#: Seconds between two looks at whether the frame is drawn (the figures' resolution).
LOOK = 0.005
IDLE_TARGET = 0.05
#: A rule no packet of this machine matches (RFC 2544 benchmarking addresses), found by its own comment.
RULE_COMMENT = "dockwire-live-bench"
COMMAND = "python -m benchmarks.live_bench"
RULE = [
    "-s",
    "198.18.0.1/32",
    "-d",
    "198.18.0.2/32",
    "-m",
    "comment",
    "--comment",
    RULE_COMMENT,
    "-j",
    "DROP",
]


def _rss_mb() -> float:
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def _cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class EventClock:
    """Docker's own time of each event, by the object it is about, from a stream of the benchmark's own."""

    def __init__(self, client: Any) -> None:
        self.times: dict[tuple[str, str], float] = {}
        self._stream = client.events(decode=True, filters={"type": ["container", "network"]})
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        with contextlib.suppress(Exception):
            for event in self._stream:
                name = (event.get("Actor") or {}).get("Attributes", {}).get("name", "")
                self.times.setdefault((str(event.get("Action")), name), event["timeNano"] / 1e9)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self._stream.close()


async def _until(updates: AsyncIterator[ModelUpdate], holds: Callable[[HostModel], bool]) -> float:
    """Wall time at which the live model first yields a model for which `holds` is true."""
    async for update in updates:
        if holds(update.model):
            return time.time()
    raise RuntimeError("the live model stopped")


def _has_rule(model: HostModel) -> bool:
    return any(RULE_COMMENT in rule.text for t in model.firewall.tables for c in t.chains for rule in c.rules)


def _container_running(name: str) -> Callable[[HostModel], bool]:
    return lambda model: any(c.name == name and c.pid for c in model.containers)


def _network_present(name: str) -> Callable[[HostModel], bool]:
    return lambda model: any(n.name == name for n in model.networks)


async def measure(client: Any, runs: int, idle: float, log: Log = print) -> dict[str, Any]:
    live = LiveModel(client)
    updates = live.updates().__aiter__()
    clock = EventClock(client)
    figures: dict[str, Any] = {"container start": [], "network create": [], "rule insert": []}
    try:
        first = await updates.__anext__()
        rules = sum(len(c.rules) for t in first.model.firewall.tables for c in t.chains)
        log(f"live model: {len(first.model.containers)} containers, {rules} rules")
        figures["host"] = [f"{len(first.model.containers)} containers, {rules:,} rules"]
        started_cpu, started = _cpu_seconds(), time.monotonic()
        await asyncio.sleep(idle)
        figures["idle share of a core"] = [(_cpu_seconds() - started_cpu) / (time.monotonic() - started)]
        for n in range(runs):
            name = f"{PREFIX}live{n}"
            run = asyncio.to_thread(
                client.containers.run, IMAGE, ["sleep", "600"], name=name, labels={LABEL: "live"}, detach=True
            )
            task = asyncio.ensure_future(run)
            seen = await _until(updates, _container_running(name))
            await task
            figures["container start"].append((seen - clock.times[("start", name)]) * 1000)

            net = f"{PREFIX}livenet{n}"
            task = asyncio.ensure_future(
                asyncio.to_thread(client.networks.create, net, labels={LABEL: "live"})
            )
            seen = await _until(updates, _network_present(net))
            await task
            figures["network create"].append((seen - clock.times[("create", net)]) * 1000)

            subprocess.run(["iptables", "-w", "5", "-I", CHAIN, *RULE], check=True)
            inserted = time.time()
            seen = await _until(updates, _has_rule)
            figures["rule insert"].append((seen - inserted) * 1000)
            subprocess.run(["iptables", "-w", "5", "-D", CHAIN, *RULE], check=True)
            await _until(updates, lambda m: not _has_rule(m))
        figures["RSS MB"] = [_rss_mb()]
    finally:
        clock.close()
        with contextlib.suppress(Exception):
            await updates.aclose()  # type: ignore[attr-defined]
        live.close()
        _remove_own(client)
    return figures


async def measure_screen(client: Any, runs: int, log: Log = print) -> dict[str, list[float]]:
    """Each change's time from the change to the dashboard's frame that shows it (ms)."""
    from benchmarks.tui_bench import screen_due
    from dockwire.sources import LiveSource
    from dockwire.tui.app import make_app
    from dockwire.widgets.containers import ContainersTable
    from dockwire.widgets.firewall import FirewallView
    from dockwire.widgets.topology import TopologyTree
    from tests.tui_harness import ready

    app = make_app(LiveSource(client, "live bench"), root=True)
    clock = EventClock(client)
    figures: dict[str, list[float]] = {"container start": [], "network create": [], "rule insert": []}

    async def drawn(pilot: Any, shows: Callable[[], bool]) -> float:
        """Wall time of the first frame drawn once `shows()` holds. `shows` is asked again when a model
        arrived (or every RECHECK seconds), not on every turn: asking costs a walk of the panes' data, which
        would take the CPU the dashboard and its live model measured here need."""
        generation, asked, holds = -1, 0.0, False
        while True:
            if app.generation != generation or time.monotonic() - asked > RECHECK:
                generation, asked = app.generation, time.monotonic()
                holds = shows()
            if holds and not screen_due(app):
                return time.time()
            await asyncio.sleep(LOOK)  # not pilot.pause: that runs the app's message pumps and animations

    try:
        async with app.run_test(size=(200, 50)) as pilot:
            await ready(pilot)
            screen = app.main_screen
            table, tree, rules = (screen.query_one(w) for w in (ContainersTable, TopologyTree, FirewallView))
            log(f"dashboard: {len(app.model.containers)} containers on screen")
            for n in range(runs):
                name = f"{PREFIX}screen{n}"
                task = asyncio.ensure_future(
                    asyncio.to_thread(
                        client.containers.run,
                        IMAGE,
                        ["sleep", "600"],
                        name=name,
                        labels={LABEL: "live"},
                        detach=True,
                    )
                )
                shown = await drawn(pilot, partial(_row_of, table, name))
                await task
                figures["container start"].append((shown - clock.times[("start", name)]) * 1000)

                net = f"{PREFIX}screennet{n}"
                task = asyncio.ensure_future(
                    asyncio.to_thread(client.networks.create, net, labels={LABEL: "live"})
                )
                shown = await drawn(pilot, partial(lambda net: _network_present(net)(tree._model), net))
                await task
                figures["network create"].append((shown - clock.times[("create", net)]) * 1000)

                await asyncio.to_thread(
                    subprocess.run, ["iptables", "-w", "5", "-I", CHAIN, *RULE], check=True
                )
                inserted = time.time()
                shown = await drawn(pilot, lambda: _has_rule(HostModel(firewall=rules.firewall)))
                figures["rule insert"].append((shown - inserted) * 1000)
                await asyncio.to_thread(
                    subprocess.run, ["iptables", "-w", "5", "-D", CHAIN, *RULE], check=True
                )
                await drawn(pilot, lambda: not _has_rule(HostModel(firewall=rules.firewall)))
    finally:
        clock.close()
        _remove_own(client)
    return figures


def _row_of(table: Any, name: str) -> bool:
    """Whether the containers table has a row for the running container called `name`."""
    return any(c.name == name and c.pid and c.id in table._cells for c in table.model.containers)


def _remove_own(client: Any) -> None:
    for container in client.containers.list(all=True, filters={"label": f"{LABEL}=live"}):
        container.remove(force=True)
    for network in client.networks.list(filters={"label": f"{LABEL}=live"}):
        network.remove()
    subprocess.run(["iptables", "-w", "5", "-D", CHAIN, *RULE], capture_output=True, check=False)


def verdict(good: bool) -> str:
    return "OK" if good else "MISS"


def run(runs: int = 5, idle: float = 20.0, log: Log = print, screen: bool = True) -> list[Result]:
    """Measure on the host as it is (needs root and the engine); the figures for `benchmarks.report`."""
    client = docker.from_env(timeout=60)
    _remove_own(client)  # what an interrupted run left behind
    figures = asyncio.run(measure(client, runs, idle, log))
    size = figures.pop("host")[0]
    results = []
    if screen:
        for name, values in asyncio.run(measure_screen(client, runs, log)).items():
            what = f"dashboard: {name} → frame on screen, {size}"
            results.append(_latency(f"{name} → screen", what, values, SCREEN_TARGET_MS, log))
    for name, values in figures.items():
        value = statistics.median(values)
        if name.endswith("share of a core"):
            good = value <= IDLE_TARGET
            log(f"{name:<24} {value * 100:7.1f} %   target ≤ {IDLE_TARGET * 100:g} %  {verdict(good)}")
            results.append(
                Result(
                    what=f"live model idle, {size} (this process and its children, a share of one core)",
                    command=COMMAND,
                    value=value * 100,
                    unit="%",
                    target=IDLE_TARGET * 100,
                )
            )
        elif name == "RSS MB":
            log(f"{name:<24} {value:7.0f} MB")
            results.append(Result(what=f"live model RSS, {size}", command=COMMAND, value=value, unit="MB"))
        else:
            what = f"live model: {name} → model, {size}"
            results.append(_latency(name, what, values, CHANGE_TARGET_MS, log))
    return results


def _latency(name: str, what: str, values: list[float], target: float, log: Log) -> Result:
    """One latency's median against its target: a line of the log and a row of the report."""
    value = statistics.median(values)
    shown = f"(min {min(values):.0f}, max {max(values):.0f})"
    log(f"{name:<24} {value:7.0f} ms  {shown:<20} target ≤ {target:g} ms  {verdict(value <= target)}")
    return Result(
        what=what, command=COMMAND, value=value, unit="ms", target=target, note=spread(values, digits=0)
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=20.0, help="seconds of idle measured")
    parser.add_argument("--no-screen", action="store_true", help="the live model only, not the dashboard")
    args = parser.parse_args(argv)
    results = run(args.runs, args.idle, screen=not args.no_screen)
    return 0 if all(r.met is not False for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())
