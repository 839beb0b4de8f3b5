"""The root `dockwire` group: the dashboard when no command is given, and every command registered on it."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

import click

from dockwire.cli.common import docker_host, friendly_errors
from dockwire.cli.lab import lab
from dockwire.cli.probe import probe
from dockwire.cli.serve import serve
from dockwire.cli.snapshot import snapshot
from dockwire.cli.verdicts import matrix, why

if TYPE_CHECKING:
    from dockwire.sources import FleetSource


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
    "--ssh-config",
    envvar="DOCKWIRE_SSH_CONFIG",
    type=click.Path(dir_okay=False, exists=True),
    metavar="FILE",
    help="An ssh client config (ssh -F) for the ssh:// hosts: their user, key, known_hosts, jump host.",
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
    ssh_config: str | None,
    demo: bool,
    snapshot_files: tuple[str, ...],
) -> None:
    """dockwire: see why a container can or cannot reach another.

    With no command, opens the live dashboard on the local Docker host.
    """
    if ssh_config:
        os.environ["DOCKWIRE_SSH_CONFIG"] = os.path.abspath(ssh_config)  # every ssh this process starts
    if ctx.invoked_subcommand is not None:
        return
    from dockwire.sources import ModelSource, open_source

    source: ModelSource | FleetSource
    if len(snapshot_files) > 1:
        source = _snapshot_fleet_source(snapshot_files)
    elif len(host) + len(context) > 1 or context:
        from dockwire.hosts import context_host, parse_host_option
        from dockwire.sources import live_fleet_source

        specs = [parse_host_option(text) for text in host] + [context_host(name) for name in context]
        source = live_fleet_source(specs)
    else:
        source = open_source(
            host=docker_host(ctx), demo=demo, snapshot=snapshot_files[0] if snapshot_files else None
        )
    from dockwire.tui.app import run_app

    run_app(source)


def _snapshot_fleet_source(files: tuple[str, ...]) -> FleetSource:
    """The dashboard over several snapshot files, NAME=FILE each (as `why --snapshot` reads them)."""
    from dockwire.cli.common import _snapshot_fleet, split_named
    from dockwire.sources import snapshot_fleet_source

    fleet = _snapshot_fleet(files)
    paths = [split_named(text)[1] if split_named(text)[0] in fleet.hosts else text for text in files]
    return snapshot_fleet_source(list(fleet), paths)


for command in (snapshot, why, matrix, probe, serve, lab):
    main.add_command(command)
