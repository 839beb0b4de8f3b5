"""Rendering nft rules by shape (probes/nft_shapes) gives exactly what rendering them in full gives."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockwire.probes.nft_ruleset import _render_statement, _RuleRenderer
from dockwire.probes.nft_shapes import SIMPLE_MATCH, RenderedRule, RuleShapes

FIXTURES = Path(__file__).parent / "fixtures" / "firewall"
RECORDED = [
    e["rule"]["expr"]
    for name in ("nft-ruleset.json", "docker29-nftables.json")
    for e in json.loads((FIXTURES / name).read_text())["nftables"]
    if "rule" in e
]


def text_of(expr: list[Any]) -> bytes:
    return json.dumps(expr, ensure_ascii=False).encode()  # key order and spacing as libnftables writes


def in_full(source: bytes) -> RenderedRule | None:
    return _RuleRenderer(None)._render(source, 0, check=True)


def by_shape(shapes: RuleShapes, source: bytes) -> RenderedRule | None:
    return shapes.render(source, lambda: in_full(source), _render_statement)


def other_values(expr: list[Any], salt: int) -> list[Any]:
    """The same rule with other values in its simple matches."""
    out = []
    for stmt in expr:
        match = stmt.get("match") if isinstance(stmt, dict) else None
        if isinstance(match, dict) and SIMPLE_MATCH.fullmatch(text_of([stmt])[1:-1]):
            right = match["right"]
            if isinstance(right, str):
                right = f"{right}x{salt}"
            elif isinstance(right, int):
                right = right + salt
            else:
                right = {
                    "prefix": {"addr": f"{right['prefix']['addr']}{salt}", "len": right["prefix"]["len"]}
                }
            stmt = {"match": {**match, "right": right}}
        out.append(stmt)
    return out


def test_recorded_rules_render_alike_by_shape() -> None:
    shapes = RuleShapes()
    for expr in RECORDED:
        for salt in (0, 0, 1, 7):
            source = text_of(other_values(expr, salt) if salt else expr)
            assert by_shape(shapes, source) == in_full(source)
    assert sum(shape is not None for shape in shapes.shapes.values()) > 20


def _simple(op: str, left: Any, right: Any) -> dict[str, Any]:
    return {"match": {"op": op, "left": left, "right": right}}


_LEFTS = [
    {"meta": {"key": "iifname"}},
    {"meta": {"key": "oifname"}},
    {"meta": {"key": "l4proto"}},
    {"meta": {"key": "mark"}},
    {"meta": {"key": "iif"}},
    {"payload": {"protocol": "ip", "field": "saddr"}},
    {"payload": {"protocol": "tcp", "field": "dport"}},
    {"payload": {"protocol": "ip6", "field": "daddr"}},
]
_RIGHTS = st.one_of(
    st.text(max_size=6),
    st.sampled_from(["tcp", "docker0", "@set", "a b", 'q"', "\\", "²"]),
    st.integers(0, 2**64 + 3),
    st.builds(
        lambda a, n: {"prefix": {"addr": a, "len": n}},
        st.sampled_from(["10.0.0.0", "fd00::", ""]),
        st.integers(0, 140),
    ),
    st.just({"set": ["a", "b"]}),
)
_OTHERS = [
    {"counter": {}},
    {"counter": {"packets": 1, "bytes": 2}},
    {"accept": None},
    {"jump": {"target": "DOCKER"}},
    {"xt": {"type": "match", "name": "conntrack"}},
    {"log": {"prefix": 'x {"match": {"op": "==", "left": {"meta": {"key": "iif"}}, "right": 1}}'}},
    {"wrap": _simple("==", {"meta": {"key": "iif"}}, "lo")},
    {"vmap": {"key": {"meta": {"key": "iifname"}}, "data": {"set": [["lo", {"accept": None}]]}}},
]
_STATEMENT = st.one_of(
    st.builds(_simple, st.sampled_from(["==", "!=", "<", "in"]), st.sampled_from(_LEFTS), _RIGHTS),
    st.sampled_from(_OTHERS),
)
# Shared across examples, so that most rules render from a shape learnt from earlier ones.
_SHARED = RuleShapes()


@settings(max_examples=500, deadline=3000)
@given(st.lists(_STATEMENT, max_size=6), st.integers(1, 3))
def test_random_rules_render_alike_by_shape(expr: list[Any], salt: int) -> None:
    for source in (text_of(expr), text_of(expr), text_of(other_values(expr, salt))):
        assert by_shape(_SHARED, source) == in_full(source)


@pytest.mark.parametrize(
    "expr",
    [
        [{"wrap": _simple("==", {"meta": {"key": "iif"}}, "lo")}, {"accept": None}],
        [{"log": {"prefix": "a"}}, _simple("==", {"meta": {"key": "iifname"}}, "lo")],
    ],
)
def test_a_simple_match_inside_another_statement_gives_no_shape(expr: list[Any]) -> None:
    shapes = RuleShapes()
    for _ in range(3):
        assert by_shape(shapes, text_of(expr)) == in_full(text_of(expr))
    if "wrap" in expr[0]:
        assert list(shapes.shapes.values()) == [None]
