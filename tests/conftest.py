"""Shared fixtures. Live tests get the lab through `lab`; it is built once and reused by every module.

`lab` is module-scoped but cheap after the first build (`lab_up` is idempotent: it reuses what is there),
so a module that takes the lab down (test_lab_live) does not break the modules after it. When the session
ends, the lab is taken down only if it was not complete before the session began: a developer's running lab
(or another test session's) is left as it was.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.live_env import docker_or_skip

_lab_clients: list[Any] = []


@pytest.fixture(scope="session")
def docker_client() -> Any:
    return docker_or_skip()


@pytest.fixture(scope="module")
def lab(docker_client: Any) -> Iterator[Any]:
    """The lab, up. Yields lab_up's report."""
    from dockwire.lab import lab_status, lab_up

    if not _lab_clients:
        complete = all(o.state in ("present", "running", "up") for o in lab_status(docker_client).objects)
        _lab_clients.append(docker_client if not complete else None)
    yield lab_up(docker_client)


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if _lab_clients and _lab_clients[0] is not None:
        from dockwire.lab import lab_down

        lab_down(_lab_clients.pop())


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The safety figures: inputs fuzzed, faults injected, host states compared."""
    from tests import fuzz_stats, safety_stats

    terminalreporter.write_line(f"safety: {fuzz_stats.summary()}; {safety_stats.summary()}")
