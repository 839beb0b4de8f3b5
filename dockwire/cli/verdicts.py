"""`dockwire why` and `dockwire matrix`: the static verdict engine's answers, without sending a packet."""

from __future__ import annotations

import sys

import click

from dockwire.cli.common import EXIT_ERROR, friendly_errors, load_model, snapshot_option, warn_stale
from dockwire.text import safe_json


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
@click.option("--json", "as_json", is_flag=True, help="Print the verdict as JSON.")
@snapshot_option
@click.option("-v", "--verbose", is_flag=True, help="Also list the plain jumps the packet took.")
@click.pass_context
@friendly_errors()
def why(
    ctx: click.Context,
    src: str,
    dst: str,
    proto: str | None,
    port: int | None,
    as_json: bool,
    snapshot_file: str | None,
    verbose: bool,
) -> None:
    """Can SRC reach DST, and if not, exactly what stops it?

    \b
    SRC/DST: a container (name, id prefix or IP), `host`, a host IP, `outside` or `outside:ADDR`;
    DST also HOSTIP:PORT (a published port), NAME:PORT, or name:OTHER (does OTHER resolve from SRC?).
    Exit status: 0 allowed, 1 blocked, 3 uncertain, 2 error.
    """
    from dockwire.verdict.endpoints import resolve_endpoint
    from dockwire.verdict.render import render_verdict, verdict_json
    from dockwire.verdict.verdict import evaluate

    model = load_model(ctx, snapshot_file, question=(src, dst))
    src_ep = resolve_endpoint(model, src, "src")
    dst_ep = resolve_endpoint(model, dst, "dst")
    if proto is None:
        proto = "tcp" if (port or dst_ep.port) else "icmp"
    verdict = evaluate(model, src_ep, dst_ep, proto, port)
    if as_json:
        sys.stdout.buffer.write(safe_json(verdict_json(verdict)))
    else:
        warn_stale(model.stale)
        click.echo(render_verdict(verdict, verbose))
    ctx.exit(verdict.exit_code)


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
@click.pass_context
@friendly_errors()
def matrix(
    ctx: click.Context,
    as_json: bool,
    snapshot_file: str | None,
    include_stopped: bool,
    proto: str | None,
    port: int | None,
) -> None:
    """Which container reaches which: ICMP and every published or exposed port, for every pair.

    A cell is one symbol (legend below the grid); `why SRC DST` explains any of them."""
    from dockwire.verdict.matrix import build_matrix, matrix_json, only_checks, render_matrix

    model = load_model(ctx, snapshot_file)
    result = only_checks(build_matrix(model, include_stopped=include_stopped), proto, port)
    if as_json:
        sys.stdout.buffer.write(safe_json(matrix_json(result)))
    else:
        warn_stale(model.stale)
        if not result.containers:
            click.echo("no containers")
            return
        click.echo(render_matrix(result, model))
    if any(cell.error for cell in result.cells):
        ctx.exit(EXIT_ERROR)
