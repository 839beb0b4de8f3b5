"""A worker process of the dashboard's grid: `python -m dockwire.verdict.grid_worker`, started by
`dockwire.verdict.matrix_pool.status_rows`; with `--why`, the grid's explainer (`matrix_pool.VerdictWorker`).

Frames on stdin and stdout, each a 4-byte big-endian length and a msgpack body. The first frame in is the
setup (the model, the members' ids, the family); every later one a list of source ids, answered with their
rows (`StatusGrid.row`). The explainer's setup is the model alone, and each later frame a `WhyAsk`, answered
with a `WhyAnswer` (the full verdict, or the one-line error). End of input (the parent closed the pipe, or
died) ends the worker.
"""

from __future__ import annotations

import signal
import sys
from typing import IO

import msgspec

from dockwire.errors import DockwireError
from dockwire.model import HostModel
from dockwire.verdict.matrix import StatusGrid
from dockwire.verdict.records import Verdict
from dockwire.verdict.verdict import evaluate

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


class WhyAsk(msgspec.Struct, array_like=True):
    """One verdict to give: `evaluate`'s arguments."""

    src: str
    dst: str
    proto: str
    port: int | None
    family: int | None


class WhyAnswer(msgspec.Struct, omit_defaults=True):
    verdict: Verdict | None = None
    error: str = ""


def serve_whys(stdin: IO[bytes], stdout: IO[bytes]) -> int:
    """The explainer: the model once, then one verdict per question, on a context compiled here."""
    frame = read_frame(stdin)
    if frame is None:
        return 0
    model = msgspec.msgpack.decode(frame, type=HostModel)
    asks = msgspec.msgpack.Decoder(WhyAsk)
    while (frame := read_frame(stdin)) is not None:
        ask = asks.decode(frame)
        try:
            answer = WhyAnswer(evaluate(model, ask.src, ask.dst, ask.proto, ask.port, family=ask.family))
        except DockwireError as exc:
            answer = WhyAnswer(error=str(exc))
        write_frame(stdout, msgspec.msgpack.encode(answer))
    return 0


def main() -> int:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops its workers
    if sys.argv[1:] == ["--why"]:
        return serve_whys(sys.stdin.buffer, sys.stdout.buffer)
    return serve(sys.stdin.buffer, sys.stdout.buffer)


if __name__ == "__main__":
    sys.exit(main())
