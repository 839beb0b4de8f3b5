"""A large matrix's rows split over processes, one per core: the verdicts are pure CPU work.

`rows_in_processes` (the command line's matrix): the workers are forked from this process after the rules
are compiled, so each starts with the engine context already built (shared copy-on-write) and sends back only
its cells. Forking is skipped where it is not safe or not worth it: another thread running, a small matrix, a
single core.

`status_rows` (the dashboard's grid, whose process runs threads, so it must not fork): each worker is a fresh
interpreter (`dockwire.verdict.grid_worker`) that receives the model once (msgpack), compiles its own context
and answers a few source rows at a time; the rows come back in the order asked (the rows on screen first).
Leaving the iterator kills the workers at once, and the dashboard's process never holds the grid's compiled
rules.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import selectors
import signal
import subprocess
import sys
import tempfile
import threading
from collections.abc import Generator, Iterator

import msgspec

from dockwire.errors import DockwireError
from dockwire.model import Container, HostModel
from dockwire.verdict.grid_worker import Setup, WhyAnswer, WhyAsk, read_frame, write_frame
from dockwire.verdict.matrix import Cell, MatrixJob, StatusCell
from dockwire.verdict.records import Verdict

#: Below this many pairs the matrix stays in this process (forking costs more than it saves).
MIN_PAIRS = 2_000
#: Chunks per worker: small enough that the last one does not keep a core waiting.
CHUNKS_PER_WORKER = 4

#: Source rows per task of `status_rows`: a few, so the rows on screen come back first and soon.
STATUS_ROWS_PER_TASK = 4

_JOB: MatrixJob | None = None
_CELLS = msgspec.msgpack.Decoder(list[Cell])
_STATUS_ROWS = msgspec.msgpack.Decoder(list[list[StatusCell]])
_WHY_ANSWER = msgspec.msgpack.Decoder(WhyAnswer)


def rows_in_processes(job: MatrixJob, workers: int | None) -> list[Cell] | None:
    """Every row's cells in order, computed by `workers` forked processes; None when not worth forking."""
    n = len(job.containers)
    count = _cores(workers)
    if count < 2 or n * (n - 1) < MIN_PAIRS or threading.active_count() > 1:
        return None
    global _JOB
    _JOB = job
    size = max(1, -(-n // (count * CHUNKS_PER_WORKER)))
    bounds = [(start, min(n, start + size)) for start in range(0, n, size)]
    pool = multiprocessing.get_context("fork").Pool(count, initializer=_quiet)
    try:
        chunks = pool.starmap(_rows, bounds, chunksize=1)
        pool.close()
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()
        _JOB = None
    return [cell for chunk in chunks for cell in _CELLS.decode(chunk)]


def _quiet() -> None:
    """A worker leaves Ctrl-C to the parent, which stops the pool."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _rows(start: int, stop: int) -> bytes:
    assert _JOB is not None, "a matrix worker runs only in a process forked by rows_in_processes"
    return msgspec.msgpack.encode(_JOB.rows(start, stop))


def status_rows(
    model: HostModel, members: list[Container], family: int = 4, workers: int | None = None
) -> Generator[list[StatusCell], None, None] | None:
    """The dashboard grid's rows, one per member in the members' order, computed by `workers` processes
    (default: one per core); None when not worth it (a small grid, a single core). Closing the iterator
    (or dropping it) stops the workers; a worker that fails raises DockwireError."""
    n = len(members)
    if not grid_in_processes(n, workers):
        return None
    return _stream(model, members, family, min(_cores(workers), -(-n // STATUS_ROWS_PER_TASK)))


def _stream(
    model: HostModel, members: list[Container], family: int, count: int
) -> Generator[list[StatusCell], None, None]:
    ids = [c.id for c in members]
    tasks = [ids[i : i + STATUS_ROWS_PER_TASK] for i in range(0, len(ids), STATUS_ROWS_PER_TASK)]
    setup = msgspec.msgpack.encode(Setup(msgspec.msgpack.encode(model), ids, family))
    with contextlib.ExitStack() as stack:
        workers = [stack.enter_context(_Worker()) for _ in range(count)]
        done: dict[int, list[list[StatusCell]]] = {}
        selector = stack.enter_context(selectors.DefaultSelector())
        queued = iter(range(len(tasks)))
        for worker in workers:
            worker.send(setup)
            selector.register(worker.stdout, selectors.EVENT_READ, worker)
            _hand_next(worker, queued, tasks)
        for number in range(len(tasks)):
            while number not in done:
                for key, _ in selector.select():
                    worker = key.data
                    done[worker.task] = _STATUS_ROWS.decode(worker.receive())
                    _hand_next(worker, queued, tasks)
            yield from done.pop(number)


def _hand_next(worker: _Worker, queued: Iterator[int], tasks: list[list[str]]) -> None:
    """Send the worker the next task, if one is left (each worker has one task at a time)."""
    number = next(queued, None)
    if number is not None:
        worker.task = number
        worker.send(msgspec.msgpack.encode(tasks[number]))


class _Worker:
    """One `dockwire.verdict.grid_worker` process: its own session (a Ctrl-C at the terminal is the
    parent's to handle), its errors in a temporary file (the dashboard draws on stderr); killed on exit."""

    def __init__(self, *options: str) -> None:
        self.errors = tempfile.TemporaryFile()  # noqa: SIM115 (closed in __exit__)
        self.process = subprocess.Popen(
            [sys.executable, "-m", "dockwire.verdict.grid_worker", *options],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            start_new_session=True,
        )
        assert self.process.stdin is not None and self.process.stdout is not None
        self.stdin, self.stdout = self.process.stdin, self.process.stdout
        self.task = -1

    def __enter__(self) -> _Worker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.process.kill()
        self.process.wait()
        self.stdin.close()
        self.stdout.close()
        self.errors.close()

    def send(self, body: bytes) -> None:
        try:
            write_frame(self.stdin, body)
        except BrokenPipeError:
            raise self._failed() from None

    def receive(self) -> bytes:
        body = read_frame(self.stdout)
        if body is None:
            raise self._failed()
        return body

    def _failed(self) -> DockwireError:
        self.process.kill()
        self.process.wait()
        self.errors.seek(0)
        lines = self.errors.read().decode(errors="replace").strip().splitlines()
        last = lines[-1] if lines else f"exit status {self.process.returncode}"
        return DockwireError(f"a matrix worker failed: {last}")


def _cores(workers: int | None) -> int:
    """The worker processes asked for, else one per core this process may run on."""
    return workers if workers is not None else len(os.sched_getaffinity(0))


def grid_in_processes(members: int, workers: int | None = None) -> bool:
    """Whether `status_rows` computes a grid of this many members in worker processes."""
    return _cores(workers) >= 2 and members * (members - 1) >= MIN_PAIRS


class VerdictWorker:
    """The full verdicts of a large grid's cells, from a process of their own (`grid_worker --why`): the
    dashboard's process then never compiles the rules of the model the grid shows (tens of MB of small
    objects for 10,000 rules, which its allocator keeps after they are freed). Fed `model` at the start; one
    question at a time (a lock keeps threads in turn); `close` kills it."""

    def __init__(self, model: HostModel) -> None:
        self.model = model
        self._lock = threading.Lock()
        self._worker = _Worker("--why")
        self._worker.send(msgspec.msgpack.encode(model))

    def verdict(self, src: str, dst: str, proto: str, port: int | None, family: int | None) -> Verdict:
        """`evaluate`'s verdict; DockwireError as `evaluate` raises it, or when the worker failed."""
        with self._lock:
            self._worker.send(msgspec.msgpack.encode(WhyAsk(src, dst, proto, port, family)))
            answer = _WHY_ANSWER.decode(self._worker.receive())
        if answer.verdict is None:
            raise DockwireError(answer.error)
        return answer.verdict

    def close(self) -> None:
        self._worker.__exit__()
