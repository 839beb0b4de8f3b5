"""A second reader for a one-time read of the host: a forked process on another core.

Decoding netlink in Python is most of a cold read on a busy host (some 5 ms per container namespace, 0.4 s for
the host's own links and routes at 200 containers), and one process decodes on one core. A command that reads
the host once (`snapshot`, `why`, `matrix`) forks this reader first, while it has no thread and no event loop:
the reader reads the host's netlink part at once, and each container's namespace as soon as this process has
inspected it (`stream`), while this process goes on reading Docker and then parses the firewall.

Messages go over two pipes as length-prefixed msgpack. The reader only reads and never outlives the command:
it ends at the end of its pipe, and `close` ends it. Whatever goes wrong in it reaches the caller as the same
stale reason a read in this process would give (`Failed`).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import select
import signal
import struct
import threading
from typing import Any

import msgspec

from dockwire.model import DnsConfig, HostNet, Interface, Route

#: The length prefix of every message.
_LENGTH = struct.Struct("!I")
#: Seconds the command waits for the reader's next bytes before it reads the rest itself.
REPLY_TIMEOUT = 60.0


class Wanted(msgspec.Struct, array_like=True, frozen=True):
    """A container namespace to read: the container's id, its pid, whether the namespace is its own."""

    id: str
    pid: int
    own_netns: bool


class NamespacePart(msgspec.Struct, omit_defaults=True, frozen=True):
    """What a namespace read gives a container (see `collect._namespace_part`); None: not read."""

    netns_inode: int | None = None
    dns: DnsConfig | None = None
    interfaces: list[Interface] | None = None
    routes: list[Route] | None = None

    def fields(self) -> dict[str, Any]:
        return {
            name: getattr(self, name) for name in self.__struct_fields__ if getattr(self, name) is not None
        }


class Failed(msgspec.Struct, frozen=True):
    """A read that failed: `kind` "denied", "gone" (the process exited) or "failed", and the stale reason."""

    kind: str
    reason: str


class TablesReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The nf_tables tables as `nft -j list tables` prints them (None: the reader could not list them)."""

    listing: str | None = None


class HostReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The host's netlink part, or why it could not be read."""

    host: HostNet | None = None
    failed: Failed | None = None


class NamespacesReply(msgspec.Struct, frozen=True, omit_defaults=True):
    """The namespace parts read, and the reads that failed, by container id."""

    parts: dict[str, NamespacePart] = {}
    failed: dict[str, Failed] = {}

    @classmethod
    def of(cls, results: dict[str, NamespacePart | Failed]) -> NamespacesReply:
        parts = {cid: r for cid, r in results.items() if isinstance(r, NamespacePart)}
        return cls(parts, {cid: r for cid, r in results.items() if isinstance(r, Failed)})

    def results(self) -> dict[str, NamespacePart | Failed]:
        return {**self.parts, **self.failed}


def failure_of(exc: BaseException) -> Failed:
    """A read's exception as the collector judges it."""
    from dockwire.collect import failure_reason

    if isinstance(exc, PermissionError):
        kind = "denied"
    elif isinstance(exc, (FileNotFoundError, ProcessLookupError)):
        kind = "gone"
    else:
        kind = "failed"
    return Failed(kind, failure_reason(exc))


class ReaderProcess:
    """The parent's end: the host's netlink part, and the namespaces streamed to the reader."""

    def __init__(self, pid: int, to_reader: int, from_reader: int) -> None:
        self.pid = pid
        self._to, self._from = to_reader, from_reader
        #: The namespaces handed to the reader, by container id (False once it could not take one).
        self.streamed: dict[str, Wanted] = {}
        self.taking = True
        #: The reader's first message, its listing of the nf_tables tables (received once, by whoever asks
        #: first: the host's part comes after it).
        self._tables: asyncio.Future[bytes] | None = None
        self._tables_taken = False

    @classmethod
    def start(cls) -> ReaderProcess | None:
        """Fork the reader; None where forking is not safe (another thread runs) or fails."""
        if threading.active_count() > 1:
            return None
        fds: list[int] = []
        try:
            fds += os.pipe()
            fds += os.pipe()
            pid = os.fork()
        except OSError:
            for fd in fds:
                os.close(fd)
            return None
        down_r, down_w, up_r, up_w = fds
        if pid == 0:  # the reader
            os.close(down_w)
            os.close(up_r)
            _reader_main(down_r, up_w)
        os.close(down_r)
        os.close(up_w)
        return cls(pid, down_w, up_r)

    async def _tables_reply(self) -> bytes:
        if self._tables is None:
            self._tables = asyncio.ensure_future(asyncio.to_thread(_receive, self._from, REPLY_TIMEOUT))
        return await asyncio.shield(self._tables)

    async def nft_tables(self) -> str | None:
        """The nf_tables tables as the reader listed them at its start, once (None afterwards, and where it
        could not list them): a later read lists them itself."""
        if self._tables_taken:
            return None
        self._tables_taken = True
        return msgspec.msgpack.decode(await self._tables_reply(), type=TablesReply).listing

    async def host(self) -> HostNet | Failed:
        """The host's links, addresses, routes and policy rules, as the reader read them at its start."""
        await self._tables_reply()  # the reader's first message
        data = await asyncio.to_thread(_receive, self._from, REPLY_TIMEOUT)
        reply = msgspec.msgpack.decode(data, type=HostReply)
        return reply.failed or reply.host or HostNet()

    def stream(self, wanted: Wanted) -> None:
        """Have the reader read this namespace now (from any one thread at a time; never raises)."""
        if not self.taking:
            return
        try:
            _send(self._to, msgspec.msgpack.encode([wanted]))
        except OSError:
            self.taking = False  # the reader is gone: what it was not given is read here
            return
        self.streamed[wanted.id] = wanted

    async def streamed_parts(self) -> dict[str, NamespacePart | Failed]:
        """The namespace parts of everything streamed, by container id, once the stream is ended."""
        self.taking = False
        await asyncio.to_thread(_send, self._to, msgspec.msgpack.encode([]))
        data = await asyncio.to_thread(_receive, self._from, REPLY_TIMEOUT)
        return msgspec.msgpack.decode(data, type=NamespacesReply).results()

    def close(self) -> None:
        """End the reader (it may be mid-read when the command stops) and reap it."""
        if self._to < 0:
            return  # closed already (its fd numbers may belong to others by now)
        for fd in (self._to, self._from):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._to = self._from = -1
        with contextlib.suppress(OSError):
            os.kill(self.pid, signal.SIGKILL)
        with contextlib.suppress(ChildProcessError):
            os.waitpid(self.pid, 0)


def _send(fd: int, data: bytes) -> None:
    view = memoryview(_LENGTH.pack(len(data)) + data)
    while view:
        view = view[os.write(fd, view) :]


def _receive(fd: int, timeout: float | None = None) -> bytes:
    """One message; EOFError when the other end closed its pipe (the reader ended), TimeoutError when
    nothing came for `timeout` seconds."""
    (size,) = _LENGTH.unpack(_read_exactly(fd, _LENGTH.size, timeout))
    return _read_exactly(fd, size, timeout)


def _read_exactly(fd: int, size: int, timeout: float | None) -> bytes:
    chunks, left = [], size
    while left:
        if timeout is not None and not select.select([fd], [], [], timeout)[0]:
            raise TimeoutError("the reader process did not answer")
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            raise EOFError("the reader process ended")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _reader_main(requests: int, replies: int) -> None:
    """The forked reader's whole life; it leaves by os._exit (never through the parent's code or buffers)."""
    code = 0
    try:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle; it ends the reader
        asyncio.run(_read(requests, replies))
    except BaseException:
        code = 1
    finally:
        os._exit(code)


async def _read(requests: int, replies: int) -> None:
    """The nf_tables tables and the host's netlink part (each sent once read), then each namespace as it is
    streamed; their parts are sent when the stream ends (an empty batch). What it imports to read them
    (pyroute2 is some 0.2 s) it imports here, on its own core, while the command imports the rest."""
    from dockwire.probes.firewall import nft_tables_over_netlink

    try:
        listing: str | None = await asyncio.to_thread(nft_tables_over_netlink)
    except Exception:
        listing = None  # no nf_tables here, or no permission: the command tries the ways it has
    _send(replies, msgspec.msgpack.encode(TablesReply(listing)))

    from dockwire.collect import NAMESPACES_AT_ONCE, namespace_part
    from dockwire.probes.netlink import read_namespace

    async def host() -> None:
        try:
            ifaces, routes, rules = await read_namespace(None, True)
            reply = HostReply(host=HostNet(interfaces=ifaces, routes=routes, rules=rules))
        except Exception as exc:
            reply = HostReply(failed=failure_of(exc))
        _send(replies, msgspec.msgpack.encode(reply))

    host_read = asyncio.ensure_future(host())
    slots = asyncio.Semaphore(NAMESPACES_AT_ONCE)
    reads: dict[str, asyncio.Future[NamespacePart]] = {}
    while batch := msgspec.msgpack.decode(await asyncio.to_thread(_receive, requests), type=list[Wanted]):
        for wanted in batch:
            reads[wanted.id] = asyncio.ensure_future(namespace_part(wanted, slots))
    await host_read
    results = await asyncio.gather(*reads.values(), return_exceptions=True)
    parts: dict[str, NamespacePart | Failed] = {}
    for cid, result in zip(reads, results, strict=True):
        parts[cid] = failure_of(result) if isinstance(result, BaseException) else result
    _send(replies, msgspec.msgpack.encode(NamespacesReply.of(parts)))
