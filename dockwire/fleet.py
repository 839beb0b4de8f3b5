"""Several Docker hosts, each its own model: what a question spanning hosts reasons over.

A `Fleet` never merges hosts: each `HostModel` holds one host's Docker part and host part (or marks the
host part stale), and the verdict engine walks a packet from one host's model into the next.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field

from dockwire.errors import DockwireError
from dockwire.model import HostModel
from dockwire.text import safe

# A host name as the user types it after `@` or before `=`: letters, digits, '.', '_', '-'.
HOST_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$")


class FleetError(DockwireError):
    """Hosts given twice, badly named, or none at all."""


def check_host_name(name: str, what: str = "host name") -> str:
    """`name` if it can name a host; FleetError (one line) otherwise."""
    if not HOST_NAME.match(name):
        raise FleetError(
            f"{what} {name!r} is not usable: use letters, digits, '.', '_' or '-' (up to 63), e.g. a or web-1"
        )
    return name


@dataclass(frozen=True)
class Fleet:
    """Named host models, in the order they were given."""

    hosts: Mapping[str, HostModel] = field(default_factory=dict)

    @classmethod
    def of(cls, named: list[tuple[str, HostModel]]) -> Fleet:
        """A fleet from (name, model) pairs; FleetError on a repeated or unusable name."""
        hosts: dict[str, HostModel] = {}
        for name, model in named:
            check_host_name(name)
            if name in hosts:
                raise FleetError(f"host {name!r} is given twice: name each host once (NAME=FILE or NAME=URL)")
            hosts[name] = model
        if not hosts:
            raise FleetError("no host given")
        return cls(hosts)

    @property
    def names(self) -> list[str]:
        return list(self.hosts)

    @property
    def several(self) -> bool:
        return len(self.hosts) > 1

    def __iter__(self) -> Iterator[tuple[str, HostModel]]:
        return iter(self.hosts.items())

    def __len__(self) -> int:
        return len(self.hosts)

    def model(self, name: str) -> HostModel:
        """The model of host `name`; FleetError naming the known hosts otherwise."""
        found = self.hosts.get(name)
        if found is None:
            raise FleetError(f"no host named {name!r}; hosts: {', '.join(self.hosts)}")
        return found

    def first(self) -> tuple[str, HostModel]:
        return next(iter(self.hosts.items()))


def default_host_name(model: HostModel, taken: set[str]) -> str:
    """A name for a host given without one: its hostname (made usable), numbered when already taken."""
    base = re.sub(r"[^A-Za-z0-9._-]", "-", model.hostname or "host").strip("-._")[:55] or "host"
    if not base[0].isalnum():
        base = f"h{base}"
    name, n = base, 2
    while name in taken:
        name, n = f"{base}-{n}", n + 1
    return name


def stale_warnings(fleet: Fleet) -> list[str]:
    """One line of plain text per part of a host that could not be read, and why (naming the host when there
    are several): what the commands print on stderr beside an answer."""
    lines = []
    for name, model in fleet:
        where = f"host {name}: " if fleet.several else ""
        lines += [
            f"dockwire: warning: {safe(where + part)}: {safe(reason)}"
            for part, reason in sorted(model.stale.items())
        ]
    return lines


__all__ = ["Fleet", "FleetError", "check_host_name", "default_host_name", "stale_warnings"]
