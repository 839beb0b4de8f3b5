"""The resident's socket, offline: a resident serving a recorded model answers exactly as the command line
reads the same snapshot, refuses hostile requests without stopping, and is trusted only when it is the user's.

The resident here follows a recorded model (`Recorded`) instead of a live host; what is under test is the
socket, the messages and the command line's use of them. tests/test_resident_live.py serves a real host.
"""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from collections.abc import Collection, Iterator
from pathlib import Path

import msgspec
import pytest
from click.testing import CliRunner

from dockwire.cli import main
from dockwire.errors import DockwireError
from dockwire.model import HostModel
from dockwire.resident import server
from dockwire.resident.protocol import (
    MAX_REQUEST,
    PROTOCOL,
    WhyReply,
    WhyRequest,
    ask,
    socket_path,
)
from dockwire.resident.server import Resident
from dockwire.snapshot import load

SNAPSHOT = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft.json"
#: No daemon answers there: whatever a command prints came from the resident (or is its error).
NOWHERE = "unix:///run/dwtest-no-such-docker.sock"


class Recorded:
    """A model that never changes, as a resident follows one."""

    def __init__(self, model: HostModel) -> None:
        self.model = model
        self.asked: list[set[str]] = []
        self.complete = True

    async def settled(self, containers: Collection[str] = ()) -> tuple[HostModel, bool]:
        self.asked.append(set(containers))
        return self.model, self.complete


class Serving:
    """A resident on its own event loop in a thread, for as long as the `with` block."""

    def __init__(self, path: Path, model: HostModel) -> None:
        self.followed = Recorded(model)
        self.logged: list[str] = []
        self.resident = Resident(self.followed, path, self.logged.append)
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)

    def __enter__(self) -> Serving:
        self.resident.claim()
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self.resident.listen(), self._loop).result(10)
        return self

    def __exit__(self, *exc: object) -> None:
        asyncio.run_coroutine_threadsafe(self.resident.close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()


@pytest.fixture
def runtime(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "run"
    monkeypatch.setenv("DOCKWIRE_RUNTIME_DIR", str(folder))
    monkeypatch.setenv("DOCKER_HOST", NOWHERE)
    return folder


@pytest.fixture
def serving(runtime: Path) -> Iterator[Serving]:
    path = socket_path(NOWHERE)
    assert path is not None
    with Serving(path, load(SNAPSHOT)) as server:
        yield server


def cli(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.stdout, result.stderr


QUESTIONS = [
    ("dwlab-default-a", "dwlab-default-b"),
    ("dwlab-default-a", "dwlab-default-b", "--port", "80"),
    ("dwlab-iso-a", "dwlab-iso-b"),
    ("dwlab-noicc-a", "dwlab-noicc-b", "-v"),
    ("dwlab-default-a", "dwlab-web", "--json"),
    ("dwlab-internal-a", "outside:198.51.100.7", "--proto", "udp", "--port", "53"),
]


@pytest.mark.parametrize("question", QUESTIONS, ids=lambda q: " ".join(q))
def test_the_resident_prints_what_the_command_reads_from_the_snapshot(
    serving: Serving, question: tuple[str, ...]
) -> None:
    answered = cli("why", *question)
    read = cli("why", *question, "--snapshot", str(SNAPSHOT))
    assert answered[0] in (0, 1, 3)
    assert answered[:2] == read[:2]
    assert serving.followed.asked, "the command answered without asking the resident"


def test_the_resident_is_asked_to_settle_the_two_containers_namespaces(serving: Serving) -> None:
    cli("why", "dwlab-default-a", "dwlab-default-b")
    model = serving.followed.model
    ends = {c.id for c in model.containers if c.name in ("dwlab-default-a", "dwlab-default-b")}
    assert serving.followed.asked[-1] == ends


def test_a_bad_end_is_the_same_one_line_error(serving: Serving) -> None:
    answered = cli("why", "dwlab-default-a", "no-such\x1b[31m")
    read = cli("why", "dwlab-default-a", "no-such\x1b[31m", "--snapshot", str(SNAPSHOT))
    assert answered[0] == read[0] == 2
    assert answered[2] == read[2] and answered[2].count("\n") == 1 and "\x1b" not in answered[2]


def test_without_a_resident_or_with_cold_the_host_is_read(serving: Serving) -> None:
    code, _, err = cli("why", "dwlab-default-a", "dwlab-default-b", "--cold")
    assert code == 2 and "cannot reach Docker" in err and err.count("\n") == 1
    code, _, err = cli("-H", "unix:///run/dwtest-other.sock", "why", "dwlab-default-a", "dwlab-default-b")
    assert code == 2 and "cannot reach Docker" in err  # another engine: not this resident's


def test_verbose_says_who_answered(serving: Serving) -> None:
    _, _, err = cli("why", "dwlab-default-a", "dwlab-default-b", "-v")
    assert f"resident dockwire (pid {os.getpid()})" in err


def _raw(path: Path, data: bytes) -> WhyReply:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(10)
        sock.connect(str(path))
        sock.sendall(data)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return msgspec.msgpack.decode(b"".join(chunks), type=WhyReply)


HOSTILE = {
    "not msgpack": b"\xc1\xc1\xc1",
    "not a map": msgspec.msgpack.encode([1, 2, 3]),
    "another protocol": msgspec.msgpack.encode({"src": "a", "dst": "b", "protocol": PROTOCOL + 1}),
    "a wrong type": msgspec.msgpack.encode({"src": 1, "dst": "b", "protocol": PROTOCOL}),
    "a port out of range": msgspec.msgpack.encode(
        {"src": "a", "dst": "b", "port": 70000, "protocol": PROTOCOL}
    ),
    "an unknown field": msgspec.msgpack.encode({"src": "a", "dst": "b", "rm": "-rf", "protocol": PROTOCOL}),
    "a huge name": msgspec.msgpack.encode({"src": "a" * 5000, "dst": "b", "protocol": PROTOCOL}),
    "too large": b"\x00" * (MAX_REQUEST + 1),
    "nested deeper than the decoder goes": b"\x91" * 10000 + b"\x00",
    "an end without its host": msgspec.msgpack.encode({"src": "web@", "dst": "b", "protocol": PROTOCOL}),
}


@pytest.mark.parametrize("kind", HOSTILE)
def test_a_hostile_request_is_refused_and_the_resident_goes_on(serving: Serving, kind: str) -> None:
    reply = _raw(serving.resident.path, HOSTILE[kind])
    assert reply.exit_code == 2 and (reply.error or reply.refused)
    assert "\n" not in reply.error + reply.refused
    assert ask(NOWHERE, WhyRequest("dwlab-default-a", "dwlab-default-b")) is not None


def test_an_answer_before_the_model_settled_says_so(serving: Serving) -> None:
    serving.followed.complete = False
    code, out, err = cli("why", "dwlab-default-a", "dwlab-default-b")
    assert code == 0 and out
    assert err.splitlines()[0] == "dockwire: warning: the live model was still taking in changes: this " + (
        "answer may miss the latest of them"
    )


def test_text_the_resident_cannot_be_sent_is_read_cold(serving: Serving) -> None:
    code, _, err = cli("why", "dwlab-default-a", "bad\udcff")  # an argument that is not UTF-8
    assert code == 2 and "cannot reach Docker" in err and err.count("\n") == 1
    assert not serving.followed.asked


def test_a_resident_of_another_protocol_is_not_used(
    serving: Serving, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(server, "PROTOCOL", PROTOCOL + 1)
    code, _, err = cli("why", "dwlab-default-a", "dwlab-default-b")
    lines = err.splitlines()
    assert "refused: it speaks dockwire's resident protocol" in lines[0] and "reading the host" in lines[0]
    assert code == 2 and "cannot reach Docker" in lines[1]


def test_a_second_resident_for_the_same_engine_is_refused(serving: Serving) -> None:
    other = Resident(Recorded(HostModel()), serving.resident.path, print)
    with pytest.raises(DockwireError, match=rf"\(pid {os.getpid()}\) already serves this engine"):
        other.claim()


def test_a_runtime_folder_open_to_others_is_refused_and_left_as_it_was(tmp_path: Path) -> None:
    folder = tmp_path / "shared"
    folder.mkdir()
    folder.chmod(0o1777)
    resident = Resident(Recorded(HostModel()), folder / "local.sock", print)
    with pytest.raises(DockwireError, match=r"closed to others \(mode 0700\): not listening there"):
        resident.claim()
    assert folder.stat().st_mode & 0o7777 == 0o1777 and not list(folder.iterdir())


def test_the_socket_is_the_users_own_and_removed_on_close(runtime: Path) -> None:
    path = socket_path(NOWHERE)
    assert path is not None
    with Serving(path, load(SNAPSHOT)):
        assert oct(path.stat().st_mode & 0o777) == "0o600"
        assert oct(path.parent.stat().st_mode & 0o777) == "0o700"
    assert not path.exists()
    assert ask(NOWHERE, WhyRequest("a", "b")) is None


def test_a_socket_left_by_a_dead_resident_is_not_asked_and_is_replaced(runtime: Path) -> None:
    path = socket_path(NOWHERE)
    assert path is not None
    runtime.mkdir(mode=0o700)
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead.bind(str(path))
    dead.close()  # the file stays, nobody listens
    assert ask(NOWHERE, WhyRequest("a", "b")) is None
    with Serving(path, load(SNAPSHOT)):
        assert ask(NOWHERE, WhyRequest("dwlab-default-a", "dwlab-default-b")) is not None


@pytest.mark.parametrize("mode", [0o777, 0o755])
def test_a_socket_in_a_folder_others_may_use_is_not_trusted(serving: Serving, mode: int) -> None:
    folder = serving.resident.path.parent
    folder.chmod(mode)
    try:
        assert ask(NOWHERE, WhyRequest("dwlab-default-a", "dwlab-default-b")) is None
    finally:
        folder.chmod(0o700)


def test_socket_names() -> None:
    assert socket_path(None) is not None and socket_path(None).name == "local.sock"  # type: ignore[union-attr]
    one, two = socket_path("unix:///run/a.sock"), socket_path("unix:///run/b.sock")
    assert one is not None and two is not None and one != two and one.parent == two.parent
