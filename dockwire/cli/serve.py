"""`dockwire serve`: keep this host's live model in memory and answer `why` from it at once."""

from __future__ import annotations

import click

from dockwire.cli.common import docker_host, friendly_errors, require_live
from dockwire.errors import DockwireError


@click.command()
@click.option("-v", "--verbose", is_flag=True, help="Also print each change the live model takes in.")
@click.pass_context
@friendly_errors(cleanup="socket removed")
def serve(ctx: click.Context, verbose: bool) -> None:
    """Follow this host live and answer `dockwire why` from memory.

    While it runs, `dockwire why` on this engine asks it instead of reading the host (about a tenth of the
    time). Before each answer the model takes in what the host announced (Docker events, netlink and
    nf_tables notifications) and reads again what nothing announces: the sysctls, the namespaces of the
    containers the question names, and the firewall when it has legacy iptables rules or ipsets.
    `why --cold` reads the host itself. Stop with Ctrl-C.
    """
    require_live(ctx, "serve")
    url = docker_host(ctx)
    from dockwire.hosts import spec_for_docker_host

    if spec_for_docker_host(url).kind != "local":
        raise DockwireError("serve follows an engine on this machine (-H unix://...); this one is not")
    import asyncio

    from dockwire.docker_client import connect
    from dockwire.resident.server import serve as serve_forever

    client = connect(url)
    asyncio.run(serve_forever(client, url, lambda line: click.echo(line, err=True), verbose))
