"""Reading rule lines by shape (probes/iptables_shapes) gives exactly what the word-by-word reader gives."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dockwire.probes.iptables_save import IptablesSaveError, _parse_words
from dockwire.probes.iptables_shapes import ParsedRule, RuleShapes
from dockwire.rule_words import split_words


def general(line: str) -> ParsedRule:
    words, quoted = split_words(line)
    return _parse_words(words, quoted, line)


def marked(words: list[str], text: str) -> ParsedRule:
    return _parse_words(words, None, text)


TRICKY = [
    "-A DOCKER ! -i docker0 -o docker0 -j DROP",
    "-A FORWARD -s 10.0.0.0/8 ! -d 10.1.0.0/16 -p tcp -m tcp ! --dport 80 -j ACCEPT",
    "-A FORWARD -p tcp -m tcp --dport ! 80 -j ACCEPT",
    "-A FORWARD -s ! 10.0.0.0/8 -j DROP",
    '-A DOCKER-USER -m comment --comment "allow \\"web\\" #1" -j ACCEPT',
    "-A DOCKER-USER -m comment --comment \"block \\'admin\\' 2\" -j DROP",
    '-A DOCKER-USER -m comment --comment "back\\\\slash \\\\" -j DROP',
    '-A DOCKER-USER -m comment --comment "a \\x b" -j DROP',
    "-A DOCKER-USER -m comment --comment -A -j RETURN",
    "-A DOCKER-USER -m comment --comment -A --comment two -j RETURN",
    "-A DOCKER-USER -m comment --comment one -m comment --comment two -j RETURN",
    '-A X -p tcp -m string --string "GET /admin HTTP" --algo bm --to 65535 -j DROP',
    '-A X -m u32 --u32 "0x0>>22&0x3C@12>>26&0x3C@0=0x10" -m length --length 1400:65535 '
    '-j LOG --log-prefix "u32 1: "',
    "-A X -j LOG --log-prefix -x --log-level 4",
    '-A X -j NFLOG --nflog-prefix "-p" -s 10.0.0.1',
    '-A INPUT -m frobnicate --wobble 3 4 --quiet ! --level "-x y" -j ACCEPT',
    '-A INPUT -m frobnicate --wobble "!" ! -j ACCEPT',
    "-A INPUT stray words here -j ACCEPT",
    "-A INPUT !stray -5 --opt -5 -j ACCEPT",
    "-A INPUT -m conntrack",
    "-A INPUT -m conntrack -m state --state NEW",
    "-A INPUT -m",
    "-A INPUT -j",
    "-A INPUT -s",
    "-A INPUT -f -j DROP",
    "-A INPUT ! -f -j DROP",
    "-A INPUT -p tcp !",
    "--append INPUT --source 1.2.3.4 --jump ACCEPT",
    "-A INPUT -g DOCKER",
    "-A INPUT --goto DOCKER --match tcp",
    "-A INPUT -m multiport --dports 80,443 -j REJECT --reject-with tcp-reset",
    "-A INPUT -j DNAT --to-destination 172.17.0.2:80 -p tcp",
    '-A "INPUT" -j ACCEPT',
    '-A INPUT -s "" -j ACCEPT',
    '-A INPUT -m comment --comment "" -j ACCEPT',
    '-A INPUT -m comment --comment "-m" tcp -j ACCEPT',
    "-A INPUT -m comment --comment -m tcp -j ACCEPT",
    "-A INPUT -x-m tcp --dport 1",
    "-B INPUT -j ACCEPT",
]
# Lines with no shape: read word by word.
UNSHAPED = [
    '-A INPUT -m "tcp" --dport 80',
    '-A INPUT -j "ACCEPT"',
    "-A INPUT\t-s 1.2.3.4 -j ACCEPT",
    "-A INPUT  -s 1.2.3.4 -j ACCEPT",
    "-A INPUT -m comment --comment 'single' -j ACCEPT",
    '-A INPUT -m comment --comment a"b c"d -j ACCEPT',
    '-A INPUT -m comment --comment "unterminated -j ACCEPT',
    "-A INPUT -m comment --comment back\\ slash -j ACCEPT",
    "-A INPUT -m comment --comment nul\x00 -j ACCEPT",
]


def parse_both(shapes: RuleShapes, line: str) -> tuple[object, object]:
    try:
        expected: object = general(line)
    except IptablesSaveError as exc:
        expected = str(exc)
    try:
        got: object = shapes.parse(line)
    except IptablesSaveError as exc:
        got = str(exc)
    return expected, got


@pytest.mark.parametrize("line", TRICKY)
def test_shape_reads_like_the_word_reader(line: str) -> None:
    shapes = RuleShapes(marked, general)
    expected, got = parse_both(shapes, line)
    assert got == expected  # learning the shape
    assert parse_both(shapes, line) == (expected, expected)  # filling it in


@pytest.mark.parametrize("line", UNSHAPED)
def test_lines_without_a_shape_are_left_to_the_word_reader(line: str) -> None:
    assert RuleShapes(marked, general).parse(line) is None


def test_a_shape_learnt_from_one_line_reads_another() -> None:
    shapes = RuleShapes(marked, general)
    first = '-A DOCKER-USER -s 192.0.2.1/32 -p tcp -m tcp --dport 80 -m comment --comment "a \\"b\\"" -j DROP'
    second = "-A OTHER -s 198.51.100.7/32 -p udp -m tcp --dport 443 -m comment --comment plain -j DROP"
    assert shapes.parse(first) == general(first)
    assert len(shapes.shapes) == 1
    assert shapes.parse(second) == general(second)
    assert len(shapes.shapes) == 1
    parsed = shapes.parse(second)
    assert parsed is not None
    assert parsed.matches[0].args == ["198.51.100.7/32"]


_WORDS = [
    "-A",
    "--append",
    "CHAIN",
    "-m",
    "--match",
    "tcp",
    "comment",
    "frob",
    "--comment",
    "!",
    "!x",
    "-s",
    "--source",
    "-d",
    "-p",
    "-i",
    "-f",
    "1.2.3.4/32",
    "80",
    "-5",
    "--dport",
    "--frob",
    "-j",
    "--jump",
    "-g",
    "--goto",
    "ACCEPT",
    "LOG",
    "DOCKER",
    "--log-prefix",
    "--nflog-prefix",
    "--reject-with",
    '"a b"',
    '"x \\"y\\" z"',
    "\"q \\'r\\'\"",
    '"-z"',
    '"!"',
    '"--comment"',
    '"back\\\\"',
    '""',
    "'s q'",
    'a"b"',
    "\\x",
]


@settings(max_examples=600, deadline=3000)
@given(
    st.lists(st.sampled_from(_WORDS), max_size=14),
    st.sampled_from([" ", " ", " ", "  ", "\t"]),
    st.sampled_from(["-A CHAIN", "-A OTHER", "--append CHAIN", "-A"]),
)
def test_random_lines_read_alike(words: list[str], gap: str, start: str) -> None:
    shapes = _SHARED
    line = gap.join([start, *words])
    expected, got = parse_both(shapes, line)
    if got is not None:
        assert got == expected


# Shared across examples, so that most lines fill in a shape learnt from an earlier one.
_SHARED = RuleShapes(marked, general)
