"""Without root, dockwire reads what the Docker API gives and names each part it could not read, and why."""

from __future__ import annotations

import asyncio
import grp
import os
from typing import Any

import pytest

from dockwire.snapshot import loads

pytestmark = pytest.mark.live

NOBODY = 65534


def collect_as_docker_group_member() -> bytes:
    """Collect in a forked child running as `nobody` with only the docker group: the API answers, the kernel
    does not. Returns the child's snapshot JSON."""
    try:
        docker_gid = grp.getgrnam("docker").gr_gid
    except KeyError:
        pytest.skip("no docker group on this host")
    # Run one collect as root first so that every module it needs is imported: after the drop the child
    # may not be able to read this Python's own files (e.g. a Python installed under /root).
    import docker

    from dockwire.collect import collect
    from dockwire.snapshot import dumps

    dumps(asyncio.run(collect(docker.DockerClient(base_url="unix:///var/run/docker.sock"))))

    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child never returns into pytest
        code = 1
        try:
            os.close(read_end)
            os.setgroups([docker_gid])
            os.setgid(NOBODY)
            os.setuid(NOBODY)
            model = asyncio.run(collect(docker.DockerClient(base_url="unix:///var/run/docker.sock")))
            with os.fdopen(write_end, "wb") as pipe:
                pipe.write(dumps(model))
            code = 0
        finally:
            os._exit(code)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        data = pipe.read()
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    return data


def test_model_without_root_names_what_is_missing(lab: Any) -> None:
    model = loads(collect_as_docker_group_member())
    # The Docker API part is whole.
    assert model.engine is not None
    assert model.container("dwlab-web") is not None and model.network("dwlab-noicc") is not None
    assert "docker" not in model.stale
    # What needs the kernel is named, with the reason.
    assert "permission denied" in model.stale["namespaces"]
    assert all(c.interfaces == [] and c.dns is None for c in model.containers)
    firewall_parts = {k: v for k, v in model.stale.items() if k not in ("namespaces", "netlink", "sysctls")}
    assert firewall_parts, model.stale
    assert all("root" in reason or "permission" in reason.lower() for reason in firewall_parts.values()), (
        model.stale
    )
