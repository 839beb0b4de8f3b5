"""Connect to the Docker daemon, with one-line errors when it is not there."""

from __future__ import annotations

from typing import Any

from dockwire.errors import DockwireError

DEMO_HINT = "run `dockwire --demo` to explore a recorded host instead"


def connect(host: str | None = None, timeout: int = 10) -> Any:
    """A docker.DockerClient that has answered a ping; DockwireError when no daemon answers."""
    import docker
    from docker.errors import DockerException

    try:
        client = (
            docker.DockerClient(base_url=host, timeout=timeout) if host else docker.from_env(timeout=timeout)
        )
        client.ping()
    except DockerException as exc:
        where = host or "the local Docker socket"
        detail = str(exc).split("\n")[0]
        if "No such file" in detail or "FileNotFoundError" in detail or "Connection refused" in detail:
            detail = "daemon not running"
        elif "Permission denied" in detail:
            detail = "permission denied (run as root or join the docker group)"
        raise DockwireError(f"cannot reach Docker at {where}: {detail}; {DEMO_HINT}") from None
    return client
