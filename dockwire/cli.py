"""The `dockwire` command: parses arguments and dispatches; the work lives in the core modules.

Exit codes: 0 ok/allowed, 1 blocked, 2 usage or environment error, 3 uncertain.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dockwire import __version__
from dockwire.errors import DockwireError

EXIT_OK, EXIT_BLOCKED, EXIT_ERROR, EXIT_UNCERTAIN = 0, 1, 2, 3

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(func: F) -> F:
    """Turn dockwire's own errors into one line on stderr and exit 2, never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except DockwireError as exc:
            click.echo(f"dockwire: {exc}", err=True)
            sys.exit(EXIT_ERROR)
        except KeyboardInterrupt:
            click.echo("dockwire: interrupted", err=True)
            sys.exit(130)

    return wrapper  # type: ignore[return-value]


def warn_stale(stale: dict[str, str]) -> None:
    """Name, on stderr, each part of the model that could not be read, and why."""
    for part, reason in sorted(stale.items()):
        click.echo(f"dockwire: warning: {part}: {reason}", err=True)


def _host(ctx: click.Context) -> str | None:
    return ctx.find_root().params.get("host")


@click.group(invoke_without_command=True, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", prog_name="dockwire")
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
@friendly_errors
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


@main.command()
@click.option(
    "-o",
    "--output",
    type=click.Path(dir_okay=False, allow_dash=True),
    default="-",
    metavar="FILE",
    help="Write to FILE instead of standard output.",
)
@click.pass_context
@friendly_errors
def snapshot(ctx: click.Context, output: str) -> None:
    """Write the host's network model as JSON."""
    from dockwire.collect import collect
    from dockwire.docker_client import connect
    from dockwire.snapshot import dumps, save

    client = connect(_host(ctx))
    model = asyncio.run(collect(client))
    if output == "-":
        sys.stdout.buffer.write(dumps(model))
    else:
        save(model, output)
        click.echo(
            f"wrote {output} ({len(model.containers)} containers, {len(model.networks)} networks)", err=True
        )
    warn_stale(model.stale)


@main.group()
def lab() -> None:
    """Create, remove or list the teaching scenarios on the local engine (needs root)."""


def _lab_run(ctx: click.Context, action: str) -> None:
    from dockwire import lab as lab_mod
    from dockwire.docker_client import connect

    client = connect(_host(ctx))
    try:
        report = getattr(lab_mod, f"lab_{action}")(client)
    except lab_mod.LabError as exc:
        raise DockwireError(str(exc)) from None
    click.echo(str(report))


@lab.command("up")
@click.pass_context
@friendly_errors
def lab_up(ctx: click.Context) -> None:
    """Build every scenario (idempotent)."""
    _lab_run(ctx, "up")


@lab.command("down")
@click.pass_context
@friendly_errors
def lab_down(ctx: click.Context) -> None:
    """Remove exactly what `lab up` created."""
    _lab_run(ctx, "down")


@lab.command("status")
@click.pass_context
@friendly_errors
def lab_status(ctx: click.Context) -> None:
    """List the scenario objects and whether they are present."""
    _lab_run(ctx, "status")


from dockwire.probe.cli import probe  # noqa: E402

main.add_command(probe)

from dockwire.verdict.cli import matrix, why  # noqa: E402

main.add_command(why)
main.add_command(matrix)
