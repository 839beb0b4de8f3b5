"""What every command shares: exit codes, the one error policy, stale warnings and where a model comes from.

Exit codes: 0 ok/allowed, 1 blocked, 2 usage or environment error, 3 uncertain.
"""

from __future__ import annotations

import asyncio
import functools
import sys
from collections.abc import Callable
from typing import Any, TypeVar

import click

from dockwire.errors import DockwireError
from dockwire.model import HostModel
from dockwire.text import safe

EXIT_OK, EXIT_BLOCKED, EXIT_ERROR, EXIT_UNCERTAIN = 0, 1, 2, 3
EXIT_INTERRUPTED, EXIT_TERMINATED = 130, 143

F = TypeVar("F", bound=Callable[..., Any])


def friendly_errors(cleanup: str = "") -> Callable[[F], F]:
    """Turn dockwire's own errors into one line on stderr and exit 2, never a traceback. The message may
    name things on the host: it is escaped (`dockwire.text.safe`), so it stays one line of plain text.

    Ctrl-C exits 130 and SIGTERM (a cancellation) 143; `cleanup` says what was undone on the way out.
    """
    suffix = f" ({cleanup})" if cleanup else ""

    def decorate(func: F) -> F:
        @functools.wraps(func)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            try:
                return func(*args, **kwargs)
            except DockwireError as exc:
                click.echo(f"dockwire: {safe(str(exc))}", err=True)
                sys.exit(EXIT_ERROR)
            except KeyboardInterrupt:
                click.echo(f"dockwire: interrupted{suffix}", err=True)
                sys.exit(EXIT_INTERRUPTED)
            except asyncio.CancelledError:
                click.echo(f"dockwire: terminated{suffix}", err=True)
                sys.exit(EXIT_TERMINATED)

        return wrapper  # type: ignore[return-value]

    return decorate


def warn_stale(stale: dict[str, str]) -> None:
    """Name, on stderr, each part of the model that could not be read, and why."""
    for part, reason in sorted(stale.items()):
        click.echo(f"dockwire: warning: {safe(part)}: {safe(reason)}", err=True)


def docker_host(ctx: click.Context) -> str | None:
    """The daemon URL given to the root command (-H/--host or $DOCKER_HOST)."""
    host: str | None = ctx.find_root().params.get("host")
    return host


def require_live(ctx: click.Context, what: str) -> None:
    """`what` acts on the live host: refuse it when the root command was given a snapshot or the demo."""
    root = ctx.find_root().params
    if root.get("demo") or root.get("snapshot_file") is not None:
        given = "--demo" if root.get("demo") else "--snapshot"
        raise DockwireError(f"{what} acts on the live host; it does not take {given} (a recorded snapshot)")


def load_model(
    ctx: click.Context, snapshot_file: str | None, question: tuple[str, str] | None = None
) -> HostModel:
    """The model from a snapshot (the command's --snapshot, else the root's --snapshot or --demo), or
    collected live from the daemon the root group points at. Given a snapshot, the host is never touched.

    A `question` (SRC, DST) lets a live read skip the namespaces of containers that verdict does not visit."""
    root = ctx.find_root().params
    if snapshot_file is None:
        snapshot_file = root.get("snapshot_file")
    if snapshot_file is not None or root.get("demo"):
        from dockwire.snapshot import SnapshotError, load, load_demo

        try:
            return load(snapshot_file) if snapshot_file is not None else load_demo()
        except SnapshotError as exc:
            raise DockwireError(str(exc)) from None
    from dockwire.collect import collect
    from dockwire.docker_client import connect

    client = connect(docker_host(ctx))
    if question is None:
        return asyncio.run(collect(client))
    from dockwire.verdict.endpoints import namespaces_for

    return asyncio.run(collect(client, lambda docker_part: namespaces_for(docker_part, *question)))


snapshot_option = click.option(
    "--snapshot",
    "snapshot_file",
    type=click.Path(dir_okay=False),
    metavar="FILE",
    help="Reason over a snapshot file instead of the live host.",
)
