"""One benchmark figure as data: what was measured, by which command, its value, floor and target."""

from __future__ import annotations

import statistics
from collections.abc import Callable
from dataclasses import dataclass, field

#: Where a benchmark's progress lines go (its own CLI prints them; the report sends them to stderr).
Log = Callable[[str], None]


@dataclass(frozen=True, slots=True)
class Result:
    """A figure. `target` is a maximum of the value, or of the ratio to the floor when `ratio_target`;
    `met` is None without a target. `note` is what the table shows beside the value (spread, parts)."""

    what: str
    command: str
    value: float
    unit: str
    floor: float | None = None
    target: float | None = None
    ratio_target: bool = False
    #: The ratio to the floor when it is not value / floor (e.g. the median of pair-by-pair ratios).
    measured_ratio: float | None = None
    note: str = ""
    met: bool | None = field(default=None)

    def __post_init__(self) -> None:
        if self.met is None and self.target is not None:
            compared = self.ratio if self.ratio_target else self.value
            object.__setattr__(self, "met", compared is not None and compared <= self.target)

    @property
    def ratio(self) -> float | None:
        if self.measured_ratio is not None:
            return self.measured_ratio
        return self.value / self.floor if self.floor else None


def spread(values: list[float], scale: float = 1.0, digits: int = 2) -> str:
    """`min-max over n runs` of repeated measurements (scaled, e.g. 1000 for ms)."""
    if len(values) < 2:
        return ""
    return f"{min(values) * scale:.{digits}f}-{max(values) * scale:.{digits}f} over {len(values)} runs"


def median(values: list[float]) -> float:
    return statistics.median(values)
