"""Read one Docker host's model, wherever it is, without ever mixing two hosts in one model.

`collect_host(spec)` reads as `spec.kind` says (see `dockwire.hosts`):
- "local": `collect` here, Docker part and host part;
- "ssh": OpenSSH's `ssh` runs `dockwire snapshot -o -` on the host; its JSON is the model, as that host
  read it (its hostname, its `stale`): nothing of this machine is added;
- "docker": the Docker part from the daemon at the URL, the host part empty and `stale` saying why.

Every failure is a one-line DockwireError naming the host.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shlex
import shutil
import signal
from typing import Any

import msgspec

from dockwire.collect import HOST_PARTS, collect
from dockwire.docker_client import DEMO_HINT, connect
from dockwire.errors import DockwireError
from dockwire.hosts import DEFAULT_URL, HostSpec, spec_for_docker_host, ssh_target
from dockwire.model import HostModel
from dockwire.snapshot import MAX_SNAPSHOT_BYTES, SnapshotError, loads
from dockwire.text import safe

__all__ = ["REMOTE_COMMAND", "HostReading", "collect_host", "spec_for_docker_host", "ssh_command"]

#: What runs on an ssh host after `HostSpec.remote_dockwire` (through its shell, with its PATH).
REMOTE_COMMAND = ("snapshot", "-o", "-")
#: Exit status of a shell that found no such command.
COMMAND_NOT_FOUND = 127
#: ssh's own failures (connection, authentication, host key) exit with this.
SSH_FAILED = 255
#: An ssh client configuration file for every remote host (`dockwire --ssh-config FILE` sets it).
SSH_CONFIG_ENV = "DOCKWIRE_SSH_CONFIG"
#: How much of the remote stderr is kept (its end: the last line is the message).
STDERR_KEPT = 64 * 1024
LINE_LIMIT = 300


class HostReading(msgspec.Struct, frozen=True):
    """One host's model, with the name the user gave it (`model.hostname` is what the host reports)."""

    name: str
    spec: HostSpec
    model: HostModel


async def collect_host(spec: HostSpec, *, timeout: float = 30) -> HostReading:
    """Read `spec`'s host once, within `timeout` seconds (an ssh child is killed on timeout or cancel)."""
    deadline = asyncio.timeout(timeout)
    try:
        async with deadline:
            if spec.kind == "ssh":
                model = await _over_ssh(spec, timeout)
            else:
                model = await _with_docker(spec)
    except TimeoutError:
        if not deadline.expired():
            raise  # a timeout of something inside, not ours
        raise DockwireError(
            f"{spec.name}: no model within {timeout:g}s ({safe(spec.url) or 'local'})"
        ) from None
    return HostReading(spec.name, spec, model)


# --- through the Docker API ---------------------------------------------------------------------------------


def client_for(spec: HostSpec) -> Any:
    """A client that answered a ping: with the context's TLS material for tcp://, else `connect`."""
    if spec.tls is None:
        return connect(spec.url or DEFAULT_URL)  # "" is the default socket, never $DOCKER_HOST's daemon
    import docker
    from docker.errors import DockerException
    from docker.tls import TLSConfig

    tls = spec.tls
    try:
        config = TLSConfig(
            client_cert=(tls.cert, tls.key) if tls.cert and tls.key else None,
            ca_cert=tls.ca or None,
            verify=not tls.skip_verify,
        )
        client = docker.DockerClient(base_url=spec.url, tls=config, timeout=10)
        client.ping()
    except DockerException as exc:
        detail = safe(str(exc).split("\n")[0])
        raise DockwireError(f"cannot reach Docker at {safe(spec.url)}: {detail}; {DEMO_HINT}") from None
    return client


def _engine_name(client: Any) -> str:
    """The name the daemon's host gives itself (docker info's Name), "" if it does not say."""
    try:
        name = client.api.info().get("Name", "")
    except Exception:
        return ""
    return name if isinstance(name, str) else ""


async def _with_docker(spec: HostSpec) -> HostModel:
    client = await asyncio.to_thread(client_for, spec)
    try:
        if spec.kind == "local":
            return await collect(client)
        model = await collect(client, host_part=False)
        hostname = await asyncio.to_thread(_engine_name, client)
    finally:
        client.close()
    how = (
        "is reached without ssh"
        if spec.url.startswith("tcp://")
        else "is served from another network namespace"
    )
    why = f"host part unavailable: {spec.url} {how}"
    stale = {**model.stale, **dict.fromkeys(HOST_PARTS, why)}
    return msgspec.structs.replace(model, hostname=hostname, stale=dict(sorted(stale.items())))


# --- over ssh -----------------------------------------------------------------------------------------------


def ssh_command(spec: HostSpec, timeout: float = 30) -> list[str]:
    """The ssh argv (without the program): never a prompt, no tty, the spec's options, then the host.

    ssh gives up connecting after half the `timeout`, so its own reason is what the user sees."""
    destination, port = ssh_target(spec.url)
    wait = max(1, int(timeout / 2))
    config = os.environ.get(SSH_CONFIG_ENV, "")
    argv = ["-T", "-o", "BatchMode=yes", *(["-F", config] if config else []), *spec.ssh_options]
    argv += ["-o", f"ConnectTimeout={wait}"]
    if port is not None:
        argv += ["-p", str(port)]
    return [*argv, destination, "--", remote_command(spec)]


def _quote(word: str) -> str:
    return "~/" + shlex.quote(word[2:]) if word.startswith("~/") else shlex.quote(word)


def remote_command(spec: HostSpec) -> str:
    """The command line the host's shell runs: every word quoted (a leading `~/` left to expand)."""
    return " ".join(_quote(w) for w in [*spec.remote_dockwire, *REMOTE_COMMAND])


async def _read_all(stream: asyncio.StreamReader, limit: int, keep_end: bool = False) -> tuple[bytes, bool]:
    """Everything the stream sends, up to `limit` bytes (its start, or its end when `keep_end`), and
    whether there was more."""
    data = bytearray()
    over = False
    while chunk := await stream.read(1 << 16):
        data += chunk
        if len(data) > limit:
            over = True
            if not keep_end:
                return bytes(data[:limit]), over
            del data[:-limit]
    return bytes(data), over


def _last_line(stderr: bytes) -> str:
    lines = [line.strip() for line in stderr.decode("utf-8", "surrogateescape").splitlines()]
    line = next((line for line in reversed(lines) if line), "")
    shown = safe(line)
    return shown if len(shown) <= LINE_LIMIT else shown[: LINE_LIMIT - 3] + "..."


def _kill(proc: asyncio.subprocess.Process) -> None:
    """ssh and anything it started (it leads its own session)."""
    if proc.returncode is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)


async def run_captured(argv: list[str], limit: int) -> tuple[int, bytes, bytes, bool]:
    """Run `argv` in its own session with no stdin; its exit status, stdout (at most `limit` bytes: it is
    killed when it writes more), the end of its stderr, and whether stdout went over the limit.

    Both pipes are read at once (no deadlock on MBs of output); the process group is killed when this is
    cancelled (a timeout)."""
    proc = await asyncio.create_subprocess_exec(
        *argv,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,  # no terminal to prompt on; killed as a group
    )
    stdout, stderr = proc.stdout, proc.stderr
    assert stdout is not None and stderr is not None

    async def snapshot() -> tuple[bytes, bool]:
        data, over = await _read_all(stdout, limit)
        if over:
            _kill(proc)  # else it blocks on a full pipe and stderr never ends
        return data, over

    try:
        (out, too_much), (err, _) = await asyncio.gather(
            snapshot(), _read_all(stderr, STDERR_KEPT, keep_end=True)
        )
        status = await proc.wait()
    finally:
        _kill(proc)
        await proc.wait()
    return status, out, err, too_much


async def _over_ssh(spec: HostSpec, timeout: float) -> HostModel:
    ssh = shutil.which("ssh")
    if ssh is None:
        raise DockwireError(
            f"{spec.name}: no `ssh` command here to reach {safe(spec.url)} (install openssh-client)"
        )
    destination, _ = ssh_target(spec.url)
    status, out, err, too_much = await run_captured([ssh, *ssh_command(spec, timeout)], MAX_SNAPSHOT_BYTES)
    if too_much:
        raise DockwireError(
            f"{spec.name}: the snapshot from {safe(destination)} is larger than "
            f"{MAX_SNAPSHOT_BYTES // 2**20} MiB, the most a snapshot may be"
        )
    return _model_from(spec, destination, status, out, err)


def _model_from(spec: HostSpec, destination: str, status: int, out: bytes, err: bytes) -> HostModel:
    """The model ssh brought back, or the one-line reason there is none."""
    where, line = safe(destination), _last_line(err)
    if status == SSH_FAILED:
        raise DockwireError(f"{spec.name}: ssh to {where} failed: {line or 'no reason given'}")
    if status == COMMAND_NOT_FOUND:
        said = f"; its shell said: {line}" if line else ""
        raise DockwireError(
            f"{spec.name}: dockwire is not installed on {where} (install it there: pipx install dockwire, "
            f"on the PATH of ssh sessions{said})"
        )
    if status < 0:
        raise DockwireError(f"{spec.name}: ssh to {where} was killed by signal {-status}")
    if status != 0:
        said = line.removeprefix("dockwire: ") or f"exit status {status}"
        raise DockwireError(f"{spec.name}: dockwire on {where} failed: {said}")
    if not out.strip():
        raise DockwireError(f"{spec.name}: dockwire on {where} wrote no snapshot")
    try:
        return loads(out, origin=f"{spec.name}: snapshot from {where}")
    except SnapshotError as exc:
        hint = "; run the same dockwire version on both hosts" if "is not supported" in str(exc) else ""
        raise DockwireError(f"{exc}{hint}") from None
