"""What every command shares: exit codes, the one error policy, stale warnings and where a model comes from.

Exit codes: 0 ok/allowed, 1 blocked, 2 usage or environment error, 3 uncertain.
"""

from __future__ import annotations

import functools
import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dockwire.errors import DockwireError
from dockwire.model import HostModel
from dockwire.text import safe

if TYPE_CHECKING:
    from dockwire.fleet import Fleet

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
            except BaseException as exc:
                if not _cancelled(exc):
                    raise
                click.echo(f"dockwire: terminated{suffix}", err=True)
                sys.exit(EXIT_TERMINATED)

        return wrapper  # type: ignore[return-value]

    return decorate


def _cancelled(exc: BaseException) -> bool:
    """An asyncio cancellation: only possible once asyncio is imported, so a command that never runs an event
    loop does not import it (some 40 ms of every start)."""
    asyncio = sys.modules.get("asyncio")
    return asyncio is not None and isinstance(exc, asyncio.CancelledError)


def warn_stale(stale: dict[str, str]) -> None:
    """Name, on stderr, each part of the model that could not be read, and why."""
    for part, reason in sorted(stale.items()):
        click.echo(f"dockwire: warning: {safe(part)}: {safe(reason)}", err=True)


def docker_host(ctx: click.Context) -> str | None:
    """The one daemon URL given to the root command (-H/--host or $DOCKER_HOST), for commands that act on
    one host; DockwireError when several hosts were given."""
    root = ctx.find_root().params
    hosts: tuple[str, ...] = root.get("host") or ()
    contexts: tuple[str, ...] = root.get("context") or ()
    if len(hosts) + len(contexts) > 1 or contexts:
        raise DockwireError(
            f"{ctx.command_path} acts on one host reached directly: give at most one -H URL (no --context)"
        )
    return split_named(hosts[0])[1] if hosts else None


def resident_may_answer(ctx: click.Context) -> bool:
    """Whether the root command names one engine reached directly (no snapshot, demo, several hosts or
    context), so that a resident dockwire following it may answer (`dockwire.resident`)."""
    root = ctx.find_root().params
    hosts: tuple[str, ...] = root.get("host") or ()
    if root.get("demo") or root.get("snapshot_files") or root.get("context") or len(hosts) > 1:
        return False
    return not hosts or split_named(hosts[0])[0] is None


def require_live(ctx: click.Context, what: str) -> None:
    """`what` acts on the live host: refuse it when the root command was given a snapshot or the demo."""
    root = ctx.find_root().params
    if root.get("demo") or root.get("snapshot_files"):
        given = "--demo" if root.get("demo") else "--snapshot"
        raise DockwireError(f"{what} acts on the live host; it does not take {given} (a recorded snapshot)")


def split_named(text: str) -> tuple[str | None, str]:
    """`NAME=VALUE` -> (NAME, VALUE); a value without a usable name before `=` -> (None, text)."""
    from dockwire.fleet import HOST_NAME

    name, sep, value = text.partition("=")
    if sep and HOST_NAME.match(name) and "/" not in name and value:
        return name, value
    return None, text


def _snapshot_fleet(files: tuple[str, ...]) -> Fleet:
    from dockwire.fleet import Fleet, default_host_name
    from dockwire.snapshot import SnapshotError, load

    named: list[tuple[str | None, HostModel]] = []
    for text in files:
        name, path = split_named(text)
        if name is not None and not os.path.exists(path) and os.path.exists(text):
            name, path = None, text  # a file whose name has '=' in it
        try:
            named.append((name, load(path)))
        except SnapshotError as exc:
            raise DockwireError(str(exc)) from None
    taken = {n for n, _ in named if n is not None}
    resolved: list[tuple[str, HostModel]] = []
    for name, model in named:
        if name is None:
            name = default_host_name(model, taken)
            taken.add(name)
        resolved.append((name, model))
    return Fleet.of(resolved)


def load_fleet(
    ctx: click.Context, snapshot_files: tuple[str, ...] = (), question: tuple[str, str] | None = None
) -> Fleet:
    """Every host the command reasons over: the command's --snapshot files (else the root's, or --demo),
    else the live hosts the root group names (-H NAME=URL, --context), else the local one. Given snapshots,
    no host is touched.

    A `question` (SRC, DST) lets a live read of one host skip the namespaces that verdict does not visit."""
    from dockwire.fleet import Fleet, default_host_name

    root = ctx.find_root().params
    files = snapshot_files or tuple(root.get("snapshot_files") or ())
    if files:
        return _snapshot_fleet(files)
    if root.get("demo"):
        from dockwire.snapshot import load_demo

        demo = load_demo()
        return Fleet.of([(default_host_name(demo, set()), demo)])
    hosts: tuple[str, ...] = root.get("host") or ()
    contexts: tuple[str, ...] = root.get("context") or ()
    if len(hosts) + len(contexts) > 1 or contexts or any(split_named(h)[0] for h in hosts):
        from dockwire.cli.hosts import live_fleet

        return live_fleet(hosts, contexts)
    from dockwire.cli.hosts import collect_url

    model = collect_url(hosts[0] if hosts else None, question)
    return Fleet.of([(default_host_name(model, set()), model)])


def load_model(
    ctx: click.Context, snapshot_files: tuple[str, ...] = (), question: tuple[str, str] | None = None
) -> HostModel:
    """The one host a command reasons over (see `load_fleet`); DockwireError when several were given."""
    fleet = load_fleet(ctx, snapshot_files, question)
    if fleet.several:
        raise DockwireError(
            f"{ctx.command_path} reads one host; {len(fleet)} were given ({', '.join(fleet.names)})"
        )
    return fleet.first()[1]


def warn_fleet_stale(fleet: Fleet) -> None:
    """`warn_stale` for each host, naming the host when there are several."""
    from dockwire.fleet import stale_warnings

    for line in stale_warnings(fleet):
        click.echo(line, err=True)


snapshot_option = click.option(
    "--snapshot",
    "snapshot_files",
    multiple=True,
    metavar="[NAME=]FILE",
    help="Reason over a snapshot file instead of the live host; repeat with NAME=FILE for several hosts.",
)


def family_options(help_text: str) -> Callable[[F], F]:
    """`--family 4|6` with its short forms `-4` and `-6`, all into the parameter `family` ("4", "6", None)."""

    def decorate(f: F) -> F:
        f = click.option("-6", "family", flag_value="6", help="Same as --family 6.")(f)
        f = click.option("-4", "family", flag_value="4", help="Same as --family 4.")(f)
        return click.option("--family", type=click.Choice(["4", "6"]), default=None, help=help_text)(f)

    return decorate
