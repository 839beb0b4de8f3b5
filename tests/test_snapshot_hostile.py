"""Snapshot loading against hostile files and documents: every one gives a HostModel or a one-line
SnapshotError, never another exception, never a hang, never unbounded memory.

The file-level regressions (/dev/zero, a FIFO without a writer) run `load` in a child process with a memory
limit and a timeout, so that a regression fails the test instead of hanging it or exhausting the machine.
"""

from __future__ import annotations

import copy
import json
import os
import resource
import subprocess
import sys
from pathlib import Path
from typing import Any

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dockwire import snapshot
from dockwire.model import HostModel
from dockwire.snapshot import SnapshotError, check_addresses, dumps, load, loads
from tests.fuzz_stats import count

RECORDED = Path(__file__).parent / "fixtures" / "snapshots" / "engine-28.5.2-iptables-nft.json"
BASE_TEXT = RECORDED.read_text()
BASE_DOC = json.loads(BASE_TEXT)
BASE_MODEL = loads(BASE_TEXT)

FUZZ = settings(
    max_examples=250,
    deadline=3000,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
WEIRD_JSON = [
    None,
    True,
    0,
    -1,
    1.5,
    2**64,
    10**300,
    "",
    "x",
    "1",
    "10.0.0.300",
    "::g",
    [],
    {},
    [1],
    {"a": 1},
]


def one_line_error(data: Any) -> HostModel | None:
    try:
        model = loads(data)
    except SnapshotError as exc:
        assert str(exc) and str(exc).isprintable(), repr(str(exc))  # one line, nothing unprintable
        return None
    assert check_addresses(model) is None
    return model


def _nodes(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _nodes(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value[:3]):  # the first few of each list are enough, and keep this fast
            out += _nodes(v, (*path, i))
    return out


BASE_NODES = [p for p in _nodes(BASE_DOC) if p]


def json_path(field: tuple[Any, ...]) -> str:
    return "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in field)


def _parent(doc: Any, path: tuple[Any, ...]) -> Any:
    for p in path[:-1]:
        doc = doc[p]
    return doc


@st.composite
def mutated_doc(draw: st.DrawFn) -> Any:
    doc = copy.deepcopy(BASE_DOC)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(BASE_NODES))
        try:
            parent = _parent(doc, path)
            key = path[-1]
            parent[key]
        except (KeyError, IndexError, TypeError):
            continue  # removed by an earlier mutation
        op = draw(st.sampled_from(["drop", "weird", "wrap", "text", "deep"]))
        if op == "drop":
            del parent[key]
        elif op == "weird":
            parent[key] = copy.deepcopy(draw(st.sampled_from(WEIRD_JSON)))
        elif op == "wrap":
            parent[key] = [parent[key]]
        elif op == "text" and isinstance(parent[key], str):
            chars = ["\x00", "\u2028", "\udc80", '"', "\\", "é", "/", ".", ":", "%", "9"]
            pos = draw(st.integers(0, len(parent[key])))
            parent[key] = parent[key][:pos] + draw(st.sampled_from(chars)) + parent[key][pos:]
        elif op == "deep":
            value: Any = 1
            for _ in range(draw(st.sampled_from([10, 990, 5000]))):
                value = [value]
            parent[key] = value
            break
    return doc


@FUZZ
@given(mutated_doc())
def test_any_mutated_snapshot_loads_or_raises_snapshot_error(doc: Any) -> None:
    count("snapshot")
    try:
        text = json.dumps(doc, ensure_ascii=False)
    except RecursionError:
        return
    one_line_error(text)
    one_line_error(text.encode("utf-8", "surrogatepass"))


@FUZZ
@given(st.binary(max_size=200) | st.text(max_size=100))
def test_random_data_is_a_snapshot_error(data: bytes | str) -> None:
    count("snapshot")
    assert one_line_error(data) is None or data


@FUZZ
@given(st.data())
def test_text_mutations_of_a_recorded_snapshot(data: st.DataObject) -> None:
    count("snapshot")
    pos = data.draw(st.integers(0, len(BASE_TEXT)))
    piece = data.draw(st.sampled_from(["", "}", "[", '"', "\\", "\x00", "9" * 5000, "[" * 3000, "\udc80"]))
    text = BASE_TEXT[:pos] + piece + BASE_TEXT[pos + data.draw(st.integers(0, 2)) :]
    one_line_error(text)


# Every field the loader checks, with where it lives in the recorded snapshot.
ADDRESS_FIELDS = [
    ("networks", 0, "subnets", 0, "subnet"),
    ("networks", 0, "subnets", 0, "gateway"),
    ("containers", 0, "endpoints", 0, "ip"),
    ("containers", 0, "endpoints", 0, "gateway"),
    ("containers", 0, "endpoints", 0, "ipv6"),
    ("host", "interfaces", 3, "addresses", 0, "address"),
    ("host", "routes", 0, "dst"),
    ("host", "routes", 0, "gateway"),
    ("host", "routes", 0, "prefsrc"),
]


@FUZZ
@given(
    st.sampled_from(ADDRESS_FIELDS),
    st.sampled_from(
        ["", "default", "10.0.0.1", "10.0.0.0/8", "10.0.0.300", "fe80::1", "fe80::/64", "::g", "x"]
    )
    | st.ip_addresses().map(str)
    | st.text(max_size=12),
)
def test_address_fields_load_only_when_they_parse(field: tuple[Any, ...], value: str) -> None:
    count("snapshot")
    doc = copy.deepcopy(BASE_DOC)
    _parent(doc, field)[field[-1]] = value
    try:
        model = loads(json.dumps(doc))
    except SnapshotError as exc:
        assert f"at `{json_path(field)}`" in str(exc), exc
        return
    assert check_addresses(model) is None


@FUZZ
@given(
    st.text(max_size=30),
    st.dictionaries(st.text(max_size=8), st.text(max_size=8), max_size=4),
    st.integers(0, 2**64 - 1),
)
def test_valid_models_round_trip(hostname: str, labels: dict[str, str], packets: int) -> None:
    """dumps -> loads gives an equal model, whatever text the records hold."""
    count("snapshot")
    container = msgspec.structs.replace(BASE_MODEL.containers[0], labels=labels, name=hostname or "x")
    tables = BASE_MODEL.firewall.tables
    chain = msgspec.structs.replace(tables[0].chains[0], packets=packets)
    table = msgspec.structs.replace(tables[0], chains=[chain, *tables[0].chains[1:]])
    model = msgspec.structs.replace(
        BASE_MODEL,
        hostname=hostname,
        containers=[container, *BASE_MODEL.containers[1:]],
        firewall=msgspec.structs.replace(BASE_MODEL.firewall, tables=[table, *tables[1:]]),
    )
    assert loads(dumps(model)) == model


# --- regressions: one per finding ---------------------------------------------------------------------------


def load_in_child(path: str, timeout: float = 30.0) -> str:
    """`load(path)` in a child process limited to 1 GiB of memory: its one-line outcome."""
    code = (
        "import sys\n"
        "from dockwire.snapshot import SnapshotError, load\n"
        "try:\n    load(sys.argv[1])\nexcept SnapshotError as exc:\n    print('SnapshotError:', exc)\n"
        "else:\n    print('loaded')\n"
    )

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    proc = subprocess.run(
        [sys.executable, "-c", code, path], capture_output=True, text=True, timeout=timeout, preexec_fn=limit
    )
    assert proc.returncode == 0, proc.stderr[-500:]
    return proc.stdout.strip()


def test_dev_zero_is_refused_not_read() -> None:
    assert load_in_child("/dev/zero") == (
        "SnapshotError: /dev/zero: not a snapshot file: it is a character device, not a regular file"
    )


def test_fifo_without_writer_is_refused_without_blocking(tmp_path: Path) -> None:
    fifo = tmp_path / "snap.fifo"
    os.mkfifo(fifo)
    out = load_in_child(str(fifo), timeout=20)
    assert out == f"SnapshotError: {fifo}: not a snapshot file: it is a FIFO (named pipe), not a regular file"


def test_symlink_to_a_device_is_refused(tmp_path: Path) -> None:
    link = tmp_path / "snap.json"
    link.symlink_to("/dev/null")
    with pytest.raises(SnapshotError, match="it is a character device"):
        load(link)


def test_directory_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SnapshotError, match="it is a directory, not a regular file"):
        load(tmp_path)


def test_empty_path_is_no_snapshot_file() -> None:
    with pytest.raises(SnapshotError, match=r"^no snapshot file given$"):
        load("")


def test_file_over_the_cap_is_refused_before_reading(tmp_path: Path) -> None:
    big = tmp_path / "big.json"
    with big.open("wb") as f:
        f.truncate(snapshot.MAX_SNAPSHOT_BYTES + 1)  # sparse: nothing to read
    with pytest.raises(SnapshotError, match="larger than 256 MiB, the most a snapshot file may be"):
        load(big)


def test_read_stops_at_the_cap_when_the_size_is_unknown(monkeypatch: pytest.MonkeyPatch) -> None:
    """/proc files report size 0; reading stops one byte past the cap."""
    monkeypatch.setattr(snapshot, "MAX_SNAPSHOT_BYTES", 100)
    with pytest.raises(SnapshotError, match="/proc/self/maps: larger than 100 bytes"):
        load("/proc/self/maps")


@pytest.mark.parametrize("depth", [1000, 100_000])
@pytest.mark.parametrize("kind", ["list", "object"])
def test_deep_nesting_is_a_snapshot_error(depth: int, kind: str) -> None:
    opened, closed = ("[", "]") if kind == "list" else ('{"a":', "}")
    for doc in (
        opened * depth + "1" + closed * depth,
        '{"schema_version": 1, "x": ' + "[" * depth + "]" * depth + "}",
    ):
        with pytest.raises(SnapshotError, match=r"nested too deeply|not a dockwire snapshot"):
            loads(doc)


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ('"1"', "the string '1'"),
        ("true", "the boolean true"),
        ("null", "null"),
        ("1.0", "the number 1.0"),
        ("[1]", "a list"),
        ("{}", "an object"),
    ],
)
def test_schema_version_of_the_wrong_type_says_so(value: str, said: str) -> None:
    with pytest.raises(SnapshotError) as info:
        loads('{"schema_version": ' + value + "}")
    assert str(info.value) == f"snapshot: schema_version must be an integer, got {said}"


def test_schema_version_number_mismatch_keeps_its_message() -> None:
    with pytest.raises(SnapshotError, match=r"schema version 2 is not supported \(this dockwire reads 1\)"):
        loads('{"schema_version": 2}')


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (("host", "interfaces", 3, "addresses", 0, "address"), "10.0.0.300", "is not an IP address"),
        (("host", "interfaces", 3, "addresses", 0, "address"), "fe80::1", "is not an IPv4 address"),
        (
            ("host", "interfaces", 3, "addresses", 0, "prefixlen"),
            33,
            "prefix length 33 is not between 0 and 32",
        ),
        (("host", "interfaces", 3, "addresses", 0, "family"), 5, "family 5 is neither 4 nor 6"),
        (("host", "routes", 0, "dst"), "10.0.0.0/33", "is not an IP network"),
        (("host", "routes", 0, "gateway"), "gw", "is not an IP address"),
        (("networks", 0, "subnets", 0, "subnet"), "", "is not an IP network"),
        (("containers", 0, "endpoints", 0, "ip"), "fd00::2", "is not an IPv4 address"),
        (("containers", 0, "endpoints", 0, "prefixlen"), 40, "prefix length 40"),
        (("containers", 0, "endpoints", 0, "ipv6"), "10.0.0.1", "is not an IPv6 address"),
    ],
)
def test_bad_address_is_rejected_at_load_naming_the_field(
    field: tuple[Any, ...], value: Any, message: str
) -> None:
    doc = copy.deepcopy(BASE_DOC)
    _parent(doc, field)[field[-1]] = value
    with pytest.raises(SnapshotError) as info:
        loads(json.dumps(doc))
    assert message in str(info.value) and f"at `{json_path(field)}`" in str(info.value)


def test_lone_surrogate_text_is_a_snapshot_error() -> None:
    with pytest.raises(SnapshotError, match="not valid JSON"):
        loads('{"schema_version": 1, "hostname": "\udc80"}')
    with pytest.raises(SnapshotError, match="cannot write"):
        snapshot.save(msgspec.structs.replace(BASE_MODEL, hostname="\udc80"), "/nonexistent/x.json")
