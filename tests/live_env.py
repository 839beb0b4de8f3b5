"""What live tests share: the test label, the lab image, and a Docker client or a clean skip."""

from __future__ import annotations

import os
import shutil
from typing import Any

import pytest

from dockwire.lab.scenarios import IMAGE

__all__ = ["IMAGE", "TEST_LABEL", "docker_or_skip", "live_unavailable"]

#: Every object a test creates carries this label (and a `dwtest-` name prefix).
TEST_LABEL = "io.dockwire.test"


def live_unavailable() -> str:
    """Why live tests cannot run here, or "" when they can."""
    import docker

    if os.geteuid() != 0:
        return "live tests need root"
    for tool in ("ip", "iptables", "nft"):
        if shutil.which(tool) is None:
            return f"no `{tool}` command"
    try:
        client = docker.from_env(timeout=10)
        client.ping()
        client.images.get(IMAGE)
    except docker.errors.ImageNotFound:
        return f"no image {IMAGE} (run scripts/lab-engine)"
    except docker.errors.DockerException as err:
        return f"no Docker engine: {err}"
    return ""


def docker_or_skip() -> Any:
    """A Docker client, or skip the test with the reason."""
    import docker

    reason = live_unavailable()
    if reason:
        pytest.skip(reason)
    return docker.from_env(timeout=60)
