"""A worker process of the dashboard's grid: `python -m dockwire.verdict.grid_worker`, started by
`dockwire.verdict.matrix_pool.status_rows`.

Frames on stdin and stdout, each a 4-byte big-endian length and a msgpack body. The first frame in is the
setup (the model, the members' ids, the family); every later one a list of source ids, answered with their
rows (`StatusGrid.row`). End of input (the parent closed the pipe, or died) ends the worker.
"""

from __future__ import annotations

import signal
import sys
from typing import IO

import msgspec

from dockwire.model import HostModel
from dockwire.verdict.matrix import StatusGrid

_HEADER = 4


def read_frame(stream: IO[bytes]) -> bytes | None:
    """The next frame's body, or None at the end of the stream (a frame cut short is an end too)."""
    header = stream.read(_HEADER)
    if len(header) < _HEADER:
        return None
    size = int.from_bytes(header, "big")
    body = stream.read(size)
    return body if len(body) == size else None


def write_frame(stream: IO[bytes], body: bytes) -> None:
    stream.write(len(body).to_bytes(_HEADER, "big") + body)
    stream.flush()


class Setup(msgspec.Struct, array_like=True):
    model: bytes
    member_ids: list[str]
    family: int


def serve(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    frame = read_frame(stdin)
    if frame is None:
        return 0
    setup = msgspec.msgpack.decode(frame, type=Setup)
    model = msgspec.msgpack.decode(setup.model, type=HostModel)
    by_id = {c.id: c for c in model.containers}
    grid = StatusGrid(model, [by_id[i] for i in setup.member_ids], setup.family)
    sources = msgspec.msgpack.Decoder(list[str])
    while (frame := read_frame(stdin)) is not None:
        write_frame(stdout, msgspec.msgpack.encode([grid.row(src) for src in sources.decode(frame)]))
    return 0


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers
    return serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
