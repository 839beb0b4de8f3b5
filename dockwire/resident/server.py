"""The resident's end: this machine's live model, a Unix socket beside it, and one answer per request.

A lock file next to the socket (held for the resident's life) makes it the engine's only resident; the socket
a resident that died left behind is replaced. A request is answered on the model as it stands once settled
(`LiveModel.settled`), in a worker thread, so the model keeps following the host meanwhile.
"""

from __future__ import annotations

import asyncio
import contextlib
import fcntl
import os
import signal
import time
import traceback
from collections.abc import Callable, Collection
from pathlib import Path
from typing import IO, Any, Protocol

import msgspec

from dockwire.errors import DockwireError
from dockwire.fleet import Fleet, default_host_name
from dockwire.live import LiveModel
from dockwire.model import HostModel
from dockwire.resident.protocol import (
    ERROR_EXIT,
    MAX_REQUEST,
    PROTOCOL,
    WhyReply,
    WhyRequest,
    owned_privately,
    peer,
    socket_path,
    trusted_uid,
)
from dockwire.text import safe
from dockwire.verdict.endpoints import namespaces_for
from dockwire.verdict.explain import Printed, explain
from dockwire.verdict.fleet_ends import split_host

Log = Callable[[str], None]
#: Seconds a client has to send its whole request; seconds one request may take in all (answer included);
#: seconds the resident waits for open connections when it stops.
REQUEST_TIMEOUT = 5.0
HANDLE_TIMEOUT = 60.0
CLOSE_TIMEOUT = 2.0
UNSETTLED = "the live model was still taking in changes: this answer may miss the latest of them"


class Followed(Protocol):
    """A model kept current (`LiveModel`): the model as it stands, and as it stands once settled."""

    model: HostModel

    async def settled(self, containers: Collection[str] = ()) -> tuple[HostModel, bool]: ...


class Resident:
    """Answers `why` requests on `live`'s model over the socket at `path`."""

    def __init__(self, live: Followed, path: Path, log: Log) -> None:
        self.live = live
        self.path = path
        self.log = log
        #: When the live model last changed (Unix seconds).
        self.model_time = 0.0
        self._lock: IO[str] | None = None
        self._server: asyncio.Server | None = None
        self._inode = 0

    def claim(self) -> None:
        """Make this the engine's one resident (DockwireError, naming the other, when one runs already)."""
        folder = self.path.parent
        try:
            folder.mkdir(mode=0o700, parents=True, exist_ok=True)  # an existing folder is never changed
        except OSError as exc:
            raise DockwireError(f"cannot use {folder} to listen in: {exc.strerror}") from None
        if not owned_privately(folder):
            raise DockwireError(
                f"{folder} must be this user's own and closed to others (mode 0700): not listening there"
            )
        old = os.umask(0o177)
        try:
            lock = open(self.path.with_suffix(".lock"), "a+")  # noqa: SIM115 (held for the resident's life)
        except OSError as exc:
            raise DockwireError(f"cannot open {self.path.with_suffix('.lock')}: {exc.strerror}") from None
        finally:
            os.umask(old)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.seek(0)
            holder = lock.read().strip() or "?"
            lock.close()
            raise DockwireError(
                f"a resident dockwire (pid {holder}) already serves this engine ({self.path})"
            ) from None
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        self._lock = lock

    async def listen(self) -> None:
        """Open the socket (mode 0600), replacing one a dead resident left."""
        with contextlib.suppress(FileNotFoundError):
            self.path.unlink()
        old = os.umask(0o177)
        try:
            self._server = await asyncio.start_unix_server(self._handle, path=str(self.path))
        except OSError as exc:
            raise DockwireError(f"cannot listen at {self.path}: {exc.strerror or exc}") from None
        finally:
            os.umask(old)
        self._inode = self.path.stat().st_ino

    async def close(self) -> None:
        """Stop listening and remove the socket (if it is still this resident's)."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self._server.wait_closed(), CLOSE_TIMEOUT)
        with contextlib.suppress(OSError):
            if self._inode and self.path.stat().st_ino == self._inode:
                self.path.unlink()
        if self._lock is not None:
            self._lock.close()
            self._lock = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(self._converse(reader, writer), HANDLE_TIMEOUT)
        except (OSError, TimeoutError):
            pass  # the client went away, sent nothing or does not read: nothing more to do
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _converse(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        _pid, uid = peer(writer.get_extra_info("socket"))
        if not trusted_uid(uid):
            return
        data = await asyncio.wait_for(_request_bytes(reader), REQUEST_TIMEOUT)
        reply = await self.answer(data) if data is not None else _error("the request is too large")
        writer.write(msgspec.msgpack.encode(reply))
        await writer.drain()

    async def answer(self, data: bytes) -> WhyReply:
        """The reply to one request's bytes."""
        try:
            raw = msgspec.msgpack.decode(data)
        except Exception:  # not msgpack, or nested beyond the decoder's depth
            return _error("the request is not a msgpack message")
        if not isinstance(raw, dict) or raw.get("protocol") != PROTOCOL:
            return WhyReply(ERROR_EXIT, refused=f"it speaks dockwire's resident protocol {PROTOCOL} only")
        try:
            request = msgspec.convert(raw, WhyRequest)
        except msgspec.ValidationError as exc:
            return _error(f"bad request: {exc}")
        try:
            model, complete = await self.live.settled(_visited(self.live.model, request))
            fleet = Fleet.of([(default_host_name(model, set()), model)])
            printed = await asyncio.to_thread(_explain, fleet, request)
        except DockwireError as exc:
            return _error(str(exc))
        except Exception:
            self.log(f"dockwire: the question {request.src} → {request.dst} failed:")
            self.log(safe(traceback.format_exc()))
            return _error("the resident dockwire failed on this question (its output says why)")
        late = [] if complete else [f"dockwire: warning: {UNSETTLED}"]
        return WhyReply(
            printed.exit_code,
            printed.text,
            printed.data,
            late + list(printed.warnings),
            pid=os.getpid(),
            model_time=self.model_time,
        )


def _error(message: str) -> WhyReply:
    return WhyReply(ERROR_EXIT, error=message, pid=os.getpid())


def _explain(fleet: Fleet, request: WhyRequest) -> Printed:
    return explain(
        fleet,
        request.src,
        request.dst,
        request.proto,
        request.port,
        request.family,
        request.json,
        request.verbose,
    )


def _visited(model: HostModel, request: WhyRequest) -> set[str]:
    """The containers whose namespaces are read again for the answer: those of both ends (the source's
    alone when Docker's data cannot tell the destination's, a DNS name or a published port). EndpointError
    on ends that cannot be told apart (the answer then gives the same error)."""
    src, dst = split_host(request.src)[0], split_host(request.dst)[0]
    return namespaces_for(model, src, dst) or namespaces_for(model, src, src) or set()


async def _request_bytes(reader: asyncio.StreamReader) -> bytes | None:
    """The whole request (the client shuts its side when done); None beyond MAX_REQUEST bytes."""
    chunks, size = [], 0
    while chunk := await reader.read(1 << 16):
        size += len(chunk)
        if size > MAX_REQUEST:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


async def serve(client: Any, url: str | None, log: Log, verbose: bool = False) -> None:
    """Follow this machine's engine (`client`, reached at `url`) and answer on its socket until cancelled
    (SIGTERM cancels too); the socket is removed on the way out."""
    path = socket_path(url)
    if path is None:
        raise DockwireError("no runtime directory to listen in: set DOCKWIRE_RUNTIME_DIR or XDG_RUNTIME_DIR")
    task = asyncio.current_task()
    assert task is not None
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, task.cancel)
    live = LiveModel(client)
    resident = Resident(live, path, log)
    resident.claim()  # before the first read: a second resident stops at once
    updates = live.updates()
    try:
        first = await anext(updates)
        resident.model_time = time.time()
        await resident.listen()
        log(
            f"dockwire: serving the live model of {safe(url or 'the local engine')} "
            f"({len(first.model.containers)} containers) at {safe(str(path))}; Ctrl-C stops"
        )
        async for update in updates:
            resident.model_time = time.time()
            if verbose:
                for line in update.events:
                    log(f"dockwire: {safe(line)}")
    finally:
        await resident.close()
        await updates.aclose()
