"""The live model follows the real host (containers, networks, veths, rule counters) within bounded time."""

from __future__ import annotations

import asyncio
import subprocess
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import pytest

from dockwire.live import LiveModel, ModelUpdate
from dockwire.model import HostModel, Rule
from dockwire.probes.docker_api import read_networks
from tests.live_env import IMAGE, TEST_LABEL, docker_or_skip

pytestmark = pytest.mark.live

WAIT = 20.0  # seconds the model may take to follow a change (Docker events are usually < 1 s)
RULE_COMMENT = "dwtest-live-model"


async def wait_for(updates: AsyncIterator[ModelUpdate], check: Callable[[ModelUpdate], bool]) -> ModelUpdate:
    async def loop() -> ModelUpdate:
        async for update in updates:
            if check(update):
                return update
        raise AssertionError("update stream ended")

    return await asyncio.wait_for(loop(), WAIT)


def veth_bridge(model: HostModel, container_name: str) -> str | None:
    container = model.container(container_name)
    if container is None:
        return None
    return next((v.bridge for v in model.veths if v.container_id == container.id), None)


@pytest.fixture
def client() -> Iterator[Any]:
    client = docker_or_skip()
    yield client
    for c in client.containers.list(all=True, filters={"label": TEST_LABEL}):
        if c.name.startswith("dwtest-live-"):
            c.remove(force=True)
    for n in client.networks.list(filters={"label": TEST_LABEL}):
        if n.name.startswith("dwtest-live-"):
            n.remove()


async def test_model_follows_a_new_network_and_container(client: Any) -> None:
    live = LiveModel(client, poll_interval=0.5)
    updates = live.updates()
    first = await anext(updates)
    assert "all" in first.parts
    assert first.model.container("dwtest-live-c") is None

    network = client.networks.create("dwtest-live-net", driver="bridge", labels={TEST_LABEL: "1"})
    client.containers.run(
        IMAGE,
        ["sleep", "600"],
        name="dwtest-live-c",
        network="dwtest-live-net",
        labels={TEST_LABEL: "1"},
        detach=True,
        init=True,
    )
    network.reload()
    bridge = f"br-{network.id[:12]}"

    def bridge_rules(model: HostModel) -> bool:
        return any(bridge in r.text for t in model.firewall.tables for c in t.chains for r in c.rules)

    # The container and its veth come first (the firewall read runs beside them); Docker programmed rules
    # for the new bridge, and the model re-reads them.
    update = await wait_for(updates, lambda u: veth_bridge(u.model, "dwtest-live-c") == bridge)
    container = update.model.container("dwtest-live-c")
    assert container is not None and container.state == "running"
    assert [e.network for e in container.endpoints] == ["dwtest-live-net"]
    assert update.model.network("dwtest-live-net") is not None
    # Only the network the event named was inspected: the rest are the model's own, all as Docker has them.
    assert update.model.networks == read_networks(client)
    if not bridge_rules(update.model):
        update = await wait_for(updates, lambda u: bridge_rules(u.model))
        assert veth_bridge(update.model, "dwtest-live-c") == bridge

    client.containers.get("dwtest-live-c").remove(force=True)
    network.remove()
    update = await wait_for(
        updates,
        lambda u: u.model.container("dwtest-live-c") is None and u.model.network("dwtest-live-net") is None,
    )
    assert not any(b.name == bridge for b in update.model.bridges)
    assert update.model.networks == read_networks(client)
    await updates.aclose()


async def test_user_rule_appears_and_its_counter_moves(client: Any) -> None:
    a = client.containers.run(
        IMAGE, ["sleep", "600"], name="dwtest-live-a", labels={TEST_LABEL: "1"}, detach=True, init=True
    )
    b = client.containers.run(
        IMAGE, ["sleep", "600"], name="dwtest-live-b", labels={TEST_LABEL: "1"}, detach=True, init=True
    )
    a.reload()
    b.reload()
    ip_a = a.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    ip_b = b.attrs["NetworkSettings"]["Networks"]["bridge"]["IPAddress"]
    spec = [
        "-s",
        f"{ip_a}/32",
        "-d",
        f"{ip_b}/32",
        "-p",
        "icmp",
        "-m",
        "comment",
        "--comment",
        RULE_COMMENT,
        "-j",
        "RETURN",
    ]
    text = f"-A DOCKER-USER {' '.join(spec)}"

    def the_rule(model: HostModel) -> Rule | None:
        return next(
            (
                r
                for t in model.firewall.tables
                if t.family == "ip" and t.name == "filter"
                for c in t.chains
                for r in c.rules
                if r.text == text
            ),
            None,
        )

    live = LiveModel(client, poll_interval=0.5)
    updates = live.updates()
    await anext(updates)
    subprocess.run(["iptables", "-I", "DOCKER-USER", *spec], check=True)
    try:
        update = await wait_for(updates, lambda u: the_rule(u.model) is not None)
        rule = the_rule(update.model)
        assert rule is not None and rule.chain == "DOCKER-USER" and rule.position == 1
        assert rule.owner == "user" and rule.comment == RULE_COMMENT
        assert f"firewall ip filter DOCKER-USER: added {text}" in update.events  # what the events pane shows
        before = rule.packets

        ping = subprocess.run(
            ["docker", "exec", "dwtest-live-a", "ping", "-c", "3", "-W", "1", ip_b],
            capture_output=True,
            text=True,
        )
        assert ping.returncode == 0, ping.stdout + ping.stderr
        update = await wait_for(
            updates, lambda u: (r := the_rule(u.model)) is not None and r.packets >= before + 3
        )
        moved_texts = {key[5] for key in update.moved}
        assert text in moved_texts
    finally:
        subprocess.run(["iptables", "-D", "DOCKER-USER", *spec], check=False)
        await updates.aclose()
