"""Parse `iptables-save` output (with `-c` counters or without) into firewall records.

Every rule keeps its exact text (the line without the `[pkts:bytes]` prefix) and is split into matches and a
target. Nothing is dropped: options of modules dockwire does not know are kept verbatim with `known=False`.

Text is read as iptables-save writes it: lines end at "\n" only (a comment may hold any other control
character), words are separated by spaces and tabs only, and a double-quoted word undoes exactly the
escaping iptables-save applies (xtables_save_string puts a backslash before `"`, `\\` and `'`). An option
that takes any string (`--comment`, `--log-prefix`) takes the next word even when it looks like an option,
as iptables-save prints such a value bare (`--comment -A`).

Anything that is not iptables-save output raises IptablesSaveError, never another exception: that includes
counters that do not fit in 64 bits and text that cannot be written as UTF-8 (lone surrogates).

Parsing is cached by rule text per (source, family, table), with no size bound: a poll of an unchanged
ruleset re-parses nothing whatever its size (a bounded LRU misses on every poll once the ruleset outgrows
it), and rules no recent parse has seen are dropped, so memory stays near one ruleset's worth.
"""

from __future__ import annotations

import re

from dockwire.gc_paused import gc_paused
from dockwire.model import Chain, Match, Rule, Table, Target
from dockwire.probes.iptables_shapes import ParsedRule, RuleShapes
from dockwire.rule_words import split_words

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
# What each special (unquoted) word does in a rule line.
_BANG, _MODULE, _TARGET, _BUILTIN_OPT = 1, 2, 3, 4
_ACTIONS = {
    "!": _BANG,
    **dict.fromkeys(_MODULE_FLAGS, _MODULE),
    **dict.fromkeys(_TARGET_FLAGS, _TARGET),
    **dict.fromkeys(_BUILTIN, _BUILTIN_OPT),
}
# Options whose (first) value is any string: iptables-save prints it bare when it is made of letters,
# digits, "-" and "_" only, so `--comment -A` is a comment "-A", not an option.
_STRING_OPTIONS = frozenset({("comment", "--comment")})
_STRING_OPTION_NAMES = frozenset(option for _, option in _STRING_OPTIONS)
_STRING_TARGET_OPTIONS = frozenset({"--log-prefix", "--nflog-prefix"})
_COUNTERS = re.compile(r"\[([0-9]+):([0-9]+)\]")
# A rule line whose counters surely fit in 64 bits (19 digits at most); anything else takes the slow path.
_RULE_LINE = re.compile(r"\[([0-9]{1,19}):([0-9]{1,19})\][ \t]*((?:-A|--append) .*)", re.S)
_OPTION = re.compile(r"--?[A-Za-z]")
_BLANKS = re.compile(r"[^ \t]+")
_U64_MAX = 2**64 - 1
# How many (source, family, table) parse caches are kept.
_CACHED_CONTEXTS = 32


class IptablesSaveError(ValueError):
    """The text is not iptables-save output."""


def parse_rule_text(text: str) -> ParsedRule:
    """Parse one rule as iptables-save prints it, e.g. `-A DOCKER ! -i docker0 -o docker0 -j DROP`."""
    words, quoted = split_words(text)
    return _parse_words(words, quoted, text)


# Whether a bare word starting with "-" is an option (`--?[A-Za-z]`), remembered for the few hundred option
# names rules use (bounded: hostile input cannot grow it).
_option_words: dict[str, bool] = {}


def _learn_option(word: str) -> bool:
    is_option = _OPTION.match(word) is not None
    if len(_option_words) < 4096:
        _option_words[word] = is_option
    return is_option


def _is_option_at(words: list[str], quoted: set[int] | None, j: int) -> bool:
    word = words[j]
    if word[:1] != "-" or (quoted and j in quoted):
        return False
    is_option = _option_words.get(word)
    return _learn_option(word) if is_option is None else is_option


def _parse_words(words: list[str], quoted: set[int] | None, text: str) -> ParsedRule:
    # Hot path (one call per distinct rule line): names are bound locally, the word kinds are literal ints
    # (1 "!", 2 -m, 3 -j/-g, 4 built-in option; see _ACTIONS).
    n = len(words)
    if n < 2 or words[0] not in ("-A", "--append"):
        raise IptablesSaveError(f"not a rule line: {text[:60]!r}")
    matches: list[Match] = []
    target: str | None = None
    goto = False
    target_args: list[str] = []
    comment = ""
    unknown = False
    module: str | None = None
    module_has_option = True
    negate = False
    actions = _ACTIONS
    option_words = _option_words
    known_modules = KNOWN_MODULES
    match_ = Match
    i = 2
    while i < n:
        word = words[i]
        act = actions.get(word)
        if act is not None and quoted and i in quoted:
            act = None  # a quoted word is always an argument
        if act is None:
            is_option: bool | None = word[:1] == "-" and not (quoted and i in quoted)
            if is_option:
                is_option = option_words.get(word)
                if is_option is None:
                    is_option = _learn_option(word)
            if not is_option:
                # A stray word: keep it, flagged.
                matches.append(
                    match_(module=module or "", option="", args=[word], negated=negate, known=False)
                )
                unknown = True
                negate = False
                i += 1
                continue
            i += 1
            args: list[str] = []
            legacy_negated = False
            if (
                i < n
                and word in _STRING_OPTION_NAMES
                and (module, word) in _STRING_OPTIONS
                and _is_option_at(words, quoted, i)
            ):
                args.append(words[i])
                i += 1
            while i < n:
                arg = words[i]
                if arg == "!" and not (quoted and i in quoted):
                    # `--opt ! value` (old form) negates this option; `! --next` belongs to the next one.
                    if not args and i + 1 < n and not _is_option_at(words, quoted, i + 1):
                        legacy_negated = True
                        i += 1
                        continue
                    break
                if (
                    arg[:1] == "-"
                    and not (quoted and i in quoted)
                    and (arg in actions or _is_option_at(words, None, i))
                ):
                    break
                args.append(arg)
                i += 1
            known = module in known_modules
            if not known:
                unknown = True
            matches.append(
                match_(
                    module=module or "", option=word, args=args, negated=negate or legacy_negated, known=known
                )
            )
            if module == "comment" and word == "--comment" and args:
                comment = f"{comment}; {args[0]}" if comment else args[0]
            module_has_option = True
            negate = False
        elif act == 4:  # -s -d -i -o -p -f and their long forms
            option = _BUILTIN[word]
            i += 1
            if option == "-f":
                matches.append(match_(module="", option="-f", negated=negate))
                negate = False
                continue
            if i < n and words[i] == "!" and not (quoted and i in quoted):  # legacy `-s ! 10.0.0.0/8`
                negate = True
                i += 1
            if i < n:
                matches.append(match_(module="", option=option, args=[words[i]], negated=negate))
                i += 1
            else:
                matches.append(match_(module="", option=option, negated=negate, known=False))
                unknown = True
            negate = False
        elif act == 1:  # !
            negate = True
            i += 1
        elif act == 2:  # -m
            if module is not None and not module_has_option:
                matches.append(match_(module=module, option="", known=module in known_modules))
            module = words[i + 1] if i + 1 < n else ""
            module_has_option = False
            if module not in known_modules:
                unknown = True
            i += 2
        else:  # -j / -g
            if module is not None and not module_has_option:
                matches.append(match_(module=module, option="", known=module in known_modules))
            module_has_option = True
            module = None
            target = words[i + 1] if i + 1 < n else ""
            goto = word in ("-g", "--goto")
            i += 2
            while i < n:
                arg = words[i]
                if (arg in _BUILTIN or arg in _MODULE_FLAGS) and not (quoted and i in quoted):
                    break
                target_args.append(arg)
                i += 1
                if arg in _STRING_TARGET_OPTIONS and i < n and not (quoted and i - 1 in quoted):
                    target_args.append(words[i])
                    i += 1
    if module is not None and not module_has_option:
        matches.append(match_(module=module, option="", known=module in known_modules))
    if negate:  # a trailing `!` with nothing to negate
        matches.append(match_(module="", option="!", known=False))
        unknown = True
    return ParsedRule(words[1], tuple(matches), target, goto, tuple(target_args), comment, unknown)


def _parse_marked(words: list[str], text: str) -> ParsedRule:
    return _parse_words(words, None, text)


# Rule lines read by shape (see iptables_shapes): most lines of a ruleset parse without a word-by-word pass.
_shapes = RuleShapes(_parse_marked, parse_rule_text)


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


def _counter(digits: str, lineno: int) -> int:
    value = int(digits) if len(digits) <= 20 else _U64_MAX + 1
    if value > _U64_MAX:
        shown = digits if len(digits) <= 24 else f"{digits[:20]}... ({len(digits)} digits)"
        raise IptablesSaveError(f"line {lineno}: counter {shown} does not fit in 64 bits")
    return value


def _chain_line(line: str, lineno: int) -> tuple[str, str | None, int, int]:
    parts = _BLANKS.findall(line, 1)
    if not parts:
        raise IptablesSaveError(f"line {lineno}: empty chain declaration")
    policy = parts[1] if len(parts) > 1 else "-"
    packets = bytes_ = 0
    if len(parts) > 2 and (m := _COUNTERS.fullmatch(parts[2])):
        packets, bytes_ = _counter(m.group(1), lineno), _counter(m.group(2), lineno)
    return parts[0], None if policy == "-" else policy, packets, bytes_


class _RuleCache:
    """Rule text -> (parse, target key) for one (source, family, table), with the number of the parse that
    last used each entry. Entries no parse has used lately are dropped once they outnumber the used ones,
    so memory stays near one ruleset's worth however the rules change, and an unchanged ruleset of any size
    is read from the cache on every poll (a bounded LRU misses on every poll beyond its size)."""

    __slots__ = ("entries", "generation")

    def __init__(self) -> None:
        self.entries: dict[str, list] = {}  # text -> [ParsedRule, target key, generation]
        self.generation = 0

    def trim(self, used: int) -> None:
        if len(self.entries) > 2 * used + 1024:
            gen = self.generation
            self.entries = {k: v for k, v in self.entries.items() if v[2] == gen}


_cache: dict[tuple[str, str, str], _RuleCache] = {}


def clear_cache() -> None:
    """Forget every cached rule parse (for benchmarks and tests)."""
    _cache.clear()
    _shapes.clear()


def _cache_for(context: tuple[str, str, str]) -> _RuleCache:
    cache = _cache.pop(context, None) or _RuleCache()
    _cache[context] = cache  # most recently used last
    while len(_cache) > _CACHED_CONTEXTS:
        del _cache[next(iter(_cache))]
    cache.generation += 1
    return cache


def parse_iptables_save(text: str, source: str, family: str = "ip") -> list[Table]:
    """Parse `iptables-save [-c]` (or `ip6tables-save`) output into one Table per `*table` block.

    `source` says where it came from ("iptables-nft", "iptables-legacy"); `family` is "ip" or "ip6".
    Raises IptablesSaveError (a ValueError) for text that is not iptables-save output.
    """
    if not isinstance(text, str):
        raise IptablesSaveError(f"expected text, got {type(text).__name__}")
    if not text.isascii():
        try:
            text.encode("utf-8")
        except UnicodeEncodeError as exc:
            lineno = text.count("\n", 0, exc.start) + 1
            raise IptablesSaveError(f"line {lineno}: not text (a lone surrogate)") from None
    with gc_paused():
        return _parse_save(text, source, family)


def _parse_save(text: str, source: str, family: str) -> list[Table]:
    tables: list[Table] = []
    name: str | None = None
    chains: dict[str, Chain] = {}
    rules: dict[str, list[Rule]] = {}
    chain_names: set[str] = set()
    cache = _RuleCache()
    entries = cache.entries
    generation = 0
    used = 0
    targets: dict[tuple[str | None, bool, tuple[str, ...]], tuple[Target | None, bool]] = {}
    rule_line = _RULE_LINE.fullmatch
    shaped = _shapes.parse

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
        cache.trim(used)

    for lineno, line in enumerate(text.split("\n"), 1):
        stripped = line.strip(" \t\r")
        if not stripped:
            continue
        m = rule_line(stripped)
        if m is not None:  # the common `[packets:bytes] -A ...` line
            packets, bytes_, body = int(m[1]), int(m[2]), m[3]
        else:
            first = stripped[0]
            if first == "#":
                continue
            if first == "*":
                finish()
                name, chains, rules, chain_names = stripped[1:].strip(" \t"), {}, {}, set()
                targets = {}
                cache = _cache_for((source, family, name))
                entries, generation, used = cache.entries, cache.generation, 0
                continue
            if stripped == "COMMIT":
                finish()
                name = None
                continue
            if name is None:
                raise IptablesSaveError(f"line {lineno}: {stripped[:40]!r} outside a *table block")
            if first == ":":
                cname, policy, packets, bytes_ = _chain_line(stripped, lineno)
                chains[cname] = Chain(
                    name=cname, policy=policy, packets=packets, bytes=bytes_, builtin=policy is not None
                )
                chain_names.add(cname)
                targets = {}
                continue
            packets = bytes_ = 0
            body = stripped
            if first == "[" and (c := _COUNTERS.match(stripped)):
                packets, bytes_ = _counter(c.group(1), lineno), _counter(c.group(2), lineno)
                body = stripped[c.end() :].lstrip(" \t")
            if not body.startswith(("-A ", "--append ")):
                raise IptablesSaveError(f"line {lineno}: unexpected {body[:40]!r}")
        if name is None:
            raise IptablesSaveError(f"line {lineno}: {stripped[:40]!r} outside a *table block")
        entry = entries.get(body)
        if entry is None:
            parsed = shaped(body)
            if parsed is None:
                words, quoted = split_words(body)
                parsed = _parse_words(words, quoted, body)
            entry = entries[body] = [parsed, (parsed.target, parsed.goto, parsed.target_args), generation]
        elif entry[2] != generation:
            entry[2] = generation
        used += 1
        parsed, target_key = entry[0], entry[1]
        chain = parsed[0]
        if chain not in chains:
            chains[chain] = Chain(name=chain)
            chain_names.add(chain)
            targets = {}
        made = targets.get(target_key)
        if made is None:
            made = targets[target_key] = make_target(
                parsed.target, parsed.goto, parsed.target_args, chain_names
            )
        chain_rules = rules.get(chain)
        if chain_rules is None:
            chain_rules = rules[chain] = []
        chain_rules.append(
            Rule(
                table=name,
                chain=chain,
                position=len(chain_rules) + 1,
                text=body,
                matches=list(parsed[1]),
                target=made[0],
                packets=packets,
                bytes=bytes_,
                comment=parsed[5],
                unknown=parsed[6] or not made[1],
            )
        )
    finish()
    return tables
