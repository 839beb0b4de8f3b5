"""`why` once the hosts are read: the question's words in, what the command prints out.

The command line calls it on the hosts it has just read, a resident dockwire (`dockwire.resident`) on its live
model: both print the very same answer.
"""

from __future__ import annotations

from typing import NamedTuple

from dockwire.fleet import Fleet, stale_warnings
from dockwire.text import safe_json
from dockwire.verdict.fleet_ends import resolve_pair
from dockwire.verdict.fleet_verdict import evaluate_fleet
from dockwire.verdict.render import render_verdict, verdict_json


class Printed(NamedTuple):
    """What `why` prints: its exit status, the verdict (text or JSON) and the stale warnings for stderr."""

    exit_code: int
    text: str = ""
    data: bytes = b""
    warnings: tuple[str, ...] = ()


def explain(
    fleet: Fleet,
    src: str,
    dst: str,
    proto: str | None = None,
    port: int | None = None,
    family: int | None = None,
    as_json: bool = False,
    verbose: bool = False,
) -> Printed:
    """The verdict on SRC → DST over `fleet`, as `why` prints it (EndpointError / FleetError on bad ends).
    The protocol defaults to tcp when a port is given (or the destination names one), else icmp."""
    src_end, dst_end = resolve_pair(fleet, src, dst)
    if proto is None:
        proto = "tcp" if (port or dst_end.end.port) else "icmp"
    verdict = evaluate_fleet(fleet, src_end, dst_end, proto, port, family=family)
    if as_json:
        return Printed(verdict.exit_code, data=safe_json(verdict_json(verdict)))
    return Printed(verdict.exit_code, render_verdict(verdict, verbose), warnings=tuple(stale_warnings(fleet)))
