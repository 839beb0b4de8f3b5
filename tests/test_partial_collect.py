"""`why` reads only the namespaces its verdict visits: which ones (on the recorded lab), and, live, that every
lab case gets the same verdict from that narrower read as from a full one."""

from __future__ import annotations

import asyncio
import json
from functools import partial
from pathlib import Path
from typing import Any

import pytest

from dockwire.model import HostModel
from dockwire.snapshot import load
from dockwire.verdict.endpoints import namespaces_for
from tests.lab_traffic import CASES, ask

LAB = Path(__file__).parent / "fixtures" / "tui" / "lab.json"


@pytest.fixture(scope="module")
def recorded() -> HostModel:
    return load(LAB)


def names(model: HostModel, ids: set[str] | None) -> set[str] | None:
    return None if ids is None else {c.name for c in model.containers if c.id in ids}


def test_two_containers_need_only_their_own_namespaces(recorded: HostModel) -> None:
    assert names(recorded, namespaces_for(recorded, "dwlab-default-a", "dwlab-default-b")) == {
        "dwlab-default-a",
        "dwlab-default-b",
    }
    assert names(recorded, namespaces_for(recorded, "host", "dwlab-web")) == {"dwlab-web", "dwlab-sidecar"}
    assert names(recorded, namespaces_for(recorded, "dwlab-iso-a", "outside")) == {"dwlab-iso-a"}


def test_a_shared_namespace_brings_its_owner(recorded: HostModel) -> None:
    assert names(recorded, namespaces_for(recorded, "dwlab-sidecar", "host")) == {
        "dwlab-sidecar",
        "dwlab-web",
    }


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("dwlab-noicc-a", "name:dwlab-noicc-b"),  # a DNS name: whom it resolves to is the verdict's to find
        ("outside", "198.51.100.1:18080"),  # a published port: the DNAT picks the container
        ("dwlab-default-a", "outside:198.51.100.2"),  # an address no Docker endpoint has
        ("dwlab-default-a", "no-such-container"),  # the full model gives the error
    ],
)
def test_when_docker_cannot_tell_every_namespace_is_read(recorded: HostModel, src: str, dst: str) -> None:
    assert namespaces_for(recorded, src, dst) is None


def namespaces_of(src: str, dst: str, docker_part: HostModel) -> set[str] | None:
    return namespaces_for(docker_part, src, dst)


def without_counters(data: bytes) -> Any:
    """A verdict's JSON without rule counters: IPv6 moves them by itself between two reads (neighbour and
    router solicitations, MLD reports cross the bridge's FORWARD rules)."""

    def strip(value: Any) -> Any:
        if isinstance(value, dict):
            return {k: strip(v) for k, v in value.items() if k not in ("packets", "bytes")}
        if isinstance(value, list):
            return [strip(v) for v in value]
        return value

    return strip(json.loads(data))


@pytest.mark.live
def test_every_lab_case_gets_the_same_verdict_from_the_narrow_read(lab: Any, docker_client: Any) -> None:
    from dockwire.collect import collect
    from dockwire.verdict.render import verdict_json

    full = asyncio.run(collect(docker_client))
    narrowed = 0
    for case in CASES:
        model = asyncio.run(collect(docker_client, partial(namespaces_of, case.src, case.dst)))
        assert model.stale == full.stale == {}
        narrowed += sum(
            1
            for c in model.containers
            if c.pid and not c.interfaces and not c.netns_owner and c.network_mode != "host"
        )
        assert without_counters(verdict_json(ask(model, case))) == without_counters(
            verdict_json(ask(full, case))
        ), case.id
    assert narrowed > len(CASES)  # the narrow reads really left namespaces out
