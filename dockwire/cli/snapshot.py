"""`dockwire snapshot`: write the host's network model as JSON."""

from __future__ import annotations

import sys

import click

from dockwire.cli.common import docker_host, friendly_errors, require_live, warn_stale
from dockwire.text import safe, safe_json


@click.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    metavar="FILE",
    help="Write to FILE instead of standard output.",
)
@click.pass_context
@friendly_errors()
def snapshot(ctx: click.Context, output: str) -> None:
    """Write the host's network model as JSON."""
    require_live(ctx, "snapshot (it reads the host)")
    from dockwire.cli.hosts import collect_url
    from dockwire.snapshot import dumps, save

    model = collect_url(docker_host(ctx))
    if output == "-":
        sys.stdout.buffer.write(safe_json(dumps(model)))
    else:
        save(model, output)
        click.echo(
            f"wrote {safe(output)} ({len(model.containers)} containers, {len(model.networks)} networks)",
            err=True,
        )
    warn_stale(model.stale)
