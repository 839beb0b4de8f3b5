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
        raise DockwireError(f"cannot reach Docker at {where}: {unreachable(exc)}; {DEMO_HINT}") from None
    return client


def unreachable(exc: BaseException) -> str:
    """Why a request to the daemon failed, in a few words (the first line of the error otherwise)."""
    detail = str(exc).split("\n")[0]
    if "No such file" in detail or "FileNotFoundError" in detail or "Connection refused" in detail:
        return "daemon not running"
    if "Permission denied" in detail:
        return "permission denied (run as root or join the docker group)"
    return detail


def daemon_errors() -> tuple[type[BaseException], ...]:
    """What a request to a daemon that went away (or never answered) raises through the docker SDK."""
    from docker.errors import DockerException
    from requests.exceptions import RequestException

    return DockerException, RequestException
