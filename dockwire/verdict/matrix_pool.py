"""A large matrix's rows split over processes, one per core: the verdicts are pure CPU work.

The workers are forked from this process after the rules are compiled, so each starts with the engine
context already built (shared copy-on-write) and sends back only its cells. Forking is skipped where it is
not safe or not worth it: another thread running (the TUI), a small matrix, a single core.
"""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading

import msgspec

from dockwire.verdict.matrix import Cell, MatrixJob

#: Below this many pairs the matrix stays in this process (forking costs more than it saves).
MIN_PAIRS = 2_000
#: Chunks per worker: small enough that the last one does not keep a core waiting.
CHUNKS_PER_WORKER = 4

_JOB: MatrixJob | None = None
_CELLS = msgspec.msgpack.Decoder(list[Cell])


def rows_in_processes(job: MatrixJob, workers: int | None) -> list[Cell] | None:
    """Every row's cells in order, computed by `workers` forked processes; None when not worth forking."""
    n = len(job.containers)
    count = workers if workers is not None else len(os.sched_getaffinity(0))
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
