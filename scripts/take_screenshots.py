"""Screenshots of every screen, from the bundled demo and (when it is up) the live lab: SVG through the Pilot,
then PNG with rsvg-convert. Run it through `scripts/screenshots`."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from textual.keys import _character_to_key
from textual.pilot import Pilot

from dockwire.sources import ModelSource, open_source
from dockwire.tui.app import DockwireApp, make_app

OUT = Path(__file__).resolve().parent.parent / "screenshots"
BLOCKED_TCP = ("dwlab-default-a", "dwlab-default-b")
ISOLATED = ("dwlab-iso-a", "dwlab-iso-b")


@dataclass(frozen=True)
class Shot:
    name: str
    size: tuple[int, int]
    marks: tuple[str, ...] = ()
    keys: tuple[str, ...] = ()
    title: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    #: Typed after the keys, character by character (then Enter), e.g. a `:` command line.
    typed: str = ""


DEMO_SHOTS = (
    Shot("demo-main", (160, 45), title="--demo"),
    Shot("demo-blocked-probe", (160, 45), BLOCKED_TCP, ("P", "ctrl+s"), "tcp/80 blocked by DOCKER-USER"),
    Shot("demo-why-isolated", (120, 36), ISOLATED, ("w",), "why: two isolated networks"),
    Shot("demo-matrix", (160, 45), (), ("m",), "reachability matrix"),
    Shot("demo-help", (120, 50), (), ("question_mark",), "help"),
    Shot("demo-probe-dialog", (110, 32), ("dwlab-default-a", "dwlab-web"), ("P",), "probe options"),
    Shot("demo-80x24", (80, 24), ISOLATED, ("w",), "80x24"),
    Shot("demo-light", (160, 45), BLOCKED_TCP, ("T", "P", "ctrl+s"), "light theme"),
    Shot("demo-command-line", (160, 45), (), (), "command line", typed=":why outside 172.17.0.1:18080"),
)

#: Two hosts from the recorded two-host lab: the flow host b's raw PREROUTING rule stops.
TWO_HOSTS = Path(__file__).resolve().parent.parent / "tests/fixtures/two_hosts/engine-28.5.2-iptables-nft"
FLEET_SHOTS = (
    Shot(
        "demo-two-hosts", (160, 45), (), (), "two hosts", typed=":why dwlab-default-b@a dwlab-b-web@b tcp/80"
    ),
)

LIVE_SHOTS = (
    Shot("live-main", (160, 45), title="live lab"),
    Shot("live-blocked-ping", (160, 45), ISOLATED, ("p",), "live: a real ping, blocked"),
    Shot("live-matrix", (160, 45), (), ("m",), "live: reachability matrix"),
)


async def wait_until(pilot: Pilot[Any], condition: Callable[[], bool], tries: int = 1500) -> None:
    for _ in range(tries):
        if condition():
            return
        await pilot.pause(0.02)
    raise RuntimeError("the app did not get there in time")


async def take(app_factory: Callable[[], DockwireApp], shot: Shot) -> Path:
    app = app_factory()
    async with app.run_test(size=shot.size) as pilot:
        await wait_until(pilot, lambda: app.generation > 0)
        for name in shot.marks:
            await pilot.press("2", "slash", *name.removeprefix("dwlab-"), "enter", "space", "escape")
        await pilot.press(*shot.keys)
        if shot.typed:
            await pilot.press(*(_character_to_key(ch) for ch in shot.typed), "enter")
        await app.wait_for_tasks()
        await pilot.pause(0.3)
        path = OUT / f"{shot.name}.svg"
        app.save_screenshot(filename=path.name, path=str(OUT))
    svg = path.read_text()
    if shot.title:
        svg = svg.replace(">dockwire</text>", f">dockwire · {shot.title}</text>", 1)
    path.write_text(svg)
    return path


def to_png(svg: Path) -> Path | None:
    """rsvg-convert drops leading non-breaking spaces unless whitespace is preserved, so say so first."""
    tool = shutil.which("rsvg-convert")
    if tool is None:
        return None
    preserved = svg.with_suffix(".tmp.svg")
    preserved.write_text(svg.read_text().replace("<svg ", '<svg xml:space="preserve" ', 1))
    png = svg.with_suffix(".png")
    try:
        subprocess.run([tool, str(preserved), "-o", str(png)], check=True)
    finally:
        preserved.unlink()
    return png


def live_source() -> ModelSource | None:
    """The local Docker with the lab up, or None (and why) when there is none."""
    if os.geteuid() != 0:
        print("screenshots: not root: skipping the live lab shots", file=sys.stderr)
        return None
    try:
        source = open_source()
        names = {c.name for c in source.client.containers.list()}  # type: ignore[union-attr]
    except Exception as exc:
        print(f"screenshots: no Docker ({exc}): skipping the live lab shots", file=sys.stderr)
        return None
    if not set(ISOLATED) | set(BLOCKED_TCP) <= names:
        print(
            "screenshots: the lab is not up (dockwire lab up): skipping the live lab shots", file=sys.stderr
        )
        return None
    return source


def demo_app() -> DockwireApp:
    return make_app(open_source(demo=True), clock=lambda: "12:00:00", root=True)


def two_hosts_app() -> DockwireApp:
    """The dashboard over the two recorded hosts, as `--snapshot a=A.json --snapshot b=B.json` opens it."""
    from dockwire.fleet import Fleet
    from dockwire.snapshot import load
    from dockwire.sources import snapshot_fleet_source

    paths = [TWO_HOSTS / f"{name}.json" for name in ("a", "b")]
    fleet = Fleet.of([(p.stem, load(p)) for p in paths])
    return make_app(snapshot_fleet_source(list(fleet), [p.name for p in paths]), clock=lambda: "12:00:00")


def live_app() -> DockwireApp:
    return make_app(open_source(), root=True)


async def main() -> int:
    OUT.mkdir(exist_ok=True)
    made: list[Path] = []
    # `--only NAME...`: just those shots (the others are left as they are).
    only = set(sys.argv[sys.argv.index("--only") + 1 :]) if "--only" in sys.argv else None
    for factory, shots in ((demo_app, DEMO_SHOTS), (two_hosts_app, FLEET_SHOTS)):
        for shot in shots:
            if only is None or shot.name in only:
                made.append(await take(factory, shot))
    if only is None and "--demo-only" not in sys.argv and live_source() is not None:
        for shot in LIVE_SHOTS:
            made.append(await take(live_app, shot))
    pngs = [to_png(svg) for svg in made]
    if None in pngs:
        print("screenshots: no rsvg-convert (apt-get install librsvg2-bin): SVG only", file=sys.stderr)
    for svg in made:
        print(
            f"wrote {svg.relative_to(OUT.parent)}" + (" (+ .png)" if svg.with_suffix(".png").exists() else "")
        )
    return 0


if __name__ == "__main__":
    sys.exit(asyncio.run(main()))
