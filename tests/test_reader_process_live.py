"""The forked reader on the real lab: a read that shares its netlink work with it gives exactly the model a
read in one process gives; a reader that died is read around; the reader never outlives the read."""

from __future__ import annotations

import asyncio
import os
import signal
import threading
from typing import Any

import pytest

from dockwire.collect import collect
from dockwire.model import HostModel
from dockwire.reader_process import ReaderProcess
from dockwire.verdict.ruleset import same_rules

pytestmark = pytest.mark.live


def _read(client: Any, reader: ReaderProcess | None, namespaces_of: Any = None) -> HostModel:
    try:
        model = asyncio.run(collect(client, namespaces_of, reader=reader))
    finally:
        if reader is not None:
            reader.close()
    return model


def netlink_parts(model: HostModel) -> tuple[Any, ...]:
    """What the reader reads: the host's netlink part and the containers' namespaces (and what pairs them)."""
    return model.host, model.containers, model.veths, model.bridges, model.stale


def _gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    return False


def test_a_shared_read_gives_the_same_model(lab: Any, docker_client: Any) -> None:
    reader = ReaderProcess.start()
    assert reader is not None
    shared = _read(docker_client, reader)
    alone = _read(docker_client, None)
    assert netlink_parts(shared) == netlink_parts(alone)
    assert len([c for c in shared.containers if c.interfaces]) >= 10 and shared.host.interfaces
    assert same_rules(shared.firewall, alone.firewall)  # the reader listed the nf_tables tables
    assert _gone(reader.pid)


def test_a_question_s_read_has_the_reader_read_the_chosen_namespaces(lab: Any, docker_client: Any) -> None:
    def chosen(docker_part: HostModel) -> set[str]:
        return {c.id for c in docker_part.containers if c.name in ("dwlab-default-a", "dwlab-web")}

    reader = ReaderProcess.start()
    assert reader is not None
    shared = _read(docker_client, reader, chosen)
    assert {w.id for w in reader.streamed.values()} == chosen(shared)  # this process read none itself
    alone = _read(docker_client, None, chosen)
    assert netlink_parts(shared) == netlink_parts(alone) and same_rules(shared.firewall, alone.firewall)
    assert [c.name for c in shared.containers if c.interfaces] == ["dwlab-default-a", "dwlab-web"]


def test_a_reader_that_died_is_read_around(lab: Any, docker_client: Any) -> None:
    reader = ReaderProcess.start()
    assert reader is not None
    os.kill(reader.pid, signal.SIGKILL)
    model = _read(docker_client, reader)
    assert netlink_parts(model) == netlink_parts(_read(docker_client, None))
    assert not model.stale


def test_no_reader_is_forked_beside_another_thread() -> None:
    stop = threading.Event()
    other = threading.Thread(target=stop.wait)
    other.start()
    try:
        assert ReaderProcess.start() is None
    finally:
        stop.set()
        other.join()
