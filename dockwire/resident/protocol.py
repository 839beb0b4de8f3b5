"""What the resident and the command line share: where the socket is, the messages, and whom to trust.

Trust: the runtime directory is its user's own (mode 0700) and the socket is 0600; each end also checks the
other's credentials (SO_PEERCRED): the same user, or root. A message is one msgpack value, checked against
its type (`WhyRequest`, `WhyReply`), sent with the write side then shut.
"""

from __future__ import annotations

import hashlib
import os
import socket
import stat
import struct
from pathlib import Path
from typing import Annotated, Literal

import msgspec

#: Bumped whenever a message changes: a resident of another protocol is not asked (the host is read instead).
PROTOCOL = 1
#: The largest request a resident reads, and the largest reply a client reads (bytes).
MAX_REQUEST = 64 * 1024
MAX_REPLY = 256 * 1024 * 1024
#: Seconds a client waits for an answer before reading the host itself.
ASK_TIMEOUT = 30.0
#: The exit status of a reply that carries an error (the command line's for any error).
ERROR_EXIT = 2

Text = Annotated[str, msgspec.Meta(max_length=4096)]


class WhyRequest(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    """`dockwire why`'s question, as its options give it."""

    src: Text
    dst: Text
    proto: Literal["icmp", "tcp", "udp"] | None = None
    port: Annotated[int, msgspec.Meta(ge=1, le=65535)] | None = None
    family: Literal[4, 6] | None = None
    json: bool = False
    verbose: bool = False
    protocol: int = PROTOCOL


class WhyReply(msgspec.Struct, frozen=True):
    """What `why` prints (see `dockwire.verdict.explain.Printed`), or the one-line error it exits 2 with;
    `refused` when this resident cannot answer such a request at all (another protocol)."""

    exit_code: int
    text: str = ""
    data: bytes = b""
    warnings: list[str] = []
    error: str = ""
    refused: str = ""
    #: The resident's process id and the time (Unix seconds) of the live model's latest update.
    pid: int = 0
    model_time: float = 0.0


class ResidentUnavailable(Exception):
    """A resident was found but gave no usable answer (the reason, one line): the host is read instead."""


def runtime_dir() -> Path | None:
    """Where residents listen: $DOCKWIRE_RUNTIME_DIR, else /run/dockwire for root, else
    $XDG_RUNTIME_DIR/dockwire; None when there is no such place."""
    given = os.environ.get("DOCKWIRE_RUNTIME_DIR")
    if given:
        return Path(given)
    if os.geteuid() == 0:
        return Path("/run/dockwire")
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    return Path(xdg) / "dockwire" if xdg else None


def socket_path(url: str | None) -> Path | None:
    """The socket of the resident that follows the engine at `url` (None: the local default engine)."""
    folder = runtime_dir()
    if folder is None:
        return None
    name = "local" if url is None else "engine-" + hashlib.sha256(url.encode()).hexdigest()[:16]
    return folder / f"{name}.sock"


def owned_privately(path: Path) -> bool:
    """Whether `path` (not a symlink) belongs to this user (or root) and no one else may use it at all."""
    try:
        info = path.lstat()
    except OSError:
        return False
    return info.st_uid in (0, os.geteuid()) and not stat.S_ISLNK(info.st_mode) and not info.st_mode & 0o077


def peer(sock: socket.socket) -> tuple[int, int]:
    """(pid, uid) of the process at the other end of a Unix socket."""
    pid, uid, _gid = struct.unpack("3i", sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, 12))
    return pid, uid


def trusted_uid(uid: int) -> bool:
    return uid in (0, os.geteuid())


def read_all(sock: socket.socket, limit: int) -> bytes:
    """Everything the other end sends before it shuts its side; ResidentUnavailable beyond `limit` bytes."""
    chunks, size = [], 0
    while chunk := sock.recv(1 << 16):
        size += len(chunk)
        if size > limit:
            raise ResidentUnavailable(f"the resident's answer is larger than {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def ask(url: str | None, request: WhyRequest, timeout: float = ASK_TIMEOUT) -> WhyReply | None:
    """The answer of the resident that follows `url`'s engine; None when none is listening (or its socket or
    process is not trusted). ResidentUnavailable when one was found but gave no usable answer."""
    path = socket_path(url)
    if path is None or not owned_privately(path.parent) or not owned_privately(path):
        return None
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(timeout)
        try:
            sock.connect(str(path))
        except OSError:
            return None  # no resident (a socket left by one that died, or none at all)
        pid, uid = peer(sock)
        if not trusted_uid(uid):
            return None
        try:
            message = msgspec.msgpack.encode(request)
        except (ValueError, TypeError):
            return None  # text the resident cannot be sent (not UTF-8): the host is read instead
        try:
            sock.sendall(message)
            sock.shutdown(socket.SHUT_WR)
            data = read_all(sock, MAX_REPLY)
        except TimeoutError:
            raise ResidentUnavailable(
                f"the resident dockwire (pid {pid}) did not answer in {timeout:g} s"
            ) from None
        except OSError as exc:
            raise ResidentUnavailable(
                f"the resident dockwire (pid {pid}) went away ({exc.strerror})"
            ) from None
    try:
        reply = msgspec.msgpack.decode(data, type=WhyReply)
    except msgspec.DecodeError as exc:
        raise ResidentUnavailable(
            f"the resident dockwire (pid {pid}) gave an unreadable answer ({exc})"
        ) from None
    if reply.refused:
        raise ResidentUnavailable(f"the resident dockwire (pid {pid}) refused: {reply.refused}")
    return reply
