"""SRC and DST across several hosts: `CONTAINER@HOST`, or a plain name when it is unique across hosts.

`web@a`, `db@b:5432` (also `db:5432@b`), `host@b`, `outside@b`, `10.199.0.2` (the host whose container or
interface has it). `host`, `outside` and `name:X` without a host mean the other end's host.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from ipaddress import IPv4Address

from dockwire.fleet import Fleet
from dockwire.verdict.endpoints import (
    EndpointError,
    FlowEnd,
    container_by_ip,
    find_container,
    host_addresses,
    resolve_endpoint,
)
from dockwire.verdict.routing import LOOPBACK_NET

KEYWORDS = ("host", "outside", "name")


@dataclass(frozen=True, slots=True)
class HostEnd:
    """One end of a flow and the host it is on."""

    host: str
    end: FlowEnd


def split_host(text: str) -> tuple[str, str | None]:
    """`web@b:80` -> (`web:80`, `b`); text without `@` -> (text, None)."""
    raw = text.strip()
    if "@" not in raw:
        return raw, None
    head, _, tail = raw.rpartition("@")
    name, _, port = tail.partition(":")
    if not head or not name:
        raise EndpointError(f"{raw!r}: write NAME@HOST, e.g. web@a (or web@a:80)")
    if port and ":" in head:
        raise EndpointError(f"{raw!r}: give the port once (web@a:80 or web:80@a)")
    return (f"{head}:{port}" if port else head), name


def _address(text: str) -> IPv4Address | None:
    head = text.partition(":")[0] if text.count(":") == 1 else text
    try:
        return IPv4Address(head)
    except ValueError:
        return None


def _holders(fleet: Fleet, addr: IPv4Address) -> list[str]:
    """The hosts with a container or an interface that has `addr`."""
    return [
        name
        for name, model in fleet
        if container_by_ip(model, str(addr)) is not None or addr in host_addresses(model)
    ]


def _host_for_address(fleet: Fleet, text: str, addr: IPv4Address, near: str | None) -> str:
    if addr in LOOPBACK_NET and near is not None:
        return near
    holders = _holders(fleet, addr)
    if near is not None and near in holders:
        return near
    if len(holders) == 1:
        return holders[0]
    if holders:
        return _ambiguous(text, holders)
    if near is not None:
        return near  # an address outside every known host, as the source's host sees it
    raise EndpointError(f"{text!r}: no host has that address ({', '.join(fleet.names)})")


def _ambiguous(text: str, hosts: list[str]) -> str:
    spelled = " or ".join(f"{text}@{h}" for h in hosts)
    raise EndpointError(f"{text!r} is on hosts {', '.join(hosts)}: say {spelled}")


def _host_for_container(fleet: Fleet, text: str) -> str:
    ident = text.partition(":")[0]
    found: list[str] = []
    errors: list[EndpointError] = []
    for name, model in fleet:
        try:
            find_container(model, ident)
        except EndpointError as exc:
            errors.append(exc)
        else:
            found.append(name)
    if len(found) == 1:
        return found[0]
    if found:
        exact = [n for n in found if any(c.name == ident for c in fleet.model(n).containers)]
        return exact[0] if len(exact) == 1 else _ambiguous(ident, found)
    every = sorted({f"{c.name}@{name}" for name, model in fleet for c in model.containers})
    close = difflib.get_close_matches(ident, [e.partition("@")[0] for e in every], n=5, cutoff=0.5)
    if close:
        hint = "did you mean " + ", ".join(e for e in every if e.partition("@")[0] in close) + "?"
    else:
        hint = f"hosts: {', '.join(fleet.names)}"
    raise EndpointError(f"{ident!r} is not a container on any host, an IP, 'host' or 'outside'; {hint}")


def needs_near(text: str) -> bool:
    """True when `text` names no host and means the other end's (`host`, `outside`, `name:X`)."""
    try:
        plain, host = split_host(text)
    except EndpointError:
        return False
    return host is None and plain.partition(":")[0].lower() in KEYWORDS


def resolve_on_fleet(fleet: Fleet, text: str, role: str = "dst", near: str | None = None) -> HostEnd:
    """Resolve SRC/DST text on the host it names; `near` is the other end's host, for ends that need one.

    Text whose part after `@` is no host's name is taken whole (a name from a snapshot may hold an `@`)."""
    try:
        plain, host = split_host(text)
    except EndpointError:
        plain, host = text.strip(), None
    if host is not None and host not in fleet.hosts:
        try:
            return _resolve_plain(fleet, text.strip(), role, near)
        except EndpointError:
            fleet.model(host)  # raises: no host of that name
            raise
    if host is None:
        return _resolve_plain(fleet, plain, role, near)
    return HostEnd(host, resolve_endpoint(fleet.model(host), plain, role))


def _resolve_plain(fleet: Fleet, plain: str, role: str, near: str | None) -> HostEnd:
    host: str | None = None
    if not fleet.several:
        host = fleet.first()[0]
    if host is None:
        addr = _address(plain)
        if plain.partition(":")[0].lower() in KEYWORDS:
            if near is None:
                raise EndpointError(
                    f"{plain!r}: which host? say {plain}@{fleet.names[0]} (hosts: {', '.join(fleet.names)})"
                )
            host = near
        elif addr is not None:
            host = _host_for_address(fleet, plain, addr, near)
        else:
            host = _host_for_container(fleet, plain)
    return HostEnd(host, resolve_endpoint(fleet.model(host), plain, role))


def resolve_pair(fleet: Fleet, src: str, dst: str) -> tuple[HostEnd, HostEnd]:
    """Both ends of a question; an end that needs a host takes the other end's."""
    if needs_near(src) and not needs_near(dst):
        d = resolve_on_fleet(fleet, dst, "dst")
        return resolve_on_fleet(fleet, src, "src", near=d.host), d
    s = resolve_on_fleet(fleet, src, "src")
    return s, resolve_on_fleet(fleet, dst, "dst", near=s.host)


__all__ = ["HostEnd", "needs_near", "resolve_on_fleet", "resolve_pair", "split_host"]
