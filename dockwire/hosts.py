"""Which Docker host to read, and how: a `HostSpec` from a NAME=URL option, a Docker context or -H.

Pure but for reading the Docker CLI's own files (contexts, config.json) and the environment. Contexts are read
as the docker CLI stores them: `$DOCKER_CONFIG` (default `~/.docker`) holds `config.json` (`currentContext`),
`contexts/meta/<sha256 of name>/meta.json` (`Endpoints.docker.Host`, `.SkipTLSVerify`) and
`contexts/tls/<sha256 of name>/docker/{ca,cert,key}.pem`. docker-py's `ContextAPI` is not used: it looks for
the contexts beside whichever config.json it finds (none in `$DOCKER_CONFIG`: `~/.docker`'s, or the current
directory's), ignores `$DOCKER_CONTEXT` and drops TLS material unless all three files are there.

How a host is read (`HostSpec.kind`):
- "local": the Docker part from the socket, the host part (netlink, firewall, sysctls, namespaces) from this
  machine: a unix socket whose dockerd runs in this network namespace (told by the socket's peer: a dockerd
  in another namespace serves a socket on this filesystem too); the default socket when that cannot be told.
- "ssh": `dockwire snapshot` runs on the host over ssh and reads both parts there.
- "docker": tcp:// or another unix socket: the Docker part only, never this machine's host part.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
from pathlib import Path
from typing import Literal
from urllib.parse import SplitResult, urlsplit

import msgspec

from dockwire.errors import DockwireError
from dockwire.text import safe

#: The local engine's socket (and its usual alias: /var/run is a link to /run).
DEFAULT_SOCKETS = ("unix:///var/run/docker.sock", "unix:///run/docker.sock")
DEFAULT_URL = DEFAULT_SOCKETS[0]
SCHEMES = ("unix", "tcp", "ssh")

#: Host names dockwire accepts: a letter or digit, then letters, digits and `._:+-` (IPv6 addresses too).
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:+-]{0,127}")
#: Docker's own rule for context names (docker context create refuses others).
_CONTEXT_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.+-]+")
_HOSTNAME = re.compile(r"[A-Za-z0-9_](?:[A-Za-z0-9_.-]{0,252})")
_USER = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,63}")

Kind = Literal["local", "ssh", "docker"]


class TlsInfo(msgspec.Struct, frozen=True):
    """A context's TLS material (file paths, "" when absent) and whether the server is verified."""

    path: str
    ca: str = ""
    cert: str = ""
    key: str = ""
    skip_verify: bool = False


class HostSpec(msgspec.Struct, frozen=True):
    """One Docker host to read. `name` is what the user calls it (not necessarily its hostname)."""

    name: str
    url: str = ""  # "" = the local default; else unix://, tcp:// or ssh:// as docker takes them
    context: str = ""  # the Docker context it came from
    tls: TlsInfo | None = None
    ssh_options: list[str] = msgspec.field(default_factory=list)
    #: ssh hosts: the dockwire command there, with any root options (`["~/.local/bin/dockwire"]`, or
    #: `["dockwire", "-H", "unix:///run/other.sock"]`); `snapshot -o -` is appended.
    remote_dockwire: list[str] = msgspec.field(default_factory=lambda: ["dockwire"])
    #: The host part (netlink, firewall, ...) is this machine's: only for a local socket.
    local_host_part: bool = False

    @property
    def kind(self) -> Kind:
        if self.url.startswith("ssh://"):
            return "ssh"
        return "local" if is_local(self) and self.local_host_part else "docker"


def _peer_netns(socket_path: str) -> int | None:
    """The network namespace (inode) of the process serving a unix socket, None when it cannot be told."""
    import socket
    import struct

    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1)
            sock.connect(socket_path)
            creds = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, struct.calcsize("3i"))
        pid = struct.unpack("3i", creds)[0]
        return os.stat(f"/proc/{pid}/ns/net").st_ino
    except (OSError, struct.error):
        return None


def _host_part_is_ours(url: str) -> bool:
    """Whether the engine at `url` runs in this process's network namespace, so that this machine's netlink,
    firewall and sysctls are its host's. A unix socket says so by its server's namespace (a dockerd in
    another namespace serves a socket on this filesystem too); when that cannot be told, only the default
    socket counts as ours."""
    if url and not url.startswith("unix://"):
        return False
    theirs = _peer_netns((url or DEFAULT_URL).removeprefix("unix://"))
    if theirs is None:
        return url == "" or url in DEFAULT_SOCKETS
    try:
        return theirs == os.stat("/proc/self/ns/net").st_ino
    except OSError:
        return url == "" or url in DEFAULT_SOCKETS


def is_local(spec: HostSpec) -> bool:
    """The engine is reached through this machine's filesystem: the default or a unix socket.

    Its host part may still be another's (see `HostSpec.local_host_part`)."""
    return spec.url == "" or spec.url.startswith("unix://")


def _bad(text: str, why: str) -> DockwireError:
    return DockwireError(f"bad Docker host {safe(text)!r}: {why}")


def _split(url: str) -> SplitResult:
    if not url.isprintable() or any(c.isspace() for c in url):
        raise _bad(url, "it holds spaces or control characters")
    scheme, sep, _ = url.partition("://")
    if not sep:
        raise _bad(url, "not a URL (ssh://[USER@]HOST[:PORT], tcp://HOST:PORT or unix:///PATH)")
    if scheme not in SCHEMES:
        raise _bad(url, f"scheme {scheme!r} is not supported (ssh, tcp or unix)")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise _bad(url, str(exc)) from None
    if port == 0:
        raise _bad(url, "port 0")
    if parts.query or parts.fragment or "?" in url or "#" in url:
        raise _bad(url, "a query or fragment is not allowed")
    return parts


def _host(url: str, parts: SplitResult) -> str:
    """The host of a tcp:// or ssh:// URL, checked: never empty, never a word ssh would take as an option."""
    host = parts.hostname or ""
    if not host:
        raise _bad(url, "no host")
    if "[" in (parts.netloc.rpartition("@")[2]):
        try:
            ipaddress.IPv6Address(host)
        except ValueError:
            raise _bad(url, f"{host!r} is not an IPv6 address") from None
    elif not _HOSTNAME.fullmatch(host):
        raise _bad(url, f"{host!r} is not a host name or address")
    return host


def check_url(url: str) -> str:
    """`url` if dockwire can reach a Docker host through it, else a one-line DockwireError saying why."""
    parts = _split(url)
    if parts.scheme == "unix":
        if parts.netloc or not parts.path.startswith("/") or parts.path == "/":
            raise _bad(url, "a unix socket URL is unix:///ABSOLUTE/PATH")
        return url
    _host(url, parts)
    if parts.password is not None:
        raise _bad(url, "a password in the URL is not supported (use an ssh key or agent)")
    if parts.scheme == "tcp":
        if parts.username is not None:
            raise _bad(url, "tcp:// takes no user")
        if parts.path not in ("", "/"):
            raise _bad(url, "a path after the host is not supported")
        return url
    if parts.path:
        raise _bad(url, "ssh:// takes no path after the host")
    if parts.username is not None and not _USER.fullmatch(parts.username):
        raise _bad(url, f"{parts.username!r} is not a user name")
    return url


def ssh_target(url: str) -> tuple[str, int | None]:
    """An ssh:// URL as ssh's destination (`[user@]host`) and port (None: ssh's default or config)."""
    parts = urlsplit(check_url(url))
    if parts.scheme != "ssh":
        raise _bad(url, "not an ssh:// URL")
    host = _host(url, parts)
    return (f"{parts.username}@{host}" if parts.username else host), parts.port


def check_name(name: str) -> str:
    if not _NAME.fullmatch(name):
        raise DockwireError(
            f"bad host name {safe(name)!r}: a letter or digit, then up to 127 letters, digits or ._:+-"
        )
    return name


def name_for(url: str) -> str:
    """A host name for a bare URL: its host (tcp, ssh), the socket's stem (unix), or "local"."""
    if url == "" or url in DEFAULT_SOCKETS:
        return "local"
    parts = urlsplit(url)
    if parts.scheme == "unix":
        stem = Path(parts.path).name.removesuffix(".sock")
        return stem if _NAME.fullmatch(stem) else "unix"
    return parts.hostname or "local"


def url_spec(url: str, name: str = "", ssh_options: list[str] | None = None) -> HostSpec:
    """A checked spec for a URL ("" is the local default). Only the default socket has a local host part."""
    if url:
        check_url(url)
    return HostSpec(
        name=check_name(name or name_for(url)),
        url=url,
        tls=environment_tls() if url.startswith("tcp://") else None,
        ssh_options=list(ssh_options or []),
        local_host_part=_host_part_is_ours(url),
    )


def environment_tls() -> TlsInfo | None:
    """TLS for a tcp:// daemon as the docker CLI takes it from the environment: `$DOCKER_TLS_VERIFY` (any
    value but "") verifies the server, `$DOCKER_TLS` alone speaks TLS without verifying it, and the ca, cert
    and key files are those of `$DOCKER_CERT_PATH` (else the configuration directory). None: plain HTTP."""
    verify = bool(os.environ.get("DOCKER_TLS_VERIFY"))
    if not verify and not os.environ.get("DOCKER_TLS"):
        return None
    folder = Path(os.environ.get("DOCKER_CERT_PATH") or config_dir())
    files = {f: str(folder / f"{f}.pem") for f in ("ca", "cert", "key") if (folder / f"{f}.pem").is_file()}
    return TlsInfo(path=str(folder), skip_verify=not verify, **files)


def parse_host_option(text: str, ssh_options: list[str] | None = None) -> HostSpec:
    """`NAME=URL` or a bare URL (named after its host): `b=ssh://root@198.51.100.242`, `tcp://10.0.0.5:2375`."""
    name, sep, url = text.partition("=")
    if not sep or "://" in name:  # no NAME= (an ssh user or a tcp path may hold "=": the URL is checked)
        name, url = "", text
    elif not name:
        raise DockwireError(f"bad host {safe(text)!r}: no name before '=' (NAME=URL)")
    elif not url:
        raise DockwireError(f"bad host {safe(text)!r}: no URL after '=' (NAME=URL)")
    if not url:
        raise DockwireError("no Docker host given (NAME=URL or a URL)")
    return url_spec(url, check_name(name) if name else "", ssh_options)


def spec_for_docker_host(url: str | None) -> HostSpec:
    """The spec for -H/$DOCKER_HOST (None or "": the local default), so that a remote daemon's model is
    never completed with this machine's netlink, firewall and sysctls."""
    return url_spec(url or "")


# --- Docker contexts ----------------------------------------------------------------------------------------


def config_dir() -> Path:
    """The Docker CLI's configuration directory: $DOCKER_CONFIG, else ~/.docker."""
    return Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker")


def context_id(name: str) -> str:
    """The directory name docker gives a context: the SHA-256 of its name, in hex."""
    return hashlib.sha256(name.encode()).hexdigest()


def current_context() -> str:
    """The context the docker CLI would use: "default" when $DOCKER_HOST is set (it wins, as in docker
    28), else $DOCKER_CONTEXT, else config.json's `currentContext`, else "default"."""
    if os.environ.get("DOCKER_HOST"):
        return "default"
    if os.environ.get("DOCKER_CONTEXT"):
        return os.environ["DOCKER_CONTEXT"]
    path = config_dir() / "config.json"
    try:
        config = json.loads(path.read_bytes())
    except FileNotFoundError:
        return "default"
    except (OSError, ValueError) as exc:
        raise DockwireError(f"cannot read {path}: {safe(str(exc))}") from None
    name = config.get("currentContext") if isinstance(config, dict) else None
    return name if isinstance(name, str) and name else "default"


def _tls(tls_dir: Path, skip_verify: bool) -> TlsInfo | None:
    files = {f: str(tls_dir / f"{f}.pem") for f in ("ca", "cert", "key") if (tls_dir / f"{f}.pem").is_file()}
    if not files and not skip_verify:
        return None  # the docker CLI then speaks plain HTTP
    return TlsInfo(path=str(tls_dir) if files else "", skip_verify=skip_verify, **files)


def context_host(name: str, ssh_options: list[str] | None = None) -> HostSpec:
    """The Docker context `name` as a spec named after it. "default" is $DOCKER_HOST, else the local host
    (as in the docker CLI, which has no files for it)."""
    if name == "default":
        spec = spec_for_docker_host(os.environ.get("DOCKER_HOST"))
        return msgspec.structs.replace(
            spec, name="default", context="default", ssh_options=list(ssh_options or [])
        )
    if not _CONTEXT_NAME.fullmatch(name):
        raise DockwireError(f"bad Docker context name {safe(name)!r}")
    base = config_dir() / "contexts"
    meta_path = base / "meta" / context_id(name) / "meta.json"
    try:
        meta = json.loads(meta_path.read_bytes())
    except FileNotFoundError:
        raise DockwireError(f"no Docker context {name!r} (looked in {safe(str(base))})") from None
    except (OSError, ValueError) as exc:
        raise DockwireError(f"Docker context {name!r}: cannot read {meta_path}: {safe(str(exc))}") from None
    endpoint = meta.get("Endpoints", {}).get("docker") if isinstance(meta, dict) else None
    if not isinstance(endpoint, dict):
        raise DockwireError(f"Docker context {name!r} has no docker endpoint")
    url = endpoint.get("Host") or ""
    if not isinstance(url, str):
        raise DockwireError(f"Docker context {name!r}: its endpoint's Host is not a string")
    try:
        spec = url_spec(url, name, ssh_options)
    except DockwireError as exc:
        raise DockwireError(f"Docker context {name!r}: {exc}") from None
    tls = None
    if url.startswith("tcp://"):  # sockets and ssh never use the TLS material
        tls = _tls(base / "tls" / context_id(name) / "docker", bool(endpoint.get("SkipTLSVerify")))
    return msgspec.structs.replace(spec, context=name, tls=tls)
