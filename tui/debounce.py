"""Run a piece of screen work at once when it comes alone, once at the end when it comes in a burst."""

from __future__ import annotations

import time
from collections.abc import Callable

from textual.message_pump import MessagePump
from textual.timer import Timer


class Debounce:
    """`request()` runs `work` now when the previous request is older than `delay` seconds (a single key
    press); a request closer to the previous one (a held key) waits until `delay` has passed without
    another, so a burst costs one `work`, for what was asked last. `flush()` runs a waiting `work` now
    (before anything reads what it brings up to date)."""

    def __init__(self, owner: MessagePump, delay: float, work: Callable[[], None]) -> None:
        self._owner = owner
        self._delay = delay
        self._work = work
        self._last = -delay
        self._timer: Timer | None = None
        self.pending = False

    def request(self) -> None:
        now = time.monotonic()
        burst = now - self._last < self._delay
        self._last = now
        if not burst and not self.pending:
            self._work()
            return
        self.pending = True
        if self._timer is None:
            self._timer = self._owner.set_timer(self._delay, self._due, name="debounce")

    def _due(self) -> None:
        """The timer: `work` once `delay` has passed since the last request, else wait the rest of it."""
        self._timer = None
        rest = self._last + self._delay - time.monotonic()
        if rest > 0.001 and self.pending:
            self._timer = self._owner.set_timer(rest, self._due, name="debounce")
        else:
            self.flush()

    def flush(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self.pending:
            self.pending = False
            self._work()
