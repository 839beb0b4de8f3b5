"""Write a HostModel as versioned JSON and read it back, with clear errors for bad files.

Every way a snapshot can be unusable is a SnapshotError with a one-line message: no file given, not a regular
file (FIFOs, devices and directories are refused before anything is read, so nothing can block or run
forever), larger than MAX_SNAPSHOT_BYTES, not JSON, nested too deeply, a schema_version that is missing, not
an integer or not this dockwire's, a field of the wrong type, or an address that does not parse.

Addresses are checked at load time (a schema-valid snapshot must not crash the verdict engine later), with the
JSON path of the first bad one:
- networks[].subnets[]: subnet (a network), gateway (an address or ""), ip_range (a network or "");
- containers[].endpoints[]: ip and gateway (IPv4 or ""), ipv6 and ipv6_gateway (IPv6 or ""), prefixlen
  (0-32 or null), ipv6_prefixlen (0-128 or null);
- containers[].ports[].host_ip (an address or "");
- interfaces[].addresses[] of the host and of every container: address (of the record's family, 4 or 6) and
  prefixlen (0-32 or 0-128);
- routes of the host and of every container: dst ("default", "" or a network), gateway and prefsrc (an
  address or ""), all of the route's family (4 or 6);
- host.rules[]: src and dst (a network or "") of the rule's family.
Resolver data (dns.nameservers, dns.hosts[].ip) is kept as the container's files say, unchecked.
"""

from __future__ import annotations

import os
import stat
from importlib import resources
from ipaddress import IPv4Address, IPv4Network, IPv6Address, IPv6Network, ip_address, ip_network
from pathlib import Path
from typing import Any

import msgspec

from dockwire.gc_paused import gc_paused
from dockwire.model import SCHEMA_VERSION, Address, HostModel, Route, RoutingRule

DEMO_RESOURCE = "demo.json"
MAX_SNAPSHOT_BYTES = 256 * 1024 * 1024


class SnapshotError(Exception):
    """A snapshot file cannot be used; the message says why, in one line."""

    def __init__(self, message: str) -> None:
        super().__init__(one_line(message))


def one_line(text: str, limit: int = 400) -> str:
    """Text fit for a one-line message: unprintable characters (line breaks among them) escaped, and at most
    `limit` characters; file names and JSON keys in messages can hold anything."""
    if not text.isprintable():
        text = "".join(
            c if c.isprintable() else c.encode("unicode_escape", "backslashreplace").decode() for c in text
        )
    return text if len(text) <= limit else text[: limit - 3] + "..."


def dumps(model: HostModel) -> bytes:
    """Stable JSON: struct fields in declaration order, dict keys sorted, two-space indent."""
    raw = msgspec.json.encode(model, order="deterministic")
    return msgspec.json.format(raw, indent=2) + b"\n"


class _Header(msgspec.Struct):
    """The one field read before the rest: everything else is skipped, not built."""

    schema_version: Any = msgspec.UNSET


_header = msgspec.json.Decoder(_Header)
_model = msgspec.json.Decoder(HostModel)


def _too_large(where: str) -> SnapshotError:
    cap = MAX_SNAPSHOT_BYTES
    shown = f"{cap // 2**20} MiB" if cap % 2**20 == 0 else f"{cap} bytes"
    return SnapshotError(f"{where}: larger than {shown}, the most a snapshot file may be")


def _kind_of(value: Any) -> str:
    if isinstance(value, str):
        shown = value if len(value) <= 40 else value[:40] + "..."
        return f"the string {shown!r}"
    if isinstance(value, bool):
        return f"the boolean {str(value).lower()}"
    if value is None:
        return "null"
    if isinstance(value, float):
        return f"the number {value!r}"
    if isinstance(value, list):
        return "a list"
    return "an object"


def loads(data: bytes | bytearray | str, origin: str = "snapshot") -> HostModel:
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise _too_large(origin)
    try:
        header = _header.decode(data)
    except msgspec.ValidationError:
        raise SnapshotError(f"{origin}: not a dockwire snapshot (not a JSON object)") from None
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"{origin}: not valid JSON ({exc})") from None
    except UnicodeEncodeError as exc:  # text with lone surrogates has no UTF-8 form
        raise SnapshotError(f"{origin}: not valid JSON ({exc.reason})") from None
    except RecursionError:
        raise SnapshotError(f"{origin}: not a dockwire snapshot (JSON nested too deeply)") from None
    version = header.schema_version
    if version is msgspec.UNSET:
        raise SnapshotError(f"{origin}: not a dockwire snapshot (no schema_version field)")
    if type(version) is not int:
        raise SnapshotError(f"{origin}: schema_version must be an integer, got {_kind_of(version)}")
    if version != SCHEMA_VERSION:
        shown = str(version) if abs(version) < 10**12 else f"{str(version)[:12]}..."
        raise SnapshotError(
            f"{origin}: schema version {shown} is not supported (this dockwire reads {SCHEMA_VERSION})"
        )
    try:
        with gc_paused():  # without it, the collector's passes over the growing model take 85% of the time
            model = _model.decode(data)
    except msgspec.ValidationError as exc:
        raise SnapshotError(f"{origin}: invalid snapshot: {exc}") from None
    except msgspec.DecodeError as exc:
        raise SnapshotError(f"{origin}: not valid JSON ({exc})") from None
    except RecursionError:
        raise SnapshotError(f"{origin}: not a dockwire snapshot (JSON nested too deeply)") from None
    problem = check_addresses(model)
    if problem is not None:
        raise SnapshotError(f"{origin}: invalid snapshot: {problem}")
    return model


# --- address checks -----------------------------------------------------------------------------------------

_VERSIONS = {4: (IPv4Address, IPv4Network, 32), 6: (IPv6Address, IPv6Network, 128)}


class _Bad(Exception):
    def __init__(self, message: str, path: str) -> None:
        super().__init__(f"{message} - at `{path}`")


def _shown(text: str) -> str:
    return repr(text if len(text) <= 60 else text[:60] + "...")


def _address(text: str, path: str, family: int | None = None, empty: bool = True) -> None:
    """An address (of `family` when given); "" only when `empty`."""
    if empty and text == "":
        return
    try:
        addr = ip_address(text)
    except ValueError:
        raise _Bad(f"{_shown(text)} is not an IP address", path) from None
    if family is not None and addr.version != family:
        raise _Bad(f"{_shown(text)} is not an IPv{family} address", path)


def _network(text: str, path: str, family: int | None = None, also: tuple[str, ...] = ("",)) -> None:
    """A network or address (of `family` when given), or one of the words in `also`."""
    if text in also:
        return
    try:
        net = ip_network(text, strict=False)
    except ValueError:
        raise _Bad(f"{_shown(text)} is not an IP network", path) from None
    if family is not None and net.version != family:
        raise _Bad(f"{_shown(text)} is not an IPv{family} network", path)


def _family(value: int, path: str) -> int:
    if value not in _VERSIONS:
        raise _Bad(f"family {value} is neither 4 nor 6", path)
    return value


def _prefixlen(value: int | None, maximum: int, path: str) -> None:
    if value is not None and not 0 <= value <= maximum:
        raise _Bad(f"prefix length {value} is not between 0 and {maximum}", path)


def _addresses(addresses: list[Address], path: str) -> None:
    for i, a in enumerate(addresses):
        family = _family(a.family, f"{path}[{i}].family")
        _address(a.address, f"{path}[{i}].address", family, empty=False)
        _prefixlen(a.prefixlen, _VERSIONS[family][2], f"{path}[{i}].prefixlen")


def _routes(routes: list[Route], path: str) -> None:
    for i, r in enumerate(routes):
        family = _family(r.family, f"{path}[{i}].family")
        _network(r.dst, f"{path}[{i}].dst", family, also=("", "default"))
        _address(r.gateway, f"{path}[{i}].gateway", family)
        _address(r.prefsrc, f"{path}[{i}].prefsrc", family)


def _rules(rules: list[RoutingRule], path: str) -> None:
    for i, r in enumerate(rules):
        family = _family(r.family, f"{path}[{i}].family")
        _network(r.src, f"{path}[{i}].src", family)
        _network(r.dst, f"{path}[{i}].dst", family)


def check_addresses(model: HostModel) -> str | None:
    """The first address field that does not parse, as "<why> - at `<JSON path>`"; None when all do."""
    try:
        for i, n in enumerate(model.networks):
            for j, s in enumerate(n.subnets):
                at = f"$.networks[{i}].subnets[{j}]"
                _network(s.subnet, f"{at}.subnet", also=())
                _address(s.gateway, f"{at}.gateway")
                _network(s.ip_range, f"{at}.ip_range")
        for i, c in enumerate(model.containers):
            for j, ep in enumerate(c.endpoints):
                at = f"$.containers[{i}].endpoints[{j}]"
                _address(ep.ip, f"{at}.ip", 4)
                _address(ep.gateway, f"{at}.gateway", 4)
                _address(ep.ipv6, f"{at}.ipv6", 6)
                _address(ep.ipv6_gateway, f"{at}.ipv6_gateway", 6)
                _prefixlen(ep.prefixlen, 32, f"{at}.prefixlen")
                _prefixlen(ep.ipv6_prefixlen, 128, f"{at}.ipv6_prefixlen")
            for j, port in enumerate(c.ports):
                _address(port.host_ip, f"$.containers[{i}].ports[{j}].host_ip")
            for j, iface in enumerate(c.interfaces):
                _addresses(iface.addresses, f"$.containers[{i}].interfaces[{j}].addresses")
            _routes(c.routes, f"$.containers[{i}].routes")
        for j, iface in enumerate(model.host.interfaces):
            _addresses(iface.addresses, f"$.host.interfaces[{j}].addresses")
        _routes(model.host.routes, "$.host.routes")
        _rules(model.host.rules, "$.host.rules")
    except _Bad as bad:
        return str(bad)
    return None


# --- files --------------------------------------------------------------------------------------------------

_FILE_KINDS = (
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _not_regular(mode: int) -> str | None:
    if stat.S_ISREG(mode):
        return None
    return next((name for test, name in _FILE_KINDS if test(mode)), "not a regular file")


def _read_file(path: str | Path) -> bytes | bytearray:
    """At most MAX_SNAPSHOT_BYTES + 1 bytes of a regular file; refuses anything else without blocking."""
    try:
        kind = _not_regular(os.stat(path).st_mode)  # before opening: opening some devices has effects
        if kind is not None:
            raise SnapshotError(f"{path}: not a snapshot file: it is {kind}, not a regular file")
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror or exc})") from None
    try:
        info = os.fstat(fd)
        kind = _not_regular(info.st_mode)  # it may have been swapped since the stat
        if kind is not None:
            raise SnapshotError(f"{path}: not a snapshot file: it is {kind}, not a regular file")
        if info.st_size > MAX_SNAPSHOT_BYTES:
            raise _too_large(str(path))
        limit = MAX_SNAPSHOT_BYTES + 1  # st_size can be 0 or stale (/proc, growing files): count as we read
        data = bytearray()
        while len(data) < limit:
            want = min(limit - len(data), max(info.st_size + 1 - len(data), 1 << 16))
            chunk = os.read(fd, want)
            if not chunk:
                break
            data += chunk
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot read ({exc.strerror or exc})") from None
    finally:
        os.close(fd)
    if len(data) > MAX_SNAPSHOT_BYTES:
        raise _too_large(str(path))
    return data


def load(path: str | Path) -> HostModel:
    if isinstance(path, str) and not path:
        raise SnapshotError("no snapshot file given")
    return loads(_read_file(path), origin=str(path))


def save(model: HostModel, path: str | Path) -> None:
    if isinstance(path, str) and not path:
        raise SnapshotError("no snapshot file given")
    try:
        data = dumps(model)
    except (TypeError, ValueError, OverflowError) as exc:  # e.g. text with lone surrogates
        raise SnapshotError(f"{path}: cannot write: {exc}") from None
    try:
        Path(path).write_bytes(data)
    except OSError as exc:
        raise SnapshotError(f"{path}: cannot write ({exc.strerror or exc})") from None


def load_demo() -> HostModel:
    """The recorded snapshot bundled with the package, for `dockwire --demo`."""
    data = resources.files("dockwire").joinpath("data", DEMO_RESOURCE).read_bytes()
    return loads(data, origin="bundled demo snapshot")
