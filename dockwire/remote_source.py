"""The dashboard's source for an ssh host: that host's whole model, re-read every few seconds.

Each read is `collect_host(spec)`: ssh runs `dockwire snapshot -o -` there, so the Docker part and the host
part come from that host together. Between reads the source waits `interval` seconds, doubling up to
`max_interval` while nothing changes; a change brings it back to `interval`. "Changed" ignores `taken_at`
and the firewall's counters: counters that moved are still an update (parts {"counters"}, with the rules
that moved) so the firewall pane stays live, but they do not keep the reads fast, since a busy host's counters
always move. Any other change is a full update (parts {"all"}).

A read that fails keeps the last model and marks it stale: `stale["host"]` ("unreachable since HH:MM:SS:
<reason>"), and `stale["docker"]` the same, so the status line shows the daemon lost; one event line says
so. The next good read replaces it. Only a first read that fails is raised (one-line DockwireError): there
is no model to show yet.

Probes and traces would send packets from this machine, not from that host: `actions_refused` says so.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

import msgspec

from dockwire.collect import failure_reason
from dockwire.errors import DockwireError
from dockwire.hosts import HostSpec
from dockwire.live import ModelUpdate
from dockwire.model import Firewall, HostModel
from dockwire.probes.firewall_diff import diff_firewalls
from dockwire.remote import collect_host
from dockwire.text import safe

ALL = frozenset({"all"})
COUNTERS = frozenset({"counters"})


def remote_label(spec: HostSpec, interval: float) -> str:
    """The title bar's words for an ssh host."""
    return f"live · {spec.url} (remote, read every {interval:g} s)"


def compare(old: HostModel, new: HostModel) -> tuple[ModelUpdate | None, bool]:
    """The update from `old` to `new` (None: nothing to show), and whether more than counters changed."""
    delta = diff_firewalls(old.firewall, new.firewall)
    moved = frozenset(delta.moved)
    bare = {"taken_at": "", "firewall": Firewall()}
    if delta.rules_changed or msgspec.structs.replace(old, **bare) != msgspec.structs.replace(new, **bare):
        return ModelUpdate(new, ALL, moved), True
    if delta.moved or delta.policy_moved:
        return ModelUpdate(new, COUNTERS, moved), False
    return None, False


def _one_line(exc: Exception) -> str:
    text = str(exc) if isinstance(exc, DockwireError) else failure_reason(exc)
    return safe(text.strip().splitlines()[0] if text.strip() else type(exc).__name__)


class RemoteSource:
    """An ssh host's model for the dashboard (see the module's docstring)."""

    #: The model is current (the status line shows whether the host answers) ...
    live = True
    #: ... but nothing here acts on it: there is no local client for probes.
    client = None

    def __init__(
        self,
        spec: HostSpec,
        *,
        interval: float = 5.0,
        max_interval: float = 30.0,
        timeout: float = 30.0,
        first: HostModel | None = None,
        label: str = "",
    ) -> None:
        """`first`: a model already read (open_source reads one to fail at startup, not in the dashboard)."""
        self.spec = spec
        self.interval = interval
        self.max_interval = max(interval, max_interval)
        self.timeout = timeout
        self.label = label or remote_label(spec, interval)
        self.actions_refused = (
            f"{spec.url} is a remote host: probes would send packets from this machine, not from it"
        )
        #: The last good read, and the wait before the next one.
        self.model = first
        self.wait = interval
        #: While unreachable: when it began (HH:MM:SS) and the last reason; "" while it answers.
        self._down_since = ""
        self._reason = ""

    async def read(self) -> HostModel:
        """One read of the whole host; a one-line DockwireError when it fails."""
        return (await collect_host(self.spec, timeout=self.timeout)).model

    async def updates(self) -> AsyncGenerator[ModelUpdate, None]:
        """The model, then an update whenever a read finds something new, until cancelled."""
        if self.model is None:
            self.model = await self.read()
        yield ModelUpdate(self._shown(self.model), ALL)
        while True:
            await asyncio.sleep(self.wait)
            update, changed = await self._next()
            self.wait = self.interval if changed else min(self.max_interval, self.wait * 2)
            if update is not None:
                yield update

    async def _next(self) -> tuple[ModelUpdate | None, bool]:
        assert self.model is not None
        try:
            new = await self.read()
        except Exception as exc:  # ssh down, a timeout, a bad snapshot: the last model stays, marked stale
            return self._unreachable(_one_line(exc)), False
        old, self.model = self.model, new
        if self._down_since:
            self._down_since = self._reason = ""
            return ModelUpdate(new, ALL, events=(f"host {self.spec.url}: answering again",)), True
        return compare(old, new)

    def _unreachable(self, reason: str) -> ModelUpdate | None:
        """The last model marked stale; None when it already says this."""
        if self._down_since and reason == self._reason:
            return None
        events: tuple[str, ...] = ()
        if not self._down_since:
            self._down_since = datetime.now().strftime("%H:%M:%S")
            events = (f"host {self.spec.url}: unreachable: {reason}",)
        self._reason = reason
        assert self.model is not None
        return ModelUpdate(self._shown(self.model), ALL, events=events)

    def _shown(self, model: HostModel) -> HostModel:
        """`model`, with why it is old while the host does not answer."""
        if not self._down_since:
            return model
        why = f"unreachable since {self._down_since}: {self._reason}"
        stale = {**model.stale, "host": why, "docker": why}
        return msgspec.structs.replace(model, stale=dict(sorted(stale.items())))
