"""`dockwire why` and `dockwire matrix`: the static verdict engine's answers, without sending a packet."""

from __future__ import annotations

import sys
from collections.abc import Sequence

import click

from dockwire.cli.common import (
    EXIT_ERROR,
    docker_host,
    family_options,
    friendly_errors,
    load_fleet,
    resident_may_answer,
    snapshot_option,
    warn_fleet_stale,
)
from dockwire.errors import DockwireError
from dockwire.text import safe, safe_json


@click.command("why")
@click.argument("src")
@click.argument("dst")
@click.option(
    "--proto",
    type=click.Choice(["icmp", "tcp", "udp"]),
    default=None,
    help="Protocol (default: tcp when a port is given, else icmp).",
)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Destination port.")
@family_options(
    "IPv4 or IPv6 addresses of dual-stack containers (default: that of an address given, else 4)."
)
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@snapshot_option
@click.option("-v", "--verbose", is_flag=True, help="Also list the plain jumps the packet took.")
@click.option("--cold", is_flag=True, help="Read the host now, even when `dockwire serve` follows it.")
@click.pass_context
@friendly_errors()
def why(
    ctx: click.Context,
    src: str,
    dst: str,
    proto: str | None,
    port: int | None,
    family: str | None,
    as_json: bool,
    snapshot_files: tuple[str, ...],
    verbose: bool,
    cold: bool,
) -> None:
    """Can SRC reach DST, and if not, exactly what stops it?

    \b
    SRC/DST: a container (name, id prefix or IPv4/IPv6 address), `host`, a host IP, `outside` or
    `outside:ADDR`; DST also HOSTIP:PORT or [IPV6]:PORT (a published port), NAME:PORT, or name:OTHER
    (does OTHER resolve from SRC?).
    With several hosts (--snapshot NAME=FILE or -H NAME=URL, repeated), CONTAINER@HOST names the host;
    a plain name is enough when it is unique across hosts.
    When `dockwire serve` follows the host, it answers (at once, on its live model).
    Exit status: 0 allowed, 1 blocked, 3 uncertain, 2 error.
    """
    fam = int(family) if family else None
    if not cold and not snapshot_files and resident_may_answer(ctx):
        from dockwire.resident.protocol import ResidentUnavailable, WhyRequest, ask

        request = WhyRequest(src, dst, proto, port, fam, as_json, verbose)  # type: ignore[arg-type]
        try:
            reply = ask(docker_host(ctx), request)
        except ResidentUnavailable as exc:
            click.echo(f"dockwire: warning: {safe(str(exc))}; reading the host", err=True)
            reply = None
        if reply is not None:
            if reply.error:
                raise DockwireError(reply.error)
            if verbose:
                click.echo(f"dockwire: answered by the resident dockwire (pid {reply.pid})", err=True)
            _print(reply.text, reply.data, reply.warnings, as_json)
            ctx.exit(reply.exit_code)
    from dockwire.verdict.explain import explain

    fleet = load_fleet(ctx, snapshot_files, question=(src, dst))
    printed = explain(fleet, src, dst, proto, port, fam, as_json, verbose)
    _print(printed.text, printed.data, printed.warnings, as_json)
    ctx.exit(printed.exit_code)


def _print(text: str, data: bytes, warnings: Sequence[str], as_json: bool) -> None:
    """What `why` prints: the JSON, or the stale warnings (on stderr) and the verdict's text."""
    if as_json:
        sys.stdout.buffer.write(data)
        return
    for line in warnings:
        click.echo(line, err=True)
    click.echo(text)


@click.command("matrix")
@click.option("--json", "as_json", is_flag=True, help="Print every cell as JSON.")
@snapshot_option
@click.option("--all", "include_stopped", is_flag=True, help="Include containers that are not running.")
@click.option(
    "--proto",
    type=click.Choice(["icmp", "tcp", "udp"]),
    default=None,
    help="Only the checks of this protocol.",
)
@click.option("--port", type=click.IntRange(1, 65535), default=None, help="Only the checks of this port.")
@click.option("-6", "ipv6", is_flag=True, help="Over IPv6: the containers with an IPv6 address (one host).")
@click.pass_context
@friendly_errors()
def matrix(
    ctx: click.Context,
    as_json: bool,
    snapshot_files: tuple[str, ...],
    include_stopped: bool,
    proto: str | None,
    port: int | None,
    ipv6: bool,
) -> None:
    """Which container reaches which: ICMP and every published or exposed port, for every pair.

    A cell is one symbol (legend below the grid); `why SRC DST` explains any of them."""
    from dockwire.verdict.fleet_matrix import build_fleet_matrix, fleet_groups
    from dockwire.verdict.matrix import build_matrix, matrix_json, network_groups, only_checks, render_matrix

    fleet = load_fleet(ctx, snapshot_files)
    if fleet.several and ipv6:
        raise DockwireError("matrix -6 covers one host: IPv6 flows between hosts are not followed yet")
    if fleet.several:
        built = build_fleet_matrix(fleet, include_stopped=include_stopped)
    else:
        built = build_matrix(fleet.first()[1], include_stopped=include_stopped, family=6 if ipv6 else 4)
    result = only_checks(built, proto, port)
    if as_json:
        sys.stdout.buffer.write(safe_json(matrix_json(result)))
    else:
        warn_fleet_stale(fleet)
        if not result.containers:
            click.echo("no containers")
            return
        groups = (
            fleet_groups(fleet, result.containers)
            if fleet.several
            else network_groups(fleet.first()[1], result.containers)
        )
        click.echo(render_matrix(result, groups))
    if any(cell.error for cell in result.cells):
        ctx.exit(EXIT_ERROR)
