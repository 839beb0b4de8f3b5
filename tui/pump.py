"""Runs a model source on its own thread and event loop, so nothing the source does can stall the UI.

Each update is handed over with `post_message` (thread-safe); a source that fails is restarted after a pause,
and the failure is reported the same way.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable

from dockwire.live import ModelUpdate
from dockwire.sources import ModelSource

RETRY_SECONDS = 3.0


class SourcePump:
    def __init__(
        self,
        source: ModelSource,
        deliver: Callable[[ModelUpdate], None],
        failed: Callable[[BaseException], None],
        retry: float = RETRY_SECONDS,
    ) -> None:
        self.source = source
        self.deliver = deliver
        self.failed = failed
        self.retry = retry
        self._loop: asyncio.AbstractEventLoop | None = None
        self._task: asyncio.Task[None] | None = None
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._run, name="dockwire-source", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        """Cancel the source's iteration (which stops its watchers) and wait a little for the thread."""
        self._stopping.set()
        loop, task = self._loop, self._task
        if loop is not None and task is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(task.cancel)
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            self._task = loop.create_task(self._follow())
            with contextlib.suppress(asyncio.CancelledError):
                loop.run_until_complete(self._task)
        finally:
            with contextlib.suppress(Exception):
                loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    async def _follow(self) -> None:
        while not self._stopping.is_set():
            try:
                async for update in self.source.updates():
                    self.deliver(update)
                    if self._stopping.is_set():
                        return
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failed(exc)
            await asyncio.sleep(self.retry)
