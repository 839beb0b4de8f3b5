"""What a lab command did or found: a list of lab objects with their state, printable as a short table."""

from __future__ import annotations

from dataclasses import dataclass, field


class LabError(Exception):
    """An environment problem that stops a lab command; the message is one line meant for the user."""


@dataclass(frozen=True)
class LabObject:
    """One object of the lab: a network, container, netns, veth or firewall rule."""

    kind: str
    name: str
    # up: created, recreated, reused, skipped; down: removed, absent; status: running, present, missing, ...
    state: str
    scenario: str = ""
    detail: str = ""


@dataclass
class LabReport:
    """The outcome of `lab up`, `lab down` or `lab status`."""

    action: str
    objects: list[LabObject] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def find(self, name: str, kind: str = "") -> LabObject | None:
        """The first object with this name (and kind, when given)."""
        return next((o for o in self.objects if o.name == name and (not kind or o.kind == kind)), None)

    def render(self) -> str:
        """A plain text table, one object a line, then the notes."""
        header = ("SCENARIO", "KIND", "NAME", "STATE", "DETAIL")
        rows = [(o.scenario, o.kind, o.name, o.state, o.detail) for o in self.objects]
        widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header) - 1)]
        lines = []
        for row in [header, *rows]:
            cells = [cell.ljust(width) for cell, width in zip(row, widths, strict=False)]
            lines.append("  ".join([*cells, row[-1]]).rstrip())
        if not rows:
            lines.append(f"(no lab objects {'found' if self.action == 'status' else 'touched'})")
        lines.extend(f"note: {note}" for note in self.notes)
        return "\n".join(lines)

    def __str__(self) -> str:
        return self.render()
