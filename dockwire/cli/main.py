"""The root `dockwire` group: the dashboard when no command is given, and every command registered on it."""

from __future__ import annotations

import click

from dockwire.cli.common import docker_host, friendly_errors
from dockwire.cli.lab import lab
from dockwire.cli.probe import probe
from dockwire.cli.snapshot import snapshot
from dockwire.cli.verdicts import matrix, why
from dockwire.errors import DockwireError


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "--version", package_name="dockwire", prog_name="dockwire")
@click.option(
    "-H",
    "--host",
    envvar="DOCKER_HOST",
    multiple=True,
    metavar="[NAME=]URL",
    help="Docker daemon: unix://, tcp:// or ssh://user@host (default: $DOCKER_HOST, then the local socket); "
    "repeat with NAME=URL for several hosts.",
)
@click.option(
    "--context",
    envvar="DOCKER_CONTEXT",
    multiple=True,
    metavar="NAME",
    help="A Docker context (`docker context ls`) as one of the hosts; repeatable.",
)
@click.option(
    "--demo", is_flag=True, help="Open the dashboard on the bundled recorded snapshot (no Docker needed)."
)
@click.option(
    "--snapshot",
    "snapshot_files",
    multiple=True,
    metavar="[NAME=]FILE",
    help="Open the dashboard on a snapshot file written by `dockwire snapshot`; repeat with NAME=FILE for "
    "several hosts.",
)
@click.pass_context
@friendly_errors()
def main(
    ctx: click.Context,
    host: tuple[str, ...],
    context: tuple[str, ...],
    demo: bool,
    snapshot_files: tuple[str, ...],
) -> None:
    """dockwire: see why a container can or cannot reach another.

    With no command, opens the live dashboard on the local Docker host.
    """
    if ctx.invoked_subcommand is not None:
        return
    from dockwire.sources import open_source

    if len(snapshot_files) > 1 or len(host) + len(context) > 1 or context:
        raise DockwireError("the dashboard shows one host for now; give one --snapshot or -H")
    source = open_source(
        host=docker_host(ctx), demo=demo, snapshot=snapshot_files[0] if snapshot_files else None
    )
    from dockwire.tui.app import run_app

    run_app(source)


for command in (snapshot, why, matrix, probe, lab):
    main.add_command(command)
