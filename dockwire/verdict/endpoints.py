"""What SRC and DST name: a container, the host, an outside client, a published port, or a DNS name.

`resolve_endpoint(model, text)` accepts a container name, id (prefix) or IP (IPv4 or IPv6); `host` or a host
IP; `outside` or `outside:ADDR`; for a destination also `HOSTIP:PORT` (a published port; `[IPv6]:PORT`),
`NAME:PORT` and `name:OTHER` (does OTHER resolve from SRC?). Unknown or ambiguous text raises
`EndpointError` listing the candidates.
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from ipaddress import ip_address

from dockwire.errors import DockwireError
from dockwire.model import Container, HostModel
from dockwire.verdict.packet import IPAddress
from dockwire.verdict.routing import is_loopback, network_of

# Where an outside client without a given address is assumed to be (TEST-NET-3, routed by the default route).
DEFAULT_OUTSIDE = "203.0.113.10"
# The same for an IPv6 flow (the documentation prefix 2001:db8::/32).
DEFAULT_OUTSIDE6 = "2001:db8::10"
KINDS = ("container", "host", "outside", "published", "dns")


class EndpointError(DockwireError):
    """SRC or DST does not name exactly one thing; the message lists what it could be."""


@dataclass(frozen=True, slots=True)
class FlowEnd:
    """One resolved end of a flow: SRC or DST as the user named it (not a Docker network endpoint, which is
    `dockwire.model.Endpoint`)."""

    kind: str  # one of KINDS
    text: str
    container: Container | None = None
    # A specific address: the container IP the user typed, a host IP, the outside client's address.
    address: str = ""
    # Port given as part of the text (HOSTIP:PORT, NAME:PORT).
    port: int | None = None
    # For kind "dns": the name to resolve.
    name: str = ""
    # For kind "outside": True when the user gave no address (DEFAULT_OUTSIDE stands in).
    assumed_address: bool = False

    @property
    def label(self) -> str:
        if self.kind == "container" and self.container is not None:
            return self.container.name + (f" ({self.address})" if self.address else "")
        if self.kind == "host":
            return f"host ({self.address})" if self.address else "host"
        if self.kind == "outside":
            return "outside" if self.assumed_address else f"outside ({self.address})"
        if self.kind == "published":
            where = f"[{self.address}]" if ":" in self.address else self.address or "host"
            return f"{where}:{self.port}"
        return f"name:{self.name}"


def _address(text: str) -> IPAddress | None:
    """An IPv4 or IPv6 address (IPv6 also in brackets); None for anything else."""
    if text.startswith("[") and text.endswith("]"):
        text = text[1:-1]
    try:
        return ip_address(text)
    except ValueError:
        return None


def host_addresses(model: HostModel) -> set[IPAddress]:
    addrs: set[IPAddress] = {ip_address(a.address) for i in model.host.interfaces for a in i.addresses}
    for route in model.host.routes:
        if route.table == 255 and route.type == "local":
            net = network_of(route.dst, route.family)
            if net is not None and net.prefixlen == net.max_prefixlen:
                addrs.add(net.network_address)
    return addrs


def is_host_address(model: HostModel, addr: IPAddress) -> bool:
    return is_loopback(addr) or addr in host_addresses(model)


def container_by_ip(model: HostModel, addr: str) -> Container | None:
    """The container whose own endpoint has this IP (not a container sharing its namespace)."""
    parsed = _address(addr)
    for c in model.containers:
        if c.netns_owner:
            continue
        if any(ep.ip == addr or (ep.ipv6 and _address(ep.ipv6) == parsed) for ep in c.endpoints):
            return c
    if parsed is None or is_loopback(parsed):
        return None
    for c in model.containers:  # an address found inside its namespace
        if any(_address(a.address) == parsed for i in c.interfaces for a in i.addresses):
            return c
    return None


# The exact names and ids of the last few models' containers (a matrix asks for each one thousands of times).
_BY_NAME: list[tuple[HostModel, dict[str, list[Container]]]] = []
_BY_NAME_SIZE = 4


def _by_name(model: HostModel) -> dict[str, list[Container]]:
    """Name or id -> the containers with that exact name or id, in model order."""
    for cached, found in _BY_NAME:
        if cached is model:
            return found
    index: dict[str, list[Container]] = {}
    for c in model.containers:
        for key in dict.fromkeys((c.name, c.id)):
            index.setdefault(key, []).append(c)
    _BY_NAME.insert(0, (model, index))
    del _BY_NAME[_BY_NAME_SIZE:]
    return index


def find_container(model: HostModel, ident: str) -> Container:
    """A container by exact name, id, or unique id/name prefix; EndpointError otherwise."""
    ident = ident.lstrip("/")
    exact = _by_name(model).get(ident, [])
    if len(exact) == 1:
        return exact[0]
    by_id = [c for c in model.containers if len(ident) >= 3 and c.id.startswith(ident)]
    by_name = [c for c in model.containers if c.name.startswith(ident)]
    candidates = by_id or by_name
    if len(candidates) == 1:
        return candidates[0]
    if len(candidates) > 1:
        listed = ", ".join(sorted(f"{c.name} ({c.id[:12]})" for c in candidates))
        raise EndpointError(f"{ident!r} is ambiguous: it matches {listed}")
    names = [c.name for c in model.containers]
    close = difflib.get_close_matches(ident, names, n=5, cutoff=0.5)
    if close:
        hint = f"did you mean {', '.join(close)}?"
    elif names:
        shown = ", ".join(sorted(names)[:12]) + (" ..." if len(names) > 12 else "")
        hint = f"containers: {shown}"
    else:
        hint = "there are no containers"
    raise EndpointError(f"{ident!r} is not a container, IP, 'host' or 'outside[:ADDR]'; {hint}")


def _from_address(model: HostModel, text: str, addr: IPAddress, port: int | None) -> FlowEnd:
    owner = container_by_ip(model, str(addr))
    if owner is not None:
        return FlowEnd("container", text, container=owner, address=str(addr), port=port)
    if is_host_address(model, addr):
        kind = "published" if port is not None else "host"
        return FlowEnd(kind, text, address=str(addr), port=port)
    return FlowEnd("outside", text, address=str(addr), port=port)


def _port(text: str, whole: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise EndpointError(f"{whole!r}: {text!r} is not a port number") from None
    if not 0 < port < 65536:
        raise EndpointError(f"{whole!r}: port {port} is out of range (1-65535)")
    return port


def resolve_endpoint(model: HostModel, text: str, role: str = "dst") -> FlowEnd:
    """Resolve SRC (`role="src"`) or DST text to a FlowEnd; EndpointError when unknown or ambiguous."""
    raw = text.strip()
    if not raw:
        raise EndpointError(f"empty {role.upper()}")
    lowered = raw.lower()
    if lowered == "host":
        return FlowEnd("host", raw)
    if lowered == "outside":
        return FlowEnd("outside", raw, address=DEFAULT_OUTSIDE, assumed_address=True)
    head, sep, tail = raw.partition(":")
    if sep and head.lower() in ("outside",):
        addr = _address(tail)
        if addr is None:
            raise EndpointError(f"{raw!r}: {tail!r} is not an IP address")
        return FlowEnd("outside", raw, address=str(addr))
    if raw.startswith("["):
        return _bracketed(model, raw, role)
    if sep and head.lower() == "name":
        if role == "src":
            raise EndpointError(f"{raw!r}: a DNS name can only be a destination")
        if not tail:
            raise EndpointError(f"{raw!r}: give the name to resolve, e.g. name:db")
        return FlowEnd("dns", raw, name=tail)
    if sep and raw.count(":") == 1:
        if role == "src":
            raise EndpointError(f"{raw!r}: a port can only be given for the destination")
        port = _port(tail, raw)
        if head.lower() == "host":
            return FlowEnd("published", raw, port=port)
        addr = _address(head)
        if addr is not None:
            return _from_address(model, raw, addr, port)
        c = find_container(model, head)
        return FlowEnd("container", raw, container=c, port=port)
    addr = _address(raw)
    if addr is not None:
        return _from_address(model, raw, addr, None)
    if sep:
        raise EndpointError(
            f"{raw!r} is not an IPv6 address; write an IPv6 address with a port as [ADDR]:PORT"
        )
    return FlowEnd("container", raw, container=find_container(model, raw))


def _bracketed(model: HostModel, raw: str, role: str) -> FlowEnd:
    """`[IPv6]` or `[IPv6]:PORT`."""
    inside, close, rest = raw[1:].partition("]")
    addr = _address(inside) if close else None
    if addr is None or addr.version != 6:
        raise EndpointError(f"{raw!r}: brackets hold an IPv6 address, as in [fd00::2]:80")
    if not rest:
        return _from_address(model, raw, addr, None)
    if not rest.startswith(":"):
        raise EndpointError(f"{raw!r}: after [ADDR] comes :PORT")
    if role == "src":
        raise EndpointError(f"{raw!r}: a port can only be given for the destination")
    return _from_address(model, raw, addr, _port(rest[1:], raw))


def namespaces_for(model: HostModel, src: str, dst: str) -> set[str] | None:
    """The ids of the containers whose namespaces a verdict from SRC to DST reads, told from Docker's part of
    `model` alone: the two containers and whoever shares a namespace with them. None (read every one) when
    Docker's data cannot tell: a DNS name, a published port (whose container the DNAT picks), an address no
    Docker endpoint has, or text that does not resolve (the full model then gives the error)."""
    ids: set[str] = set()
    for text, role in ((src, "src"), (dst, "dst")):
        try:
            end = resolve_endpoint(model, text, role)
        except EndpointError:
            return None
        if end.kind in ("dns", "published") or (end.kind == "outside" and not end.assumed_address):
            return None
        if end.kind == "container" and end.container is not None:
            ids.add(end.container.id)
    by_id = {c.id: c for c in model.containers}
    for start in list(ids):  # up the container:X chain to the namespace's owner
        owner = by_id.get(start)
        while owner is not None and owner.netns_owner and owner.netns_owner not in ids:
            ids.add(owner.netns_owner)
            owner = by_id.get(owner.netns_owner)
    return ids | {c.id for c in model.containers if c.netns_owner in ids}
