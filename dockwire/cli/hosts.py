"""Live hosts for the commands: the local engine, a daemon URL, or several named hosts read at once.

A model's Docker part and host part always come from the same host: the local socket gives both, an
`ssh://` host is read by dockwire on that host, and any other daemon URL gives the Docker part only (the
host part is marked stale with the reason; see `dockwire.remote`).
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any, TypeVar

from dockwire.fleet import Fleet
from dockwire.model import HostModel

T = TypeVar("T")


def run_read(read: Coroutine[Any, Any, T]) -> T:
    """`asyncio.run(read)`, with the result kept out of the main task.

    At its end asyncio.run puts back the SIGINT handler, and the signal module formats the old one (which
    holds the main task, result and all) into the message of an error it then discards: the full repr of
    a 200-container / 10,000-rule model, about 0.2 s of every command.
    """
    box: list[T] = []

    async def main() -> None:
        box.append(await read)

    asyncio.run(main())
    return box[0]


def collect_url(url: str | None, question: tuple[str, str] | None = None) -> HostModel:
    """One host read live. A `question` (SRC, DST) lets a local read skip the namespaces its verdict does not
    visit."""
    from dockwire.hosts import spec_for_docker_host

    spec = spec_for_docker_host(url)
    if spec.kind != "local":
        from dockwire.remote import collect_host

        return run_read(collect_host(spec)).model
    from dockwire.reader_process import ReaderProcess

    # First, before any thread: the reader lists nf_tables and reads the host's netlink on the other core
    # (importing pyroute2 there) while this process imports the docker SDK and the rest.
    reader = ReaderProcess.start()
    try:
        from dockwire.collect import NamespaceChoice, collect
        from dockwire.docker_client import connect

        client = connect(url)
        choose: NamespaceChoice | None = None
        if question is not None:
            from dockwire.verdict.endpoints import namespaces_for
            from dockwire.verdict.fleet_ends import split_host

            src, dst = (split_host(text)[0] for text in question)
            choose = lambda docker_part: namespaces_for(docker_part, src, dst)  # noqa: E731
        return run_read(collect(client, choose, reader=reader))
    finally:
        if reader is not None:
            reader.close()


def live_fleet(hosts: tuple[str, ...], contexts: tuple[str, ...]) -> Fleet:
    """The hosts of -H [NAME=]URL and --context NAME, each read on its own host, all at once."""
    from dockwire.hosts import context_host, parse_host_option
    from dockwire.remote import HostReading, collect_host

    specs = [parse_host_option(text) for text in hosts] + [context_host(name) for name in contexts]

    async def read_all() -> list[HostReading]:
        return list(await asyncio.gather(*(collect_host(spec) for spec in specs)))

    return Fleet.of([(r.name, r.model) for r in run_read(read_all())])
