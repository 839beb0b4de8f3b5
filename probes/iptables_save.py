"""Parse `iptables-save` output (with `-c` counters or without) into firewall records.

Every rule keeps its exact text (the line without the `[pkts:bytes]` prefix) and is split into matches and a
target. Nothing is dropped: options of modules dockwire does not know are kept verbatim with `known=False`.
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import NamedTuple

from dockwire.model import Chain, Match, Rule, Table, Target
from dockwire.probes.gc_paused import gc_paused

# Match modules whose options dockwire understands.
KNOWN_MODULES = frozenset(
    {
        "conntrack",
        "state",
        "addrtype",
        "tcp",
        "udp",
        "icmp",
        "icmp6",
        "multiport",
        "comment",
        "physdev",
        "iprange",
        "set",
        "mark",
        "mac",
        "limit",
        "pkttype",
    }
)
# Standard verdicts (no extension module behind them).
VERDICTS = frozenset({"ACCEPT", "DROP", "RETURN", "QUEUE"})
# Target extensions dockwire recognises; any other `-j NAME` that is not a chain of the table is unknown.
KNOWN_TARGETS = frozenset(
    {
        "DNAT",
        "SNAT",
        "MASQUERADE",
        "REDIRECT",
        "NETMAP",
        "REJECT",
        "LOG",
        "NFLOG",
        "TRACE",
        "MARK",
        "CONNMARK",
        "CT",
        "NOTRACK",
        "CHECKSUM",
        "TCPMSS",
        "TOS",
        "DSCP",
        "NFQUEUE",
        "CLASSIFY",
        "SET",
        "AUDIT",
        "TTL",
        "HL",
    }
)

# Built-in (module-less) options, long spellings mapped to the short form iptables-save prints.
_BUILTIN = {
    "-s": "-s",
    "--source": "-s",
    "--src": "-s",
    "-d": "-d",
    "--destination": "-d",
    "--dst": "-d",
    "-i": "-i",
    "--in-interface": "-i",
    "-o": "-o",
    "--out-interface": "-o",
    "-p": "-p",
    "--protocol": "-p",
    "-f": "-f",
    "--fragment": "-f",
}
_MODULE_FLAGS = ("-m", "--match")
_TARGET_FLAGS = ("-j", "--jump", "-g", "--goto")
_COUNTERS = re.compile(r"\[(\d+):(\d+)\]")
_OPTION = re.compile(r"--?[A-Za-z]")


class IptablesSaveError(ValueError):
    """The text is not iptables-save output."""


class Token(NamedTuple):
    text: str
    # True when the token was (partly) quoted: then it is always an argument, never an option.
    quoted: bool


def tokenize(line: str) -> list[Token]:
    """Split a rule line like a shell would: double quotes with backslash escapes, single quotes literal."""
    if '"' not in line and "'" not in line and "\\" not in line:
        return [Token(word, False) for word in line.split()]
    tokens: list[Token] = []
    buf: list[str] = []
    quoted = False
    in_token = False
    i, n = 0, len(line)
    while i < n:
        ch = line[i]
        if ch in " \t":
            if in_token:
                tokens.append(Token("".join(buf), quoted))
                buf, quoted, in_token = [], False, False
            i += 1
            continue
        in_token = True
        if ch == '"':
            quoted = True
            i += 1
            while i < n and line[i] != '"':
                if line[i] == "\\" and i + 1 < n and line[i + 1] in '"\\':
                    i += 1
                buf.append(line[i])
                i += 1
            i += 1  # closing quote (an unterminated quote runs to the end of the line)
        elif ch == "'":
            quoted = True
            end = line.find("'", i + 1)
            end = n if end < 0 else end
            buf.append(line[i + 1 : end])
            i = end + 1
        elif ch == "\\" and i + 1 < n:
            buf.append(line[i + 1])
            i += 2
        else:
            buf.append(ch)
            i += 1
    if in_token:
        tokens.append(Token("".join(buf), quoted))
    return tokens


def _is_option(tok: Token) -> bool:
    return not tok.quoted and _OPTION.match(tok.text) is not None


def _is_bang(tok: Token) -> bool:
    return not tok.quoted and tok.text == "!"


def _ends_args(tok: Token) -> bool:
    return _is_option(tok)


class ParsedRule(NamedTuple):
    """The chain-independent parts of one `-A CHAIN ...` line."""

    chain: str
    matches: tuple[Match, ...]
    target: str | None
    goto: bool
    target_args: tuple[str, ...]
    comment: str
    unknown: bool


def _collect_args(toks: list[Token], i: int) -> tuple[list[str], bool, int]:
    """Arguments of the option before position i; also reports the legacy `--opt ! value` negation."""
    args: list[str] = []
    negated = False
    n = len(toks)
    while i < n:
        tok = toks[i]
        if _is_bang(tok):
            # `--opt ! value` (old form) negates this option; `! --next` belongs to the next option.
            if not args and i + 1 < n and not _is_option(toks[i + 1]):
                negated = True
                i += 1
                continue
            break
        if _ends_args(tok):
            break
        args.append(tok.text)
        i += 1
    return args, negated, i


@lru_cache(maxsize=65536)
def parse_rule_text(text: str) -> ParsedRule:
    """Parse one rule as iptables-save prints it, e.g. `-A DOCKER ! -i docker0 -o docker0 -j DROP`.

    Cached: on a 1 s poll the same lines come back with new counters only.
    """
    toks = tokenize(text)
    if len(toks) < 2 or toks[0].text not in ("-A", "--append"):
        raise IptablesSaveError(f"not a rule line: {text!r}")
    chain = toks[1].text
    matches: list[Match] = []
    target: str | None = None
    goto = False
    target_args: list[str] = []
    comments: list[str] = []
    unknown = False
    module: str | None = None
    module_has_option = True
    negate = False

    def close_module() -> None:
        nonlocal module_has_option
        if module is not None and not module_has_option:
            matches.append(Match(module=module, option="", known=module in KNOWN_MODULES))
        module_has_option = True

    i, n = 2, len(toks)
    while i < n:
        tok = toks[i]
        word = tok.text
        if _is_bang(tok):
            negate = True
            i += 1
            continue
        if not tok.quoted and word in _MODULE_FLAGS:
            close_module()
            module = toks[i + 1].text if i + 1 < n else ""
            module_has_option = False
            if module not in KNOWN_MODULES:
                unknown = True
            i += 2
            continue
        if not tok.quoted and word in _TARGET_FLAGS:
            close_module()
            module = None
            target = toks[i + 1].text if i + 1 < n else ""
            goto = word in ("-g", "--goto")
            i += 2
            while i < n:
                t = toks[i]
                if not t.quoted and (t.text in _BUILTIN or t.text in _MODULE_FLAGS):
                    break
                target_args.append(t.text)
                i += 1
            continue
        if not tok.quoted and word in _BUILTIN:
            option = _BUILTIN[word]
            i += 1
            if option == "-f":
                matches.append(Match(module="", option="-f", negated=negate))
                negate = False
                continue
            if i < n and _is_bang(toks[i]):  # legacy `-s ! 10.0.0.0/8`
                negate = True
                i += 1
            if i < n:
                matches.append(Match(module="", option=option, args=[toks[i].text], negated=negate))
                i += 1
            else:
                matches.append(Match(module="", option=option, negated=negate, known=False))
                unknown = True
            negate = False
            continue
        if _is_option(tok):
            args, legacy_negated, i = _collect_args(toks, i + 1)
            known = module is not None and module in KNOWN_MODULES
            if not known:
                unknown = True
            matches.append(
                Match(
                    module=module or "",
                    option=word,
                    args=args,
                    negated=negate or legacy_negated,
                    known=known,
                )
            )
            if module == "comment" and word == "--comment" and args:
                comments.append(args[0])
            module_has_option = True
            negate = False
            continue
        # A stray word: keep it, flagged.
        matches.append(Match(module=module or "", option="", args=[word], negated=negate, known=False))
        unknown = True
        negate = False
        i += 1
    close_module()
    if negate:  # a trailing `!` with nothing to negate
        matches.append(Match(module="", option="!", known=False))
        unknown = True
    return ParsedRule(chain, tuple(matches), target, goto, tuple(target_args), "; ".join(comments), unknown)


def make_target(
    name: str | None, goto: bool, args: tuple[str, ...], chains: set[str]
) -> tuple[Target | None, bool]:
    """The rule's Target and whether dockwire understands it."""
    if name is None:
        return None, True
    if goto:
        return Target(name=name, kind="goto", args=list(args)), name in chains
    if name in VERDICTS:
        return Target(name=name, kind="verdict", args=list(args)), True
    if name in chains:
        return Target(name=name, kind="jump", args=list(args)), True
    return Target(name=name, kind="extension", args=list(args)), name in KNOWN_TARGETS


def build_rule(
    table: str, position: int, text: str, chains: set[str], packets: int = 0, bytes_: int = 0
) -> Rule:
    """One Rule record from its iptables-save text."""
    parsed = parse_rule_text(text)
    target, target_known = make_target(parsed.target, parsed.goto, parsed.target_args, chains)
    return Rule(
        table=table,
        chain=parsed.chain,
        position=position,
        text=text,
        matches=list(parsed.matches),
        target=target,
        packets=packets,
        bytes=bytes_,
        comment=parsed.comment,
        unknown=parsed.unknown or not target_known,
    )


def _chain_line(line: str, lineno: int) -> tuple[str, str | None, int, int]:
    parts = line[1:].split()
    if not parts:
        raise IptablesSaveError(f"line {lineno}: empty chain declaration")
    policy = parts[1] if len(parts) > 1 else "-"
    packets = bytes_ = 0
    if len(parts) > 2 and (m := _COUNTERS.fullmatch(parts[2])):
        packets, bytes_ = int(m.group(1)), int(m.group(2))
    return parts[0], None if policy == "-" else policy, packets, bytes_


def parse_iptables_save(text: str, source: str, family: str = "ip") -> list[Table]:
    """Parse `iptables-save [-c]` (or `ip6tables-save`) output into one Table per `*table` block.

    `source` says where it came from ("iptables-nft", "iptables-legacy"); `family` is "ip" or "ip6".
    Raises IptablesSaveError (a ValueError) for text that is not iptables-save output.
    """
    with gc_paused():
        return _parse_save(text, source, family)


def _parse_save(text: str, source: str, family: str) -> list[Table]:
    tables: list[Table] = []
    name: str | None = None
    chains: dict[str, Chain] = {}
    rules: dict[str, list[Rule]] = {}
    chain_names: set[str] = set()

    def finish() -> None:
        if name is None:
            return
        built = [
            Chain(
                name=c.name,
                policy=c.policy,
                packets=c.packets,
                bytes=c.bytes,
                builtin=c.builtin,
                rules=rules.get(c.name, []),
            )
            for c in chains.values()
        ]
        tables.append(Table(source=source, family=family, name=name, chains=built))

    for lineno, raw in enumerate(text.splitlines(), 1):
        line = raw.rstrip("\r\n")
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.startswith("*"):
            finish()
            name, chains, rules, chain_names = stripped[1:].strip(), {}, {}, set()
            continue
        if stripped == "COMMIT":
            finish()
            name = None
            continue
        if name is None:
            raise IptablesSaveError(f"line {lineno}: {stripped[:40]!r} outside a *table block")
        if stripped.startswith(":"):
            cname, policy, packets, bytes_ = _chain_line(stripped, lineno)
            chains[cname] = Chain(
                name=cname, policy=policy, packets=packets, bytes=bytes_, builtin=policy is not None
            )
            chain_names.add(cname)
            continue
        packets = bytes_ = 0
        body = stripped
        if m := _COUNTERS.match(stripped):
            packets, bytes_ = int(m.group(1)), int(m.group(2))
            body = stripped[m.end() :].lstrip()
        if not body.startswith(("-A ", "--append ")):
            raise IptablesSaveError(f"line {lineno}: unexpected {body[:40]!r}")
        chain = parse_rule_text(body).chain
        if chain not in chains:
            chains[chain] = Chain(name=chain)
            chain_names.add(chain)
        chain_rules = rules.setdefault(chain, [])
        chain_rules.append(build_rule(name, len(chain_rules) + 1, body, chain_names, packets, bytes_))
    finish()
    return tables
