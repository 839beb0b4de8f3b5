"""Full garbage collections while nobody types.

A model of 10,000 rules and the panes showing it keep some 260,000 objects the cyclic garbage collector
tracks; a full collection walks them all (250-300 ms on the lab VM), and Python starts one after every ten
second-generation passes, which a few dozen keys bring about: a pause in the middle of moving the cursor.
While the app runs, automatic full collections are off (the young generations are collected as usual): one
runs as often as Python would start one (after its threshold of second-generation passes), but only once no
key or click came for `IDLE` seconds; at `BEHIND` times that many passes it runs anyway."""

from __future__ import annotations

import gc
import time

from textual.message_pump import MessagePump
from textual.timer import Timer

#: No input for this long (seconds): a full collection may run.
IDLE = 2.0
#: A full collection runs, input or not, once this many times Python's threshold of passes went by.
BEHIND = 10
#: Second-generation passes between automatic full collections while the app runs: never, in practice.
NEVER = 1_000_000


class IdleCollector:
    """Started with the app (`start`), told of each input (`touched`), stopped with it (`stop`), which puts
    Python's own thresholds back."""

    def __init__(self) -> None:
        self._saved: tuple[int, int, int] | None = None
        self._timer: Timer | None = None
        self._input = time.monotonic()

    def start(self, owner: MessagePump) -> None:
        if self._saved is None:
            self._saved = gc.get_threshold()
            gc.set_threshold(self._saved[0], self._saved[1], NEVER)
        self._timer = owner.set_interval(IDLE / 2, self._check, name="idle collector")

    def touched(self) -> None:
        self._input = time.monotonic()

    def _check(self) -> None:
        if self._saved is None:
            return
        passes = gc.get_count()[2]  # second-generation passes since the last full collection
        threshold = self._saved[2]
        idle = time.monotonic() - self._input >= IDLE
        if passes >= threshold and (idle or passes >= BEHIND * threshold):
            gc.collect()

    def stop(self) -> None:
        if self._timer is not None:
            self._timer.stop()
            self._timer = None
        if self._saved is not None:
            gc.set_threshold(*self._saved)
            self._saved = None
