"""The root `dockwire` group: the dashboard when no command is given, and every command registered on it."""

from __future__ import annotations

import click

from dockwire.cli.common import friendly_errors
from dockwire.cli.lab import lab
from dockwire.cli.probe import probe
from dockwire.cli.snapshot import snapshot
from dockwire.cli.verdicts import matrix, why


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", package_name="dockwire", prog_name="dockwire")
@click.option(
    "-H",
    "--host",
    envvar="DOCKER_HOST",
    metavar="URL",
    help="Docker daemon socket (default: $DOCKER_HOST, then the local socket).",
)
@click.option(
    "--demo", is_flag=True, help="Open the dashboard on the bundled recorded snapshot (no Docker needed)."
)
@click.option(
    "--snapshot",
    "snapshot_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Open the dashboard on a snapshot file written by `dockwire snapshot`.",
)
@click.pass_context
@friendly_errors()
def main(ctx: click.Context, host: str | None, demo: bool, snapshot_file: str | None) -> None:
    """dockwire: see why a container can or cannot reach another.

    With no command, opens the live dashboard on the local Docker host.
    """
    if ctx.invoked_subcommand is not None:
        return
    from dockwire.sources import open_source

    source = open_source(host=host, demo=demo, snapshot=snapshot_file)
    from dockwire.tui.app import run_app

    run_app(source)


for command in (snapshot, why, matrix, probe, lab):
    main.add_command(command)
