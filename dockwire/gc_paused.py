"""Pause Python's cyclic garbage collector while a large, long-lived structure is built (a parsed ruleset,
the verdict engine's compiled rules)."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def gc_paused() -> Iterator[None]:
    """Bulk building makes many small containers (and closures); with the cyclic GC running over them,
    parsing is ~3x slower and compiling 10,000 rules ~1.7x.

    Re-enabling the collector would start a young collection over everything the parse made (~0.3 s for
    100,000 rules), and the next ones would walk it again as it ages. Instead:
    - on the way in, the young generations are collected (they hold only what existed before, a few
      thousand objects at most: ~1 ms), so no garbage of the rest of the program is moved below;
    - on the way out, gc.freeze() then gc.unfreeze() moves every tracked object, now essentially the new
      structure, straight to the oldest generation without examining it. The model is long-lived by
      design (and freed by reference counting when replaced); full collections still look at it as usual.
    Nothing is done when the collector was already disabled (a caller pausing it for longer).
    """
    was_enabled = gc.isenabled()
    if was_enabled:
        gc.collect(1)
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.freeze()
            gc.unfreeze()
            gc.enable()
