"""`dockwire lab up|down|status`: the teaching scenarios on the local engine."""

from __future__ import annotations

import click

from dockwire.cli.common import docker_host, friendly_errors, require_live
from dockwire.errors import DockwireError
from dockwire.text import safe_lines


@click.group()
def lab() -> None:
    """Create, remove or list the teaching scenarios on the local engine (needs root)."""


def _lab_run(ctx: click.Context, action: str) -> None:
    require_live(ctx, "lab")
    from dockwire import lab as lab_mod
    from dockwire.docker_client import connect

    client = connect(docker_host(ctx))
    run = {"up": lab_mod.lab_up, "down": lab_mod.lab_down, "status": lab_mod.lab_status}[action]
    try:
        report = run(client)
    except lab_mod.LabError as exc:
        raise DockwireError(str(exc)) from None
    # The report's lines are ours; the names and details in them may come from the host.
    click.echo(safe_lines(str(report)))


@lab.command("up")
@click.pass_context
@friendly_errors()
def lab_up(ctx: click.Context) -> None:
    """Build every scenario (idempotent)."""
    _lab_run(ctx, "up")


@lab.command("down")
@click.pass_context
@friendly_errors()
def lab_down(ctx: click.Context) -> None:
    """Remove exactly what `lab up` created."""
    _lab_run(ctx, "down")


@lab.command("status")
@click.pass_context
@friendly_errors()
def lab_status(ctx: click.Context) -> None:
    """List the scenario objects and whether they are present."""
    _lab_run(ctx, "status")
