"""The engine context cache: one build per model even when threads ask at once; forgetting drops it."""

from __future__ import annotations

import threading

from benchmarks.synthetic_host import synthetic_host
from dockwire.verdict import context


def test_threads_asking_at_once_share_one_build() -> None:
    model = synthetic_host(4, networks=2)
    start = threading.Barrier(4)
    found: list[context.EngineContext] = []

    def ask() -> None:
        start.wait()
        found.append(context.context_for(model))

    threads = [threading.Thread(target=ask) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len({id(ctx) for ctx in found}) == 1
    assert sum(1 for m, _ in context._CACHE if m is model) == 1


def test_forget_drops_the_context_and_the_rule_memo() -> None:
    model = synthetic_host(4, networks=2, user_rules=20)
    ctx = context.context_for(model)
    assert context.cached_context(model) is ctx
    context.forget_context(model)
    assert context.cached_context(model) is None
    if not context._CACHE:
        assert context.address_predicate.cache_info().currsize == 0
    assert context.context_for(model) is not ctx
    context.forget_context(model)
