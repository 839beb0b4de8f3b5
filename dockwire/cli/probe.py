"""`dockwire probe SRC DST`: send real packets and show which rule the kernel says judged them.

Exit codes as for `why`: 0 the destination answered, 1 blocked/refused/unreachable, 2 usage or environment
error, 3 cannot tell (silence without a dropping rule).
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import click

from dockwire.cli.common import (
    EXIT_BLOCKED,
    EXIT_OK,
    EXIT_UNCERTAIN,
    docker_host,
    family_options,
    friendly_errors,
    require_live,
)

if TYPE_CHECKING:
    from dockwire.actions.result import ProbeResult


def exit_code(outcome: str) -> int:
    from dockwire.actions.interpret import OK_OUTCOMES, UNCERTAIN_OUTCOMES

    if outcome in OK_OUTCOMES:
        return EXIT_OK
    return EXIT_UNCERTAIN if outcome in UNCERTAIN_OUTCOMES else EXIT_BLOCKED


async def _collect_and_probe(host: str | None, src: str, dst: str, **options: Any) -> ProbeResult:
    import asyncio

    from dockwire.actions.runner import run_probe
    from dockwire.collect import collect
    from dockwire.docker_client import connect

    client = await asyncio.to_thread(connect, host)
    model = await collect(client)
    return await run_probe(model, client, src, dst, **options)


@click.command()
@click.argument("src")
@click.argument("dst")
@click.option(
    "--proto",
    type=click.Choice(["icmp", "tcp", "udp", "dns", "trace"]),
    default="icmp",
    show_default=True,
    help="icmp echo, tcp SYN, udp datagram, dns query for the name DST, or a TTL-stepped trace.",
)
@click.option(
    "--port", type=click.IntRange(1, 65535), default=None, help="Destination port (tcp, udp; trace uses tcp)."
)
@click.option("--count", type=click.IntRange(1, 10), default=1, show_default=True, help="Packets to send.")
@click.option(
    "--timeout",
    type=click.FloatRange(0.1, 5.0),
    default=1.0,
    show_default=True,
    help="Seconds to wait for each answer.",
)
@click.option(
    "--max-hops", type=click.IntRange(1, 16), default=8, show_default=True, help="trace: TTL limit."
)
@click.option("--server", metavar="IP", default=None, help="dns: ask this resolver instead of SRC's own.")
@family_options(
    "IPv4 or IPv6 address of a dual-stack container (dns: A or AAAA); an address given decides itself."
)
@click.option("--no-trace", is_flag=True, help="Read-only: add no trace rule, report no kernel evidence.")
@click.option("--no-static", is_flag=True, help="Do not compare with the static verdict.")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
@click.option(
    "--outside",
    metavar="NETNS",
    envvar="DOCKWIRE_OUTSIDE_NETNS",
    default=None,
    help="The network namespace (under /run/netns) that SRC `outside` sends from ($DOCKWIRE_OUTSIDE_NETNS).",
)
@click.option("-v", "--verbose", is_flag=True, help="Show every traced packet.")
@click.pass_context
@friendly_errors(cleanup="trace rules removed")
def probe(
    ctx: click.Context,
    src: str,
    dst: str,
    proto: str,
    port: int | None,
    count: int,
    timeout: float,
    max_hops: int,
    server: str | None,
    family: str | None,
    no_trace: bool,
    no_static: bool,
    as_json: bool,
    outside: str | None,
    verbose: bool,
) -> None:
    """Send real packets from SRC to DST and show what the kernel did with them.

    SRC: a container, `host`, a named network namespace (netns:NAME), or `outside` (the namespace given
    with --outside). DST: a container, an IPv4 or IPv6 address, `host`, ADDRESS:PORT or [IPV6]:PORT;
    for --proto dns, the name to look up (-6: its AAAA record). Needs root. The temporary trace rules
    carry the comment dockwire-trace-<run id> and are removed when the probe ends.
    """
    require_live(ctx, "probe (it sends real packets)")
    from dockwire.actions.netns_exec import check_privileges
    from dockwire.actions.runner import check_args, split_destination

    dst, proto, port = split_destination(dst, proto, port)
    check_args(proto, port, count, timeout, max_hops)
    check_privileges(need_trace=not no_trace)
    import asyncio

    # SIGTERM reaches here as a cancellation (run_probe turns it into one), after the trace rules are gone.
    result = asyncio.run(
        _collect_and_probe(
            docker_host(ctx),
            src,
            dst,
            proto=proto,
            port=port,
            count=count,
            trace=not no_trace,
            timeout=timeout,
            max_hops=max_hops,
            server=server,
            static=not no_static,
            outside=outside,
            family=int(family) if family else None,
        )
    )
    import msgspec

    from dockwire.actions.render import render_text
    from dockwire.text import safe_json

    if as_json:
        sys.stdout.buffer.write(safe_json(msgspec.json.format(msgspec.json.encode(result))) + b"\n")
    else:
        click.echo(render_text(result, verbose=verbose))
    sys.exit(exit_code(result.outcome))
