"""Pick the best tracer this host offers, and hold its rules for exactly as long as the probe runs.

Removal happens in a finally (also on cancellation: SIGINT, and SIGTERM through `cancel_on_sigterm`), at
interpreter exit, and rules left by a run whose process is gone are swept at the next start.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import shutil
import signal
import threading
from collections.abc import Iterator

from dockwire.actions.tracing.base import Marker, Tracer, TraceUnavailable, iptables_backend
from dockwire.actions.tracing.counters import CounterTracer
from dockwire.actions.tracing.leftovers import sweep_leftovers
from dockwire.actions.tracing.legacy_log import KMSG, LegacyLogTracer, kernel_logger_bound, nf_log_file
from dockwire.actions.tracing.nft import NftTracer


def choose_tracer(trace: bool, run_id: str, marker: Marker, backend: str | None = None) -> Tracer:
    """The best way this host offers to learn which rule judged the probe."""
    if not trace:
        return Tracer(run_id, marker, "read-only (--no-trace): no trace rules added, no kernel evidence")
    backend = iptables_backend() if backend is None else backend
    if backend in ("nft", "") and shutil.which("nft"):
        return NftTracer(run_id, marker)
    if backend == "legacy":
        if not kernel_logger_bound(marker.family):
            version = "IPv6" if marker.family == "ip6" else "IPv4"
            return CounterTracer(
                run_id,
                marker,
                f"legacy TRACE logs nothing: no kernel logger for {version} ({nf_log_file(marker.family)} "
                "is NONE; `modprobe nf_log_syslog` binds one)",
            )
        if not os.access(KMSG, os.R_OK):
            return CounterTracer(run_id, marker, f"cannot read {KMSG} for the TRACE log")
        return LegacyLogTracer(run_id, marker)
    if backend == "nft":
        return CounterTracer(run_id, marker, "the nft command is missing, so packets cannot be traced")
    return Tracer(run_id, marker, "no iptables or nft on this host: no kernel evidence")


_ACTIVE: set[Tracer] = set()
_ATEXIT = threading.Lock()
_atexit_registered = False


def _remove_all_active() -> None:
    for tracer in list(_ACTIVE):
        with contextlib.suppress(Exception):
            tracer.remove_now()
        _ACTIVE.discard(tracer)


def _register_atexit() -> None:
    global _atexit_registered
    with _ATEXIT:
        if not _atexit_registered:
            atexit.register(_remove_all_active)
            _atexit_registered = True


class TraceSession:
    """`async with TraceSession(tracer) as s:` installs the trace rules; leaving removes them, always."""

    def __init__(self, tracer: Tracer) -> None:
        self.tracer = tracer
        self.swept: list[str] = []
        self.error = ""

    async def __aenter__(self) -> TraceSession:
        if self.tracer.mode != "none":
            self.swept = await asyncio.to_thread(sweep_leftovers)
        _register_atexit()
        _ACTIVE.add(self.tracer)
        try:
            await self.tracer.start()
        except TraceUnavailable as exc:
            await self._cleanup()
            self.error = str(exc)
            await self._fall_back(f"tracing failed ({exc})")
        except BaseException:
            await self._cleanup()
            raise
        return self

    async def _fall_back(self, why: str) -> None:
        """After a failed trace: the counter diff when the tracer was not already that, else nothing."""
        run_id, marker = self.tracer.run_id, self.tracer.marker
        if not isinstance(self.tracer, CounterTracer) and shutil.which("iptables-save"):
            counters = CounterTracer(run_id, marker, why)
            try:
                await counters.start()
            except TraceUnavailable:
                pass
            else:
                self.tracer = counters
                return
        self.tracer = Tracer(run_id, marker, f"no kernel evidence: {why}")

    async def __aexit__(self, *exc: object) -> None:
        await self._cleanup()

    async def _cleanup(self) -> None:
        try:
            await asyncio.shield(self.tracer.stop())
        except asyncio.CancelledError:
            self.tracer.remove_now()
            raise
        except Exception:
            self.tracer.remove_now()
        finally:
            _ACTIVE.discard(self.tracer)


@contextlib.contextmanager
def cancel_on_sigterm() -> Iterator[None]:
    """While inside, SIGTERM cancels the current task (so `finally` blocks remove the trace rules).

    Only from the main thread's running loop and when nobody else handles SIGTERM; else it does nothing.
    """
    try:
        loop = asyncio.get_running_loop()
        task = asyncio.current_task()
    except RuntimeError:
        yield
        return
    usable = (
        task is not None
        and threading.current_thread() is threading.main_thread()
        and signal.getsignal(signal.SIGTERM) in (signal.SIG_DFL, None)
    )
    if not usable:
        yield
        return
    assert task is not None
    loop.add_signal_handler(signal.SIGTERM, task.cancel)
    try:
        yield
    finally:
        loop.remove_signal_handler(signal.SIGTERM)
