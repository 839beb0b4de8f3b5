"""Snapshots: stable JSON that loads back to an equal model, and clear errors for bad files."""

import json
from pathlib import Path

import pytest

from dockwire.model import (
    Container,
    Endpoint,
    HostModel,
    Network,
    PortBinding,
    Subnet,
)
from dockwire.snapshot import SnapshotError, dumps, load, load_demo, loads


def small_model() -> HostModel:
    return HostModel(
        taken_at="2026-11-23T12:00:00+00:00",
        hostname="lab",
        networks=[
            Network(
                id="n1",
                name="bridge",
                driver="bridge",
                subnets=[Subnet(subnet="172.17.0.0/16")],
                bridge="docker0",
                options={"b": "2", "a": "1"},
            )
        ],
        containers=[
            Container(
                id="c1",
                name="web",
                endpoints=[Endpoint(network_id="n1", network="bridge", ip="172.17.0.2")],
                ports=[PortBinding(container_port=80, proto="tcp", host_port=8080)],
            )
        ],
        stale={"firewall": "permission denied"},
    )


def test_round_trip_gives_an_equal_model() -> None:
    model = small_model()
    assert loads(dumps(model)) == model


def test_json_is_stable_and_versioned() -> None:
    data = dumps(small_model())
    assert data == dumps(loads(data))
    doc = json.loads(data)
    assert doc["schema_version"] == 1
    assert list(doc["networks"][0]["options"]) == ["a", "b"]


def test_wrong_schema_version_is_named(tmp_path: Path) -> None:
    path = tmp_path / "old.json"
    doc = json.loads(dumps(small_model()))
    doc["schema_version"] = 99
    path.write_text(json.dumps(doc))
    with pytest.raises(SnapshotError, match="schema version 99 is not supported"):
        load(path)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ("[1, 2]", "not a dockwire snapshot"),
        ('{"schema_version": 1, "containers": [{"name": "x"}]}', r"invalid snapshot: .*\$\.containers\[0\]"),
    ],
)
def test_corrupt_files_get_one_line_errors(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "bad.json"
    path.write_text(content)
    with pytest.raises(SnapshotError, match=message) as info:
        load(path)
    assert "\n" not in str(info.value)


def test_missing_file() -> None:
    with pytest.raises(SnapshotError, match="cannot read"):
        load("/nonexistent/snap.json")


def test_bundled_demo_loads() -> None:
    demo = load_demo()
    assert demo.engine is not None
    assert demo.containers and demo.networks and demo.firewall.tables
